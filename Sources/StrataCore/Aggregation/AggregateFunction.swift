/// What an aggregate computes over the events of its window.
///
/// Every function reads one field of the events whose event time is in the window
/// (`T - window < eventTime <= T`, see `AggregationSource.value(of:at:knownAt:)`):
///
/// | function | field types        | result type         | no value in the window |
/// |----------|--------------------|---------------------|------------------------|
/// | count    | any                | INT                 | 0 (PRESENT)            |
/// | sum      | FLOAT, INT         | the field type      | 0 (PRESENT)            |
/// | avg      | FLOAT, INT         | FLOAT               | MISSING                |
/// | min, max | FLOAT, INT, STRING | the field type      | MISSING                |
/// | last     | FLOAT, INT, STRING | the field type      | MISSING                |
///
/// Nulls: `count` counts events, so an event whose field is null (or absent) counts like any other;
/// every other function ignores null values (avg divides by the number of non-null values; `last` is
/// the latest non-null value; a window with only nulls has sum 0 and MISSING avg/min/max/last).
public enum AggregateFunction: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
  /// The number of events in the window, null values included.
  case count
  /// The exact sum of the non-null values: for INT the exact integer (an `overflow` result when it
  /// is outside Int64), for FLOAT the exact real sum rounded once to the nearest double, ties to
  /// even (an `overflow` result beyond the finite doubles). Independent of order and grouping.
  /// See `ExactSum`.
  case sum
  /// The exact sum of the non-null values divided by their number, rounded once to the nearest
  /// double, ties to even (`ExactSum.quotient(dividingBy:)`). A FLOAT for INT fields too; never
  /// overflows.
  case avg
  /// The smallest non-null value: numeric order for INT, IEEE 754 totalOrder for FLOAT (so -0.0 is
  /// below +0.0, and the result never depends on the order of equal values), byte-wise order of the
  /// UTF-8 encoding for STRING (not Unicode collation, not UTF-16 order).
  case min
  /// The greatest non-null value, in the same orders as `min`.
  case max
  /// The non-null value of the latest event: the greatest event time, then the greatest created
  /// time (ingest time), then the greatest sequence (write id), the same total order that picks the
  /// winning row of a point-in-time read (`StoredRow.supersedes`).
  case last

  /// Parses the lowercase name (`count`, `sum`, `avg`, `min`, `max`, `last`), case-insensitively.
  public init?(name: String) {
    self.init(rawValue: name.lowercased())
  }

  public var description: String { rawValue }

  /// Whether this function is defined on fields of `fieldType`: sum and avg need a number.
  public func accepts(_ fieldType: AggregateFieldType) -> Bool {
    switch self {
    case .sum, .avg: fieldType != .string
    case .count, .min, .max, .last: true
    }
  }

  /// The type of the result over a field of `fieldType` (assumes `accepts(fieldType)`).
  public func resultType(for fieldType: AggregateFieldType) -> AggregateFieldType {
    switch self {
    case .count: .int
    case .avg: .float
    case .sum, .min, .max, .last: fieldType
    }
  }
}
