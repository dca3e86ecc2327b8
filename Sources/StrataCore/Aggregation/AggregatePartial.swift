/// The partial aggregate of a set of events of one field: everything every `AggregateFunction` needs,
/// combinable exactly. A tile stores one; a read merges tiles and raw events into one and then asks it
/// for the function's result.
///
/// `add` and `merge` form a commutative monoid whose results are exact: the partial of a set of
/// events is the same value (the same `==`, the same bytes, the same results bit for bit) however the
/// set is split into tiles and in whatever order its parts are added or merged. That is what makes an
/// online read, an offline export and the brute-force oracle agree exactly:
/// - counts are integers;
/// - the sum is an `ExactSum` (no rounding until `result`);
/// - min and max use a total order on values (totalOrder for FLOAT, byte-wise UTF-8 for STRING), so
///   the choice among equal values never depends on order;
/// - last keeps the event latest in the event order (event time, created time, sequence), which is
///   total on distinct events.
///
/// Each distinct event must be added once: a partial is not idempotent (adding a duplicate counts it
/// twice); deduplicate on the event's (event time, created time, sequence) first, as
/// `AggregationState.insert` does.
///
/// The created-time bounds of the events (nulls included) let a `knownAt` read use a tile whole
/// (all its events were known), skip it (none was) or split it (see `AggregationSource`).
public struct AggregatePartial: Hashable, Sendable {
  /// The type of the field every added value has.
  public let fieldType: AggregateFieldType
  /// Events added, null values included (what `count` returns).
  public private(set) var eventCount: Int64 = 0
  /// Non-null values added (what `avg` divides by).
  public private(set) var valueCount: Int64 = 0
  /// The exact sum of the non-null values (zero for STRING fields).
  public private(set) var sum = ExactSum()
  /// The smallest and greatest non-null value in `AggregateFunction.min`'s order; nil without one.
  public private(set) var minimum: FeatureValue?
  public private(set) var maximum: FeatureValue?
  /// The latest event with a non-null value; nil without one.
  public private(set) var latest: AggregationEvent?
  /// The smallest and greatest created time of the events added (nulls included); nil when empty.
  public private(set) var minCreatedTime: Timestamp?
  public private(set) var maxCreatedTime: Timestamp?

  /// The empty partial (no events).
  public init(fieldType: AggregateFieldType) {
    self.fieldType = fieldType
  }

  /// A partial from its parts, which the caller must make consistent, as adding the events would:
  /// `AggregatePartial+Codec` checks decoded parts first; `HistoryImage` computes them from its
  /// columns (a test compares that with `add`).
  package init(
    fieldType: AggregateFieldType, eventCount: Int64, valueCount: Int64, sum: ExactSum, minimum: FeatureValue?,
    maximum: FeatureValue?, latest: AggregationEvent?, minCreatedTime: Timestamp?, maxCreatedTime: Timestamp?
  ) {
    self.fieldType = fieldType
    self.eventCount = eventCount
    self.valueCount = valueCount
    self.sum = sum
    self.minimum = minimum
    self.maximum = maximum
    self.latest = latest
    self.minCreatedTime = minCreatedTime
    self.maxCreatedTime = maxCreatedTime
  }

  public var isEmpty: Bool { eventCount == 0 }

  /// Adds one event. Its value must be accepted by `fieldType` (validate events when they are
  /// written, `AggregateFieldType.validate`); a mismatch traps.
  public mutating func add(_ event: AggregationEvent) {
    precondition(fieldType.accepts(event.value), "a \(fieldType) aggregate got \(String(describing: event.value))")
    eventCount += 1
    minCreatedTime = minCreatedTime.map { Swift.min($0, event.createdTime) } ?? event.createdTime
    maxCreatedTime = maxCreatedTime.map { Swift.max($0, event.createdTime) } ?? event.createdTime
    guard let value = event.value else { return }
    valueCount += 1
    switch value {
    case .float(let x): sum.add(x)
    case .int(let x): sum.add(x)
    default: break
    }
    if minimum.map({ Self.precedes(value, $0) }) ?? true { minimum = value }
    if maximum.map({ Self.precedes($0, value) }) ?? true { maximum = value }
    if latest.map({ event.isLater(than: $0) }) ?? true { latest = event }
  }

  /// Adds every event of `other` (which must be of the same field type and share no event with self).
  public mutating func merge(_ other: AggregatePartial) {
    precondition(fieldType == other.fieldType, "merging a \(other.fieldType) partial into a \(fieldType) one")
    guard !other.isEmpty else { return }
    eventCount += other.eventCount
    valueCount += other.valueCount
    sum.add(other.sum)
    minCreatedTime = Self.pick(minCreatedTime, other.minCreatedTime, Swift.min)
    maxCreatedTime = Self.pick(maxCreatedTime, other.maxCreatedTime, Swift.max)
    if let m = other.minimum, minimum.map({ Self.precedes(m, $0) }) ?? true { minimum = m }
    if let m = other.maximum, maximum.map({ Self.precedes($0, m) }) ?? true { maximum = m }
    if let l = other.latest, latest.map({ l.isLater(than: $0) }) ?? true { latest = l }
  }

  /// The value of `function` over the events added (see `AggregateFunction` for each function's
  /// semantics, `AggregateResult` for the cases). `function` must accept `fieldType`.
  public func result(_ function: AggregateFunction) -> AggregateResult {
    precondition(function.accepts(fieldType), "\(function) is not defined on \(fieldType) fields")
    switch function {
    case .count:
      return .present(.int(eventCount))
    case .sum:
      if fieldType == .int {
        return sum.int64Value().map { .present(.int($0)) } ?? .overflow
      }
      return sum.rounded().map { .present(.float($0)) } ?? .overflow
    case .avg:
      guard valueCount > 0 else { return .missing }
      return .present(.float(sum.quotient(dividingBy: valueCount)))
    case .min:
      return minimum.map { .present($0) } ?? .missing
    case .max:
      return maximum.map { .present($0) } ?? .missing
    case .last:
      return latest?.value.map { .present($0) } ?? .missing
    }
  }

  /// The strict order of min and max on values of one field type: numeric for INT, IEEE 754
  /// totalOrder for FLOAT (-0.0 < +0.0), byte-wise on the UTF-8 encoding for STRING.
  public static func precedes(_ a: FeatureValue, _ b: FeatureValue) -> Bool {
    switch (a, b) {
    case (.int(let x), .int(let y)):
      return x < y
    case (.float(let x), .float(let y)):
      return x.isTotallyOrdered(belowOrEqualTo: y) && x.bitPattern != y.bitPattern
    case (.string(let x), .string(let y)):
      return x.utf8.lexicographicallyPrecedes(y.utf8)
    default:
      preconditionFailure("min/max compare values of one scalar type, got \(a.kindName) and \(b.kindName)")
    }
  }

  private static func pick(_ a: Timestamp?, _ b: Timestamp?, _ f: (Timestamp, Timestamp) -> Timestamp) -> Timestamp? {
    guard let a else { return b }
    guard let b else { return a }
    return f(a, b)
  }
}
