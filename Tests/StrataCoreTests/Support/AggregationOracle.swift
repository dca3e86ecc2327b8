import Testing

@testable import StrataCore

/// Brute-force answers for windowed aggregates, written independently of the tiled read: a linear
/// filter of the raw events, Int128 for INT sums, Shewchuk's `math.fsum` for FLOAT sums, a total-order
/// key for FLOAT min/max, UTF-8 arrays for STRING min/max, and for avg a direct check that the
/// answer is the correctly rounded mean (`checkMean`).
enum AggregationOracle {
  /// The events of the window `time - window < eventTime <= time` known at `knownAt`.
  static func eventsInWindow(
    _ events: [AggregationEvent], window: AggregationWindow, at time: Timestamp, knownAt: Timestamp?
  ) -> [AggregationEvent] {
    let low = Int128(time.microseconds) - Int128(window.microseconds)
    return events.filter { e in
      Int128(e.eventTime.microseconds) > low && e.eventTime <= time && (knownAt.map { e.createdTime <= $0 } ?? true)
    }
  }

  /// What the oracle expects of one function over the events of one window.
  enum Expected {
    case exactly(AggregateResult)
    /// The correctly rounded mean of these (non-null) values; check with `checkMean`.
    case mean([FeatureValue])
  }

  static func expected(_ function: AggregateFunction, fieldType: AggregateFieldType, events: [AggregationEvent]) -> Expected {
    let values = events.compactMap(\.value)
    switch function {
    case .count:
      return .exactly(.present(.int(Int64(events.count))))
    case .sum:
      switch fieldType {
      case .int:
        let total = values.reduce(Int128(0)) { acc, v in
          guard case .int(let x) = v else { fatalError("oracle: INT field with \(v)") }
          return acc + Int128(x)
        }
        return .exactly(Int64(exactly: total).map { .present(.int($0)) } ?? .overflow)
      case .float:
        let xs = values.map { v -> Double in
          guard case .float(let x) = v else { fatalError("oracle: FLOAT field with \(v)") }
          return x
        }
        guard let s = fsum(xs) else { fatalError("oracle: fsum overflowed; the generator must keep sums finite") }
        return .exactly(.present(.float(s)))
      case .string:
        fatalError("oracle: no sum of strings")
      }
    case .avg:
      return values.isEmpty ? .exactly(.missing) : .mean(values)
    case .min, .max:
      guard var best = values.first else { return .exactly(.missing) }
      for v in values.dropFirst() {
        let below = orderKey(v) < orderKey(best)
        if function == .min ? below : orderKey(best) < orderKey(v) { best = v }
      }
      return .exactly(.present(best))
    case .last:
      var best: AggregationEvent?
      for e in events where e.value != nil {
        if let b = best,
          (e.eventTime, e.createdTime, e.sequence) <= (b.eventTime, b.createdTime, b.sequence)
        {
          continue
        }
        best = e
      }
      return .exactly(best.flatMap(\.value).map { .present($0) } ?? .missing)
    }
  }

  /// A sortable key: numbers by value (FLOAT by IEEE totalOrder via its bit pattern), strings by bytes.
  enum OrderKey: Comparable {
    case number(Int128)
    case bytes([UInt8])

    static func < (a: OrderKey, b: OrderKey) -> Bool {
      switch (a, b) {
      case (.number(let x), .number(let y)): return x < y
      case (.bytes(let x), .bytes(let y)): return x.lexicographicallyPrecedes(y)
      default: fatalError("oracle: mixed kinds")
      }
    }
  }

  static func orderKey(_ v: FeatureValue) -> OrderKey {
    switch v {
    case .int(let x): return .number(Int128(x))
    case .float(let x):
      // totalOrder: flip all bits of negatives, set the sign bit of positives; then unsigned order.
      let b = x.bitPattern
      return .number(Int128(b >> 63 == 1 ? ~b : b | (1 << 63)))
    case .string(let s): return .bytes(Array(s.utf8))
    case .embedding: fatalError("oracle: embeddings are not aggregated")
    }
  }

  /// Whether `result` is `.present(.float(r))` with r the mean of `values` rounded to nearest, ties
  /// to even: with p and q the neighbours of r, `n(p + r) <= 2S <= n(r + q)`, an equality only when
  /// r's last significand bit is 0; a zero r is negative exactly when S is.
  static func checkMean(_ result: AggregateResult, of values: [FeatureValue]) -> Bool {
    guard case .present(.float(let r)) = result else { return false }
    let n = values.count
    var twiceSum = ExactSum()
    for v in values {
      switch v {
      case .float(let x):
        twiceSum.add(x)
        twiceSum.add(x)
      case .int(let x):
        twiceSum.add(x)
        twiceSum.add(x)
      default: return false
      }
    }
    func times(_ a: Double, _ b: Double) -> ExactSum {
      var s = ExactSum()
      for _ in 0..<n {
        s.add(a)
        s.add(b)
      }
      return s
    }
    func compare(_ a: ExactSum, _ b: ExactSum) -> Int {
      var d = a
      d.subtract(b)
      return d.isZero ? 0 : (d.isNegative ? -1 : 1)
    }
    if r == 0 {
      let zeroIsRight = twiceSum.isZero ? r.sign == .plus : (r.sign == .minus) == twiceSum.isNegative
      guard zeroIsRight else { return false }
    }
    let even = r.significandBitPattern & 1 == 0
    let lowerBound = compare(times(r.nextDown, r), twiceSum)  // must be <= 0
    let upperBound = compare(twiceSum, times(r, r.nextUp))  // must be <= 0
    return (lowerBound < 0 || (lowerBound == 0 && even)) && (upperBound < 0 || (upperBound == 0 && even))
  }

  /// Shewchuk's algorithm as CPython's `math.fsum`: the correctly rounded sum (ties to even), or nil
  /// when an intermediate sum overflows.
  static func fsum(_ xs: [Double]) -> Double? {
    var partials: [Double] = []
    for value in xs {
      var x = value
      var i = 0
      for j in partials.indices {
        var y = partials[j]
        if abs(x) < abs(y) { swap(&x, &y) }
        let hi = x + y
        let lo = y - (hi - x)
        if lo != 0 {
          partials[i] = lo
          i += 1
        }
        x = hi
      }
      guard x.isFinite else { return nil }
      partials.removeSubrange(i...)
      partials.append(x)
    }
    var n = partials.count
    guard n > 0 else { return 0 }
    n -= 1
    var hi = partials[n]
    var lo = 0.0
    while n > 0 {
      let x = hi
      n -= 1
      let y = partials[n]
      hi = x + y
      let yr = hi - x
      lo = y - yr
      if lo != 0 { break }
    }
    if n > 0 && ((lo < 0 && partials[n - 1] < 0) || (lo > 0 && partials[n - 1] > 0)) {
      let y = lo * 2
      let x = hi + y
      let yr = x - hi
      if y == yr { hi = x }
    }
    // The exact zero is +0.0 (fsum of [-0.0] is -0.0 in Python; Strata's rule is +0.0).
    return hi == 0 ? 0 : hi
  }

  /// Bit-for-bit equality: FLOAT by bit pattern, STRING by UTF-8 bytes (Swift's `==` on String
  /// identifies canonically equivalent strings, and `==` on Double identifies -0.0 and +0.0).
  static func sameBits(_ a: AggregateResult, _ b: AggregateResult) -> Bool {
    switch (a, b) {
    case (.present(let x), .present(let y)): return sameBits(x, y)
    case (.missing, .missing), (.overflow, .overflow): return true
    default: return false
    }
  }

  static func sameBits(_ x: FeatureValue, _ y: FeatureValue) -> Bool {
    switch (x, y) {
    case (.float(let a), .float(let b)): return a.bitPattern == b.bitPattern
    case (.string(let a), .string(let b)): return Array(a.utf8) == Array(b.utf8)
    default: return x == y
    }
  }

  /// Whether `result` is what `expected` says.
  static func matches(_ result: AggregateResult, _ expected: Expected) -> Bool {
    switch expected {
    case .exactly(let e): return sameBits(result, e)
    case .mean(let values): return checkMean(result, of: values)
    }
  }
}
