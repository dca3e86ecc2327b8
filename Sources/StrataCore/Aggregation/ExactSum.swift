/// The exact sum of finite doubles or of Int64s: a fixed-point integer in units of 2^-1074 (the
/// smallest subnormal double), so that every finite double and every Int64 is an integer number of
/// units and every sum of them is exact.
///
/// Because the sum is exact, it does not depend on the order or the grouping of the additions:
/// summing events one by one, summing tiles of events and merging them, online or offline, in any
/// order, gives the same `ExactSum` (and the same bytes, `AggregatePartial+Codec`), and the same
/// result after the single final rounding. This is a long ("Kulisch") accumulator; it is not
/// Shewchuk's partials (`math.fsum`), whose intermediate sums can overflow, but it yields the same
/// correctly rounded result wherever fsum does.
///
/// Results:
/// - `rounded()`: the exact sum rounded once to the nearest double, ties to even; nil when that is
///   beyond the finite doubles (|sum| >= 2^1024 - 2^970). A sum that is exactly zero is +0.0
///   (also for -0.0 + -0.0: the sign of zero inputs is not kept).
/// - `int64Value()`: the sum of Int64s as an Int64, or nil outside Int64. Intermediate values may
///   leave the Int64 range: only the final sum counts (Int64.max + 1 - 1 is Int64.max).
/// - `quotient(dividingBy: n)`: the exact sum divided by `n`, rounded once to the nearest double,
///   ties to even (never beyond the finite doubles when `n` counts the summands). A negative
///   quotient that rounds to zero is -0.0, as in IEEE 754.
///
/// Inputs must be finite (Strata never stores NaN or infinities); `add(_:)` traps on a non-finite one.
///
/// Representation: two's complement, little-endian 64-bit limbs, stored only from the lowest nonzero
/// limb (`base`, counted in limbs from unit 2^-1074) to the last limb that is not a pure sign
/// extension; above it the value continues with copies of its top bit. This form is unique for each
/// value (so `==` is value equality and the encoding is canonical) and small: a sum of doubles of
/// similar magnitude takes 2 or 3 limbs, the widest possible sum 35 (2^-1074 ... 2^1024 times 2^63
/// summands). Adding costs O(limbs of the two operands).
public struct ExactSum: Hashable, Sendable {
  /// Bit 0 of limb `base` has weight 2^(64 * base - 1074).
  @usableFromInline internal private(set) var base: Int
  /// Two's complement, least significant first; empty for zero.
  @usableFromInline internal private(set) var limbs: [UInt64]

  /// The unit bit of an integer: 2^0 is bit 1074 of the accumulator.
  static let integerBit = 1074

  /// Zero.
  public init() {
    base = 0
    limbs = []
  }

  /// A value from its stored form, or nil when the form is not canonical (see the type's doc).
  init?(base: Int, limbs: [UInt64]) {
    guard Self.isCanonical(limbs), limbs.isEmpty ? base == 0 : base >= 0 else { return nil }
    self.base = base
    self.limbs = limbs
  }

  public var isZero: Bool { limbs.isEmpty }

  /// Whether the sum is below zero.
  public var isNegative: Bool { (limbs.last ?? 0) >> 63 == 1 }

  /// Adds a finite double exactly.
  public mutating func add(_ x: Double) {
    precondition(x.isFinite, "ExactSum adds finite doubles only, got \(x)")
    guard x != 0 else { return }
    let (mantissa, bit) = Self.parts(of: x)
    addMagnitude(mantissa, atBit: bit, negative: x.sign == .minus)
  }

  /// A finite double's magnitude as `mantissa * 2^(bit - 1074)`, the mantissa below 2^53 (subnormals
  /// at bit 0).
  @inlinable
  static func parts(of x: Double) -> (mantissa: UInt64, bit: Int) {
    let exponent = Int(x.exponentBitPattern)
    return exponent == 0 ? (x.significandBitPattern, 0) : (x.significandBitPattern | (1 << 52), exponent - 1)
  }

  /// Adds an Int64 exactly.
  public mutating func add(_ x: Int64) {
    guard x != 0 else { return }
    addMagnitude(x.magnitude, atBit: Self.integerBit, negative: x < 0)
  }

  /// Adds another exact sum (merging two partial sums).
  public mutating func add(_ other: ExactSum) {
    guard !other.isZero else { return }
    let fill: UInt64 = other.isNegative ? ~0 : 0
    other.limbs.withUnsafeBufferPointer { o in
      addAligned(base: other.base, count: o.count, fill: fill) { o[$0] }
    }
  }

  /// The negated sum (exact).
  public static prefix func - (x: ExactSum) -> ExactSum {
    var r = ExactSum()
    r.subtract(x)
    return r
  }

  /// Subtracts another exact sum.
  public mutating func subtract(_ other: ExactSum) {
    guard !other.isZero else { return }
    // -other = ~other + 1, limb by limb over other's limbs, then the complement of its fill above.
    var negated = other.limbs.map { ~$0 }
    for i in negated.indices {
      let (v, carry) = negated[i].addingReportingOverflow(1)
      negated[i] = v
      if !carry { break }
    }
    // other != 0 and its lowest limb is nonzero, so the +1 never carries out of the stored limbs.
    let fill: UInt64 = other.isNegative ? 0 : ~0
    negated.withUnsafeBufferPointer { o in
      addAligned(base: other.base, count: o.count, fill: fill) { o[$0] }
    }
  }

  // MARK: - Results

  /// The sum rounded once to the nearest double, ties to even; +0.0 for zero; nil when the rounded
  /// value is beyond the finite doubles.
  public func rounded() -> Double? {
    guard !isZero else { return 0 }
    let negative = isNegative
    return Self.round(magnitude: magnitude(), base: base, sticky: false, negative: negative)
  }

  /// The sum as an Int64 when it is an integer in Int64's range, else nil. Sums of Int64s are
  /// always integers, so nil means the sum overflowed.
  public func int64Value() -> Int64? {
    guard !isZero else { return 0 }
    // No fractional bits.
    guard !Self.anyBitSet(in: limbs, base: base, below: Self.integerBit) else { return nil }
    let value = UInt64(truncatingIfNeeded: twosComplementBits(from: Self.integerBit))
    // Every bit from the Int64's sign bit upward must equal the sign of the whole sum.
    let signBit = Self.integerBit + 63
    let fill: UInt64 = isNegative ? ~0 : 0
    guard (value >> 63 == 1) == isNegative else { return nil }
    let top = base + limbs.count - 1
    var limb = Self.floorDiv(signBit, 64)
    while limb <= top {
      var word = limbValue(at: limb)
      var expected = fill
      if limb == Self.floorDiv(signBit, 64) {
        let shift = signBit - 64 * limb
        word >>= UInt64(shift)
        expected >>= UInt64(shift)
      }
      guard word == expected else { return nil }
      limb += 1
    }
    return Int64(bitPattern: value)
  }

  /// The exact sum divided by `divisor` (> 0), rounded once to the nearest double, ties to even.
  ///
  /// The quotient is computed with at least 65 significant bits plus the remainder as a sticky bit,
  /// which decides every rounding exactly. +0.0 for a zero sum.
  public func quotient(dividingBy divisor: Int64) -> Double {
    precondition(divisor > 0, "ExactSum.quotient divides by a positive count, got \(divisor)")
    guard !isZero else { return 0 }
    let negative = isNegative
    // Dividend = magnitude * 2^128 (two zero limbs below), so the quotient keeps >= 65 bits.
    var dividend: [UInt64] = [0, 0]
    dividend.append(contentsOf: magnitude())
    let n = UInt64(divisor)
    var remainder: UInt64 = 0
    for i in dividend.indices.reversed() {
      let (q, r) = n.dividingFullWidth((high: remainder, low: dividend[i]))
      dividend[i] = q
      remainder = r
    }
    guard let result = Self.round(magnitude: dividend, base: base - 2, sticky: remainder != 0, negative: negative) else {
      preconditionFailure("the mean of finite doubles is finite (sum \(self) / \(divisor))")
    }
    return result
  }

  // MARK: - Internals

  /// Adds `magnitude * 2^(bit - 1074)`, negated when `negative`.
  mutating func addMagnitude(_ magnitude: UInt64, atBit bit: Int, negative: Bool) {
    let limb = bit >> 6
    let shift = UInt64(bit & 63)
    var low = magnitude << shift
    var high = shift == 0 ? 0 : magnitude >> (64 - shift)
    // magnitude < 2^64 and shift < 64: the 128-bit chunk is below 2^127, a nonnegative two-limb number.
    var fill: UInt64 = 0
    if negative {
      low = ~low
      high = ~high
      fill = ~0
      var carry: Bool
      (low, carry) = low.addingReportingOverflow(1)
      if carry { (high, carry) = high.addingReportingOverflow(1) }
      if carry { fill = 0 }  // only for a zero magnitude, which callers never pass
    }
    if addInPlace(at: limb, low: low, high: high, fill: fill) { return }
    addAligned(base: limb, count: 2, fill: fill) { $0 == 0 ? low : high }
  }

  /// The common case of `addMagnitude`: the chunk `low`, `high` (two's complement, limbs `at` and
  /// `at + 1`, continued above by `fill`) starts at or above the lowest stored limb. The stored limbs
  /// are extended with copies of their sign limb (which changes no value) to one limb above the chunk,
  /// and by one more when the top limb, as a signed number, is not within ±2^62; the chunk is then
  /// added in place and the canonical form restored. Returns false, changing nothing, when the sum is
  /// zero or the chunk starts below the lowest stored limb (`addAligned` then does it).
  ///
  /// Why the sum fits: with n limbs whose top limb is within ±2^62, the stored value is below
  /// 2^(64(n-1) + 62) in magnitude, and the chunk, with a limb above it, below 2^(64(n-1)). The exact
  /// sum is then below 2^(64n - 1) in magnitude: n limbs hold it in two's complement, so the carry
  /// out of the top limb is dropped.
  @inline(__always)
  private mutating func addInPlace(at limb: Int, low: UInt64, high: UInt64, fill: UInt64) -> Bool {
    guard !limbs.isEmpty, limb >= base else { return false }
    let i = limb - base
    let selfFill: UInt64 = isNegative ? ~0 : 0
    while limbs.count < i + 3 { limbs.append(selfFill) }
    let top = Int64(bitPattern: limbs[limbs.count - 1])
    if top <= -(1 << 62) || top >= 1 << 62 { limbs.append(selfFill) }
    let n = limbs.count
    limbs.withUnsafeMutableBufferPointer { l in
      let (a, c1) = l[i].addingReportingOverflow(low)
      l[i] = a
      let (b, c2) = l[i + 1].addingReportingOverflow(high)
      let (b2, c3) = b.addingReportingOverflow(c1 ? 1 : 0)
      l[i + 1] = b2
      var carry: UInt64 = c2 || c3 ? 1 : 0
      var k = i + 2
      // Above the chunk: + fill + carry, until nothing changes any more (fill 0 without a carry;
      // fill ~0 with one: each limb gains 2^64, unchanged, and the carry runs out of the top).
      while k < n && carry != fill & 1 {
        let (x, d1) = l[k].addingReportingOverflow(fill)
        let (y, d2) = x.addingReportingOverflow(carry)
        l[k] = y
        carry = d1 || d2 ? 1 : 0
        k += 1
      }
    }
    normalize()
    return true
  }

  /// Adds the two's complement number whose limbs from `base` are `limb(0..<count)`, continued
  /// above by `fill`.
  private mutating func addAligned(base otherBase: Int, count: Int, fill otherFill: UInt64, limb otherLimb: (Int) -> UInt64) {
    let selfFill: UInt64 = isNegative ? ~0 : 0
    let low = limbs.isEmpty ? otherBase : Swift.min(base, otherBase)
    let selfTop = limbs.isEmpty ? otherBase : base + limbs.count - 1
    // One limb above both tops: both operands fit with a spare sign limb, so their sum fits too and
    // the carry out of the top limb can be dropped.
    let high = Swift.max(selfTop, otherBase + count - 1) + 1
    if limbs.isEmpty {
      base = low
    } else if low < base {
      limbs.insert(contentsOf: repeatElement(0, count: base - low), at: 0)
      base = low
    }
    while base + limbs.count - 1 < high { limbs.append(selfFill) }

    var carry: UInt64 = 0
    for i in limbs.indices {
      let index = base + i
      let o: UInt64 =
        index < otherBase ? 0 : (index - otherBase < count ? otherLimb(index - otherBase) : otherFill)
      let (s1, c1) = limbs[i].addingReportingOverflow(o)
      let (s2, c2) = s1.addingReportingOverflow(carry)
      limbs[i] = s2
      carry = (c1 || c2) ? 1 : 0
    }
    normalize()
  }

  /// Restores the canonical form: no zero limb at the bottom, no pure sign-extension limb at the top.
  private mutating func normalize() {
    var low = 0
    while low < limbs.count && limbs[low] == 0 { low += 1 }
    if low == limbs.count {
      limbs.removeAll(keepingCapacity: true)
      base = 0
      return
    }
    if low > 0 {
      limbs.removeFirst(low)
      base += low
    }
    while limbs.count >= 2 {
      let top = limbs[limbs.count - 1]
      let belowSign = limbs[limbs.count - 2] >> 63
      guard (top == 0 && belowSign == 0) || (top == ~0 && belowSign == 1) else { break }
      limbs.removeLast()
    }
  }

  static func isCanonical(_ limbs: [UInt64]) -> Bool {
    guard let first = limbs.first else { return true }
    guard first != 0 else { return false }
    if limbs.count >= 2 {
      let top = limbs[limbs.count - 1]
      let belowSign = limbs[limbs.count - 2] >> 63
      if (top == 0 && belowSign == 0) || (top == ~0 && belowSign == 1) { return false }
    }
    return true
  }

  /// The limb at absolute index `index`, with zeros below the stored limbs and the sign above.
  private func limbValue(at index: Int) -> UInt64 {
    if index < base { return 0 }
    if index - base < limbs.count { return limbs[index - base] }
    return isNegative ? ~0 : 0
  }

  /// 64 bits of the two's complement value starting at absolute bit `bit`.
  private func twosComplementBits(from bit: Int) -> UInt64 {
    let limb = Self.floorDiv(bit, 64)
    let shift = UInt64(bit - 64 * limb)
    let low = limbValue(at: limb)
    guard shift != 0 else { return low }
    return low >> shift | limbValue(at: limb + 1) << (64 - shift)
  }

  /// |sum| as unsigned limbs from `base` (same count as `limbs`).
  private func magnitude() -> [UInt64] {
    guard isNegative else { return limbs }
    var result = limbs.map { ~$0 }
    for i in result.indices {
      let (v, carry) = result[i].addingReportingOverflow(1)
      result[i] = v
      if !carry { break }
    }
    return result
  }

  /// Rounds `magnitude * 2^(64 * base - 1074)`, plus less than one unit of its lowest bit when
  /// `sticky`, to the nearest double, ties to even; nil beyond the finite doubles.
  static func round(magnitude m: [UInt64], base: Int, sticky: Bool, negative: Bool) -> Double? {
    guard let topIndex = m.lastIndex(where: { $0 != 0 }) else {
      precondition(!sticky, "a nonzero value below the lowest bit has no rounding here")
      return negative ? -0.0 : 0.0
    }
    // Highest set bit, in accumulator bits (bit 0 = 2^-1074, the last bit a double can have).
    let high = 64 * (base + topIndex) + (63 - m[topIndex].leadingZeroBitCount)
    var low = Swift.max(high - 52, 0)
    var significand: UInt64 = high < low ? 0 : bits(of: m, base: base, from: low, count: high - low + 1)
    let roundBit = bits(of: m, base: base, from: low - 1, count: 1) == 1
    let below = sticky || anyBitSet(in: m, base: base, below: low - 1)
    if roundBit && (below || significand & 1 == 1) {
      significand += 1
      if significand == 1 << 53 {
        significand >>= 1
        low += 1
      }
    }
    let biasedExponent: Int
    if significand >= 1 << 52 {
      biasedExponent = low + 1
    } else {
      precondition(low == 0, "a significand below 2^52 is subnormal")
      biasedExponent = 0
    }
    guard biasedExponent < 2047 else { return nil }
    let pattern = (negative ? UInt64(1) << 63 : 0) | UInt64(biasedExponent) << 52 | (significand & ((1 << 52) - 1))
    return Double(bitPattern: pattern)
  }

  /// `count` (<= 64) bits of the unsigned `m` (limb 0 at absolute limb `base`) from absolute bit
  /// `from`; zeros outside the limbs.
  static func bits(of m: [UInt64], base: Int, from bit: Int, count: Int) -> UInt64 {
    func limb(_ index: Int) -> UInt64 {
      let i = index - base
      return i >= 0 && i < m.count ? m[i] : 0
    }
    let index = floorDiv(bit, 64)
    let shift = UInt64(bit - 64 * index)
    var word = limb(index) >> shift
    if shift != 0 { word |= limb(index + 1) << (64 - shift) }
    return count >= 64 ? word : word & ((1 << UInt64(count)) - 1)
  }

  /// Whether any bit of `m` strictly below absolute bit `bit` is set.
  static func anyBitSet(in m: [UInt64], base: Int, below bit: Int) -> Bool {
    let index = floorDiv(bit, 64)
    let shift = UInt64(bit - 64 * index)
    for i in m.indices {
      let absolute = base + i
      if absolute < index {
        if m[i] != 0 { return true }
      } else if absolute == index {
        if shift > 0 && m[i] & ((1 << shift) - 1) != 0 { return true }
      } else {
        break
      }
    }
    return false
  }

  static func floorDiv(_ a: Int, _ b: Int) -> Int {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
  }
}

extension ExactSum: CustomStringConvertible {
  /// The rounded value (for diagnostics), e.g. `ExactSum(0.6)`.
  public var description: String {
    if let value = rounded() { return "ExactSum(\(value))" }
    return "ExactSum(\(isNegative ? "-" : "+")overflow, \(limbs.count) limbs)"
  }
}
