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

  /// The column of `feature` (slot `featureIndex` of `group`) for the rows chosen at reference times
  /// `times` (parallel to `rows.refs`), by the rules of `PointInTime.result`, without building a
  /// `FeatureResult` per value: a gather from the image's packed arrays, or from stored rows.
  ///
  /// Two passes: statuses, masks and event times (and where each value comes from), then the values
  /// of the feature's dtype.
  static func build(rows: ChosenRows, times: [Int64], group: FeatureGroup, featureIndex k: Int) -> ColumnBlock {
    let spec = group.spec.features[k]
    let dtype = spec.dtype
    let fallback = spec.defaultValue
    let maxAge = group.maxAgeMicros
    // An aggregate's value has no source row, so no event time (`PointInTime.result`).
    let keepsEventTime = spec.aggregation == nil
    let n = rows.refs.count
    let nullStatus = code(fallback == nil ? .missing : .defaulted)
    let expiredStatus = code(.expired)
    let presentStatus = code(.present)
    let fallbackMask: UInt8 = fallback == nil ? 0 : 1
    var block = ColumnBlock()
    block.statuses = [UInt8](repeating: nullStatus, count: n)
    block.hasValue = [UInt8](repeating: fallbackMask, count: n)
    block.eventTimes = [Int64](repeating: 0, count: n)
    // Where row i's value comes from: an image row (>= 0), the stored row (-2), or none (-1: the
    // default or null, as hasValue says).
    var source = [Int32](repeating: -1, count: n)
    let image = rows.image
    let events = image?.events ?? []
    let presentBits = image?.columns[k].present ?? []
    rows.refs.withUnsafeBufferPointer { refs in
      events.withUnsafeBufferPointer { events in
        presentBits.withUnsafeBufferPointer { bits in
          block.statuses.withUnsafeMutableBufferPointer { statuses in
            block.hasValue.withUnsafeMutableBufferPointer { hasValue in
              block.eventTimes.withUnsafeMutableBufferPointer { eventTimes in
                source.withUnsafeMutableBufferPointer { source in
                  for i in 0..<n {
                    let ref = refs[i]
                    if ref == -1 { continue }
                    let event: Int64
                    let has: Bool
                    if ref >= 0 {
                      let r = Int(ref)
                      event = events[r]
                      has = bits[r >> 6] & (1 << UInt64(r & 63)) != 0
                    } else {
                      guard let row = rows.stored[Int(-2 - ref)] else { continue }
                      event = row.eventTime.microseconds
                      has = row.values[k] != nil
                      if !has && row.overflowed.contains(k) {
                        // An aggregate that overflowed: MISSING, never the default.
                        statuses[i] = code(.missing)
                        hasValue[i] = 0
                        continue
                      }
                    }
                    if keepsEventTime { eventTimes[i] = event }
                    if let maxAge, event < Timestamp(microseconds: times[i]).subtracting(microseconds: maxAge).microseconds {
                      statuses[i] = expiredStatus
                    } else if has {
                      statuses[i] = presentStatus
                      hasValue[i] = 1
                      source[i] = ref >= 0 ? ref : -2
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    func stored(_ i: Int) -> FeatureValue? { rows.stored[Int(-2 - rows.refs[i])]?.values[k] }
    switch dtype {
    case .float:
      var all: [Double] = []
      if case .float(let v)? = image?.columns[k].values { all = v }
      let other: Double = if case .float(let d)? = fallback { d } else { 0 }
      block.floats = gather(all, source: source, hasValue: block.hasValue, fallback: other, zero: 0) { i in
        if case .float(let d)? = stored(i) { d } else { 0 }
      }
    case .int:
      var all: [Int64] = []
      if case .int(let v)? = image?.columns[k].values { all = v }
      let other: Int64 = if case .int(let d)? = fallback { d } else { 0 }
      block.ints = gather(all, source: source, hasValue: block.hasValue, fallback: other, zero: 0) { i in
        if case .int(let d)? = stored(i) { d } else { 0 }
      }
    case .string:
      var all: [String] = []
      if case .string(let v)? = image?.columns[k].values { all = v }
      let other: String = if case .string(let d)? = fallback { d } else { "" }
      block.strings = gather(all, source: source, hasValue: block.hasValue, fallback: other, zero: "") { i in
        if case .string(let d)? = stored(i) { d } else { "" }
      }
    case .embedding(let d):
      var all: [Float] = []
      if case .embedding(let v, _)? = image?.columns[k].values { all = v }
      let zeros = [Float](repeating: 0, count: d)
      let other: [Float] = if case .embedding(let e)? = fallback { e } else { zeros }
      var out: [Float] = []
      out.reserveCapacity(n * d)
      for i in 0..<n {
        let s = Int(source[i])
        if s >= 0 {
          out.append(contentsOf: all[(s * d)..<((s + 1) * d)])
        } else if s == -2, case .embedding(let e)? = stored(i) {
          out.append(contentsOf: e)
        } else {
          out.append(contentsOf: block.hasValue[i] == 1 ? other : zeros)
        }
      }
      block.embeddings = out
    }
    return block
  }

  /// One value per row: `all[source[i]]` from the image, `stored(i)` for -2, else `fallback` (the
  /// default) where the row has a value and `zero` where it is null.
  private static func gather<T>(
    _ all: [T], source: [Int32], hasValue: [UInt8], fallback: T, zero: T, stored: (Int) -> T
  ) -> [T] {
    let n = source.count
    return [T](unsafeUninitializedCapacity: n) { out, count in
      all.withUnsafeBufferPointer { all in
        source.withUnsafeBufferPointer { source in
          for i in 0..<n {
            let s = Int(source[i])
            let value: T
            if s >= 0 {
              value = all[s]
            } else if s == -2 {
              value = stored(i)
            } else {
              value = hasValue[i] == 1 ? fallback : zero
            }
            (out.baseAddress! + i).initialize(to: value)
          }
        }
      }
      count = n
    }
  }
}

/// The row that answers each label of a chunk for one group version: `refs[i] >= 0` is row `refs[i]`
/// of `image`, `-1` is no row, and `r <= -2` is `stored[-2 - r]` (a row read from storage).
struct ChosenRows: Sendable {
  var image: HistoryImage?
  var refs: [Int32]
  var stored: [StoredRow?]

  /// Every label answered by a stored row (or nil): the form without an image.
  init(stored: [StoredRow?]) {
    image = nil
    refs = stored.indices.map { Int32(-2 - $0) }
    self.stored = stored
  }

  init(image: HistoryImage?, refs: [Int32], stored: [StoredRow?]) {
    self.image = image
    self.refs = refs
    self.stored = stored
  }
}
