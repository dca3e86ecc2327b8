public import StrataCore

/// One feature's joined values for consecutive label rows, in packed arrays (the columnar form of a
/// historical read). Building it allocates one array per column per chunk, not one object per value.
public struct ColumnBlock: Sendable, Equatable {
  /// `ValueStatus` per row: 1 PRESENT, 2 DEFAULTED, 3 MISSING, 4 EXPIRED (the wire numbering).
  public var statuses: [UInt8] = []
  /// 1 where the row has a value (stored or default), 0 for null.
  public var hasValue: [UInt8] = []
  /// Dense per row (0 / "" for null); only the array of the feature's dtype is filled.
  public var floats: [Double] = []
  public var ints: [Int64] = []
  public var strings: [String] = []
  /// `rows * dimension` floats.
  public var embeddings: [Float] = []
  /// Event time of the row each value came from, 0 when none.
  public var eventTimes: [Int64] = []

  public init() {}

  public static func code(_ status: ValueStatus) -> UInt8 {
    switch status {
    case .present: 1
    case .defaulted: 2
    case .missing: 3
    case .expired: 4
    }
  }

  /// The column of `feature` (slot `featureIndex` of `group`) for rows chosen at reference times
  /// `times` (parallel to `rows`), by the rules of `PointInTime.result`, without building a
  /// `FeatureResult` per value.
  static func build(rows: [StoredRow?], times: [Int64], group: FeatureGroup, featureIndex k: Int) -> ColumnBlock {
    let spec = group.spec.features[k]
    let dtype = spec.dtype
    let maxAge = group.maxAgeMicros
    var block = ColumnBlock()
    block.reserve(rows.count, dtype: dtype)
    let present = code(.present)
    for i in rows.indices {
      guard let row = rows[i] else {
        block.appendFallback(spec.defaultValue, status: spec.defaultValue == nil ? .missing : .defaulted, event: 0, dtype: dtype)
        continue
      }
      let event = row.eventTime.microseconds
      if let maxAge, row.eventTime < Timestamp(microseconds: times[i]).subtracting(microseconds: maxAge) {
        block.appendFallback(spec.defaultValue, status: .expired, event: event, dtype: dtype)
        continue
      }
      guard let value = row.values[k] else {
        block.appendFallback(spec.defaultValue, status: spec.defaultValue == nil ? .missing : .defaulted, event: event, dtype: dtype)
        continue
      }
      block.statuses.append(present)
      block.hasValue.append(1)
      block.eventTimes.append(event)
      block.appendValue(value, dtype: dtype)
    }
    return block
  }

  private mutating func appendFallback(_ value: FeatureValue?, status: ValueStatus, event: Int64, dtype: DType) {
    statuses.append(Self.code(status))
    eventTimes.append(event)
    if let value {
      hasValue.append(1)
      appendValue(value, dtype: dtype)
    } else {
      hasValue.append(0)
      appendNull(dtype)
    }
  }

  @inline(__always)
  private mutating func appendValue(_ value: FeatureValue, dtype: DType) {
    switch value {
    case .float(let v): floats.append(v)
    case .int(let v): ints.append(v)
    case .string(let v): strings.append(v)
    case .embedding(let v): embeddings.append(contentsOf: v)
    }
  }

  @inline(__always)
  private mutating func appendNull(_ dtype: DType) {
    switch dtype {
    case .float: floats.append(0)
    case .int: ints.append(0)
    case .string: strings.append("")
    case .embedding(let d): embeddings.append(contentsOf: repeatElement(0, count: d))
    }
  }

  mutating func reserve(_ n: Int, dtype: DType) {
    statuses.reserveCapacity(n)
    hasValue.reserveCapacity(n)
    eventTimes.reserveCapacity(n)
    switch dtype {
    case .float: floats.reserveCapacity(n)
    case .int: ints.reserveCapacity(n)
    case .string: strings.reserveCapacity(n)
    case .embedding(let d): embeddings.reserveCapacity(n * d)
    }
  }


}
