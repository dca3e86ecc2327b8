internal import StrataCore

/// Windowed reads straight from an image's columns: the partial aggregate of a run of one entity's
/// rows without making an `AggregationEvent` per row.
extension HistoryImage {
  /// The partial aggregate of field `field` (of type `fieldType`) over the rows of `rows` whose
  /// created time is at most `knownAt` (every row of `rows` when nil): the same value, `==` and bit
  /// for bit, as `AggregatePartial.add` gives for each of those rows' events in any order.
  ///
  /// `rows` must be one entity's rows, which the image keeps strictly ascending in event order
  /// (event time, created time, sequence), so the last qualifying row with a value is the latest
  /// event (`last`). Counts are integers, the sum is exact, min and max use the total order of
  /// `AggregatePartial.precedes`: nothing depends on the order the rows are visited in.
  func partial(field: Int, fieldType: AggregateFieldType, rows: Range<Int>, knownAt: Timestamp?) -> AggregatePartial {
    let column = columns[field]
    let limit = knownAt?.microseconds ?? .max
    var run = Run(limit: limit)
    var sum = ExactSum.Batch()
    var minimum: FeatureValue?
    var maximum: FeatureValue?
    switch column.values {
    case .float(let values):
      // Floats are finite (validated when written): the total order is the order of these keys.
      var low = Int64.max
      var high = Int64.min
      for r in rows where run.counts(r, created: created, column: column) {
        let x = values[r]
        sum.add(x)
        let bits = Int64(bitPattern: x.bitPattern)
        let key = bits ^ ((bits >> 63) & .max)
        low = Swift.min(low, key)
        high = Swift.max(high, key)
      }
      if run.values > 0 {
        minimum = .float(Self.float(orderKey: low))
        maximum = .float(Self.float(orderKey: high))
      }
    case .int(let values):
      var low = Int64.max
      var high = Int64.min
      for r in rows where run.counts(r, created: created, column: column) {
        let x = values[r]
        sum.add(x)
        low = Swift.min(low, x)
        high = Swift.max(high, x)
      }
      if run.values > 0 {
        minimum = .int(low)
        maximum = .int(high)
      }
    case .string(let values):
      var low: Int?
      var high: Int?
      for r in rows where run.counts(r, created: created, column: column) {
        if low.map({ values[r].utf8.lexicographicallyPrecedes(values[$0].utf8) }) ?? true { low = r }
        if high.map({ values[$0].utf8.lexicographicallyPrecedes(values[r].utf8) }) ?? true { high = r }
      }
      minimum = low.map { .string(values[$0]) }
      maximum = high.map { .string(values[$0]) }
    case .embedding:
      preconditionFailure("aggregates read FLOAT, INT or STRING fields")
    }
    let latest = run.lastValue.map { r in
      AggregationEvent(
        eventTime: Timestamp(microseconds: events[r]), createdTime: Timestamp(microseconds: created[r]), sequence: sequences[r],
        value: value(column, r))
    }
    return AggregatePartial(
      fieldType: fieldType, eventCount: run.events, valueCount: run.values, sum: sum.finish(), minimum: minimum, maximum: maximum,
      latest: latest, minCreatedTime: run.events > 0 ? Timestamp(microseconds: run.minCreated) : nil,
      maxCreatedTime: run.events > 0 ? Timestamp(microseconds: run.maxCreated) : nil)
  }

  /// The latest row (event, created, sequence) of `rows` (one entity's) with `floor <= event <= time`
  /// and, with `knownAt`, `created <= knownAt`; nil when there is none (`AggregateRows.latest` over
  /// the image's rows).
  func latest(in rows: Range<Int>, at time: Timestamp, floor: Timestamp, knownAt: Timestamp?) -> (Timestamp, Timestamp, UInt64)? {
    var r = (time == .max ? rows.upperBound : firstRow(in: rows, atOrAfter: time.microseconds + 1)) - 1
    let limit = knownAt?.microseconds ?? .max
    while r >= rows.lowerBound && events[r] >= floor.microseconds {
      if created[r] <= limit {
        return (Timestamp(microseconds: events[r]), Timestamp(microseconds: created[r]), sequences[r])
      }
      r -= 1
    }
    return nil
  }

  /// The rows of `rows` (one entity's) with event time in `first...last`.
  func rows(in rows: Range<Int>, eventTimes first: Timestamp, _ last: Timestamp) -> Range<Int> {
    let end = last == .max ? rows.upperBound : firstRow(in: rows, atOrAfter: last.microseconds + 1)
    return firstRow(in: rows.lowerBound..<end, atOrAfter: first.microseconds)..<end
  }

  /// Row `r`'s value of `column`, nil where it has none.
  private func value(_ column: Column, _ r: Int) -> FeatureValue? {
    guard column.has(r) else { return nil }
    switch column.values {
    case .float(let v): return .float(v[r])
    case .int(let v): return .int(v[r])
    case .string(let v): return .string(v[r])
    case .embedding: preconditionFailure("aggregates read FLOAT, INT or STRING fields")
    }
  }

  /// The float whose total-order key (`bits ^ ((bits >> 63) & Int64.max)`) is `key`: the key is its
  /// own inverse.
  private static func float(orderKey key: Int64) -> Double {
    Double(bitPattern: UInt64(bitPattern: key ^ ((key >> 63) & .max)))
  }

  /// The counts of a run of rows as `AggregatePartial.add` keeps them.
  private struct Run {
    let limit: Int64
    var events: Int64 = 0
    var values: Int64 = 0
    var minCreated = Int64.max
    var maxCreated = Int64.min
    /// The last row counted that has a value.
    var lastValue: Int?

    /// Counts row `r` when it was created at or before `limit`; returns whether it has a value then.
    @inline(__always)
    mutating func counts(_ r: Int, created: [Int64], column: Column) -> Bool {
      let c = created[r]
      guard c <= limit else { return false }
      events += 1
      minCreated = Swift.min(minCreated, c)
      maxCreated = Swift.max(maxCreated, c)
      guard column.has(r) else { return false }
      values += 1
      lastValue = r
      return true
    }
  }
}
