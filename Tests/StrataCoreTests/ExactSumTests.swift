import StrataTestSupport
import Testing

@testable import StrataCore

private func sum(_ xs: [Double]) -> ExactSum {
  var s = ExactSum()
  for x in xs { s.add(x) }
  return s
}

private func sum(ints xs: [Int64]) -> ExactSum {
  var s = ExactSum()
  for x in xs { s.add(x) }
  return s
}

private func bits(_ x: Double?) -> UInt64? { x?.bitPattern }

@Suite("ExactSum: exact, order-independent sums rounded once")
struct ExactSumTests {
  @Test(
    "known sums round correctly (ties to even), whatever naive addition would give",
    arguments: [
      ([0.1, 0.2, 0.3], 0.6),  // naive left-to-right: 0.6000000000000001
      ([1e100, 1.0, -1e100], 1.0),  // naive: 0
      ([1e308, 1e308, -1e308], 1e308),  // the intermediate 2e308 overflows a double, not the sum
      ([1.0, 0x1p-53], 1.0),  // exactly halfway between 1 and nextUp(1): ties to the even 1.0
      ([1.0, 0x1p-53, 0x1p-1074], (1.0).nextUp),  // just above halfway: up
      ([(1.0).nextUp, 0x1p-53], (1.0).nextUp.nextUp),  // halfway from an odd significand: up to even
      ([0x1p-1074, 0x1p-1074, 0x1p-1074], 3 * Double.leastNonzeroMagnitude),  // subnormals add exactly
      ([0x1p-1022, -0x1p-1074], (0x1p-1022).nextDown),  // across the normal/subnormal border
      ([Double.greatestFiniteMagnitude, -Double.greatestFiniteMagnitude, Double.leastNonzeroMagnitude], Double.leastNonzeroMagnitude),
      ([-0.0, -0.0], 0.0),  // an exact zero is +0.0
      ([], 0.0),
      ([-2.5, 0.5, -1.0], -3.0),
    ])
  func knownSums(inputs: [Double], expected: Double) {
    let s = sum(inputs)
    #expect(bits(s.rounded()) == expected.bitPattern, "sum of \(inputs): \(String(describing: s.rounded()))")
    #expect(bits(sum(inputs.reversed()).rounded()) == expected.bitPattern)
  }

  @Test("a FLOAT sum beyond the finite doubles is nil (overflow); exactly at the rounding threshold too")
  func floatOverflow() {
    let max = Double.greatestFiniteMagnitude
    #expect(sum([max, max]).rounded() == nil)
    #expect(sum([-max, -max]).rounded() == nil)
    // max + half an ulp of max (2^970) is the threshold that rounds to infinity (ties to even, and
    // max's significand is odd); just below it rounds to max.
    #expect(sum([max, 0x1p970]).rounded() == nil)
    #expect(bits(sum([max, 0x1p969]).rounded()) == max.bitPattern)
    #expect(bits(sum([max, 0x1p970, -0x1p-1074]).rounded()) == max.bitPattern)
    // Back in range after the overflow.
    #expect(sum([max, max, -max]).rounded() == max)
  }

  @Test("INT sums are exact in Int64 and report overflow only for the final sum")
  func intSums() {
    #expect(sum(ints: [Int64.max, 1, -1]).int64Value() == Int64.max)
    #expect(sum(ints: [Int64.max, 1]).int64Value() == nil)
    #expect(sum(ints: [Int64.min, -1]).int64Value() == nil)
    #expect(sum(ints: [Int64.min]).int64Value() == Int64.min)
    #expect(sum(ints: [Int64.min, Int64.min, Int64.max, Int64.max, 2]).int64Value() == 0)
    #expect(sum(ints: [Int64.max, Int64.max, Int64.min]).int64Value() == Int64.max - 1)
    #expect(sum(ints: []).int64Value() == 0)
    #expect(sum(ints: [-3, 5, -7]).int64Value() == -5)
    // A sum of doubles with a fractional part is not an Int64.
    #expect(sum([0.5]).int64Value() == nil)
    #expect(sum([2.0]).int64Value() == 2)
  }

  @Test("quotient matches IEEE division wherever the sum is one double (IEEE division rounds correctly)")
  func quotientMatchesIEEE() {
    var rng = SplitMix64.forTest("ExactSum.quotientMatchesIEEE")
    let seed = rng.seedDescription
    for i in 0..<4_000 {
      let x: Double
      switch i % 4 {
      case 0: x = Double(bitPattern: rng.next() & ~(0x7ff << 52) | (UInt64(rng.below(2046) + 1) << 52))  // any normal
      case 1: x = Double(bitPattern: rng.next() & ((1 << 52) - 1))  // subnormal (or zero)
      case 2: x = Double(Int64(truncatingIfNeeded: rng.next()) >> rng.below(60))
      default: x = Double(rng.below(2_000) - 1_000) / 8
      }
      let n: Int64 =
        switch rng.below(8) {
        case 0, 1: Int64(rng.below(1 << 20) + 1)
        case 2: Int64(rng.next() >> 11) + 1  // up to 2^53: Double(n) is still exact
        default: Int64(rng.below(7) + 1)
        }
      let got = sum([x]).quotient(dividingBy: n)
      let want = x / Double(n)
      let wantBits = (want == 0 && x == 0) ? 0.0.bitPattern : want.bitPattern  // zero sum: +0.0
      guard got.bitPattern == wantBits else {
        Issue.record("\(x) / \(n): got \(got), IEEE \(want); \(seed)")
        return
      }
      // Int64 sums below 2^53 convert exactly, so IEEE division is the oracle for them too.
      let k = Int64(truncatingIfNeeded: rng.next()) >> 11
      let intGot = sum(ints: [k]).quotient(dividingBy: n)
      let intWant = Double(k) / Double(n)
      guard intGot.bitPattern == (k == 0 ? 0.0.bitPattern : intWant.bitPattern) else {
        Issue.record("\(k) / \(n): got \(intGot), IEEE \(intWant); \(seed)")
        return
      }
    }
  }

  @Test("quotient of sums no double can hold is the correctly rounded mean (bracket check)")
  func quotientOfWideSums() {
    var rng = SplitMix64.forTest("ExactSum.quotientOfWideSums")
    let seed = rng.seedDescription
    for _ in 0..<300 {
      let values: [FeatureValue] = (0..<(rng.below(12) + 1)).map { _ in
        switch rng.below(4) {
        case 0: .float(Double(rng.below(1_000)) * 0x1p-1074)
        case 1: .float(Double(Int64(truncatingIfNeeded: rng.next()) >> 10) * 0x1p300)
        case 2: .float(1.0 + Double(rng.below(1 << 20)) * 0x1p-60)
        default: .float(-Double(rng.below(1 << 30)) * 0x1p-40)
        }
      }
      var s = ExactSum()
      for case .float(let x) in values { s.add(x) }
      let mean = s.quotient(dividingBy: Int64(values.count))
      guard AggregationOracle.checkMean(.present(.float(mean)), of: values) else {
        Issue.record("mean of \(values) = \(mean) is not correctly rounded; \(seed)")
        return
      }
    }
    // Means that are exactly halfway between two doubles round to the even one.
    let halfway = sum([1.0, (1.0).nextUp]).quotient(dividingBy: 2)  // (1 + (1 + 2^-52)) / 2 = 1 + 2^-53
    #expect(halfway == 1.0)
    let ints = sum(ints: [Int64.max, Int64.max]).quotient(dividingBy: 2)  // 2^63 - 1, rounds to 2^63
    #expect(ints == 0x1p63)
    #expect(sum([-0x1p-1074]).quotient(dividingBy: 3).bitPattern == (-0.0).bitPattern)
    // 2^106 / (2^53 - 1) = 2^53 + 1 + 1/(2^53 - 1): the computed quotient bits after the round bit are
    // all zero, only the remainder says the value is above the halfway point 2^53 + 1: up to 2^53 + 2.
    #expect(sum([0x1p106]).quotient(dividingBy: (1 << 53) - 1) == 0x1p53 + 2)
    #expect(sum([-0x1p106]).quotient(dividingBy: (1 << 53) - 1) == -(0x1p53 + 2))
    #expect(sum([0x1p106]).quotient(dividingBy: (1 << 53) - 1) == 0x1p106 / Double((1 << 53) - 1))
  }

  @Test("random sums equal fsum bit for bit and do not depend on order or grouping")
  func againstFsum() {
    var rng = SplitMix64.forTest("ExactSum.againstFsum")
    let seed = rng.seedDescription
    for round in 0..<600 {
      let count = rng.below(40)
      let xs: [Double] = (0..<count).map { _ in Self.randomDouble(&rng) }
      let whole = sum(xs)
      guard let want = AggregationOracle.fsum(xs) else { continue }
      guard bits(whole.rounded()) == want.bitPattern else {
        Issue.record("round \(round): sum of \(xs) = \(String(describing: whole.rounded())), fsum \(want); \(seed)")
        return
      }
      // Any permutation, split into any groups summed apart and merged in any order: the same value.
      var shuffled = xs
      shuffled.shuffle(using: &rng)
      var groups: [ExactSum] = []
      var i = 0
      while i < shuffled.count {
        let n = rng.below(5) + 1
        groups.append(sum(Array(shuffled[i..<min(i + n, shuffled.count)])))
        i += n
      }
      groups.shuffle(using: &rng)
      var merged = ExactSum()
      for g in groups { merged.add(g) }
      guard merged == whole, merged.hashValue == whole.hashValue else {
        Issue.record("round \(round): merged groups differ from the plain sum of \(xs); \(seed)")
        return
      }
      // Subtracting everything again gives exactly zero, in canonical form.
      var back = merged
      for g in groups { back.subtract(g) }
      guard back == ExactSum(), back.isZero else {
        Issue.record("round \(round): sum minus its parts is \(back); \(seed)")
        return
      }
      guard whole.isZero || bits((-whole).rounded()) == bits(whole.rounded().map { -$0 }) else {
        Issue.record("round \(round): negation is not exact; \(seed)")
        return
      }
    }
  }

  @Test("adding one value at a time (in place unless it lies below the lowest stored limb) equals merging one-value sums, limb for limb: long runs of similar magnitudes, limb boundaries, cancellation, Int64 extremes")
  func inPlaceAddsMatchMerges() {
    var rng = SplitMix64.forTest("ExactSum.inPlaceAddsMatchMerges")
    let seed = rng.seedDescription
    for round in 0..<400 {
      // A run of values around one magnitude (most adds then land inside the stored limbs), mixed
      // with values of other kinds; doubles and Int64s are summed apart (a stream field has one type).
      let scale = Double(sign: .plus, exponent: rng.below(2_000) - 1_000, significand: 1)
      let count = rng.below(300) + 1
      var one = ExactSum()
      var merged = ExactSum()
      var ints = ExactSum()
      var mergedInts = ExactSum()
      for _ in 0..<count {
        let x: Double
        switch rng.below(6) {
        case 0: x = Self.randomDouble(&rng)
        // Powers of two on and next to limb boundaries (units of 2^-1074, 64 bits per limb).
        case 1: x = Double(sign: rng.oneIn(2) ? .minus : .plus, exponent: 64 * (rng.below(32) + 1) - 1_074 + rng.below(3) - 1, significand: 1)
        default: x = Double.random(in: -1...1, using: &rng) * scale * (rng.oneIn(4) ? -1 : 1)
        }
        one.add(x)
        var single = ExactSum()
        single.add(x)
        merged.add(single)
        let n = Self.randomInt64(&rng)
        ints.add(n)
        var singleInt = ExactSum()
        singleInt.add(n)
        mergedInts.add(singleInt)
        guard one == merged, ints == mergedInts else {
          Issue.record("round \(round): adds \(one) / \(ints) differ from merges \(merged) / \(mergedInts) after \(x), \(n); \(seed)")
          return
        }
      }
      // Taking it all away again, one value at a time, ends at zero in canonical form.
      var back = one
      back.subtract(merged)
      guard back.isZero, back == ExactSum() else {
        Issue.record("round \(round): a sum minus itself is \(back); \(seed)")
        return
      }
    }
  }

  @Test("a batch equals adding its values one at a time: runs of one magnitude longer than a window's 512 values, values just inside and outside the window, subnormals, extremes, cancellation, Int64 extremes, on top of a nonzero sum")
  func batchesMatchOneByOne() {
    var rng = SplitMix64.forTest("ExactSum.batchesMatchOneByOne")
    let seed = rng.seedDescription
    for round in 0..<300 {
      let start: ExactSum = rng.oneIn(3) ? sum([Self.randomDouble(&rng)]) : ExactSum()
      var one = start
      var batch = ExactSum.Batch(start)
      var ints = ExactSum()
      var intBatch = ExactSum.Batch()
      // Around 2^exponent, 65 binary orders either way still finite and normal or subnormal.
      let exponent = rng.below(1_900) - 1_000
      let climb = round % 10 == 0
      let count = climb ? 1_500 : rng.oneIn(4) ? rng.below(3_000) : rng.below(100)
      for k in 0..<count {
        let x: Double
        switch climb ? 9 : rng.below(8) {
        // The largest terms a window takes (64 bits above its base), more than 512 of them: the
        // window must be added to the sum before it would overflow.
        case 9: x = Double(sign: .plus, exponent: k == 0 ? exponent : exponent + 32, significand: 2 - 0x1p-52)
        case 0: x = Self.randomDouble(&rng)
        // 31-33 and 63-65 binary orders from 2^exponent (a window starts 32 bits below its first
        // value and takes terms up to 64 bits above its base): around the window's edges.
        case 1: x = Double(sign: rng.oneIn(2) ? .minus : .plus, exponent: exponent + rng.element(of: [-33, -32, -31, 31, 32, 33, 63, 64, 65]), significand: 1)
        case 2: x = rng.element(of: [.greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, 0x1p-1022, -0x1p-1023])
        // The same value taken away again (cancellation in the window).
        case 3 where k > 0: x = -Double(sign: .plus, exponent: exponent, significand: 1.5)
        default: x = Double(sign: rng.oneIn(3) ? .minus : .plus, exponent: exponent, significand: 1 + Double(rng.below(1 << 20)) / Double(1 << 20))
        }
        one.add(x)
        batch.add(x)
        let n = Self.randomInt64(&rng)
        ints.add(n)
        intBatch.add(n)
      }
      let batched = batch.finish()
      let batchedInts = intBatch.finish()
      guard batched == one, batchedInts == ints else {
        Issue.record("round \(round) (\(count) values): batch \(batched) / \(batchedInts), one by one \(one) / \(ints); \(seed)")
        return
      }
    }
  }

  /// Int64s: the extremes, any bit pattern, small values of either sign.
  static func randomInt64(_ rng: inout SplitMix64) -> Int64 {
    switch rng.below(4) {
    case 0: rng.oneIn(2) ? .max : .min + Int64(rng.below(3))
    case 1: Int64(bitPattern: rng.next())
    default: Int64(rng.below(2_001)) - 1_000
    }
  }

  /// Doubles of every kind: small integers (exact ties), decimals, wide magnitudes, subnormals,
  /// signed zeros, halfway cases around 1.
  static func randomDouble(_ rng: inout SplitMix64) -> Double {
    switch rng.below(9) {
    case 0: return Double(rng.below(11) - 5)
    case 1: return rng.element(of: [0.1, 0.2, 0.3, -0.1, 0.7, 1e-3])
    case 2: return Double.random(in: -1e6...1e6, using: &rng)
    case 3: return Double(rng.below(1_000) + 1) * 0x1p-1074 * (rng.oneIn(2) ? 1 : -1)
    case 4: return Double.random(in: -1...1, using: &rng) * 0x1p290
    case 5: return rng.oneIn(2) ? 0.0 : -0.0
    case 6: return rng.element(of: [1.0, 0x1p-53, -0x1p-53, (1.0).nextUp, 0x1p-54, 3.0])
    case 7: return Double(bitPattern: rng.next() & ~(0x7ff << 52) | (UInt64(rng.below(1_900) + 80) << 52))
    default: return Double.random(in: -1...1, using: &rng) * pow10(rng.below(40) - 20)
    }
  }

  private static func pow10(_ e: Int) -> Double {
    var r = 1.0
    for _ in 0..<abs(e) { r *= 10 }
    return e < 0 ? 1 / r : r
  }
}
