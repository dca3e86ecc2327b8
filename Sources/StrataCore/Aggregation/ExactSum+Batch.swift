extension ExactSum {
  /// Adds many values to an `ExactSum` faster than `add(_:)` one at a time, with the same result
  /// (the sum is exact, so only the set of values added counts).
  ///
  /// Doubles are summed first in a 128-bit two's complement window whose bit 0 has the weight of
  /// accumulator bit `bit`; a double's mantissa (below 2^53) is shifted to its place in the window,
  /// at most 64 bits up, so each term is below 2^117 in magnitude and 512 of them below 2^126: the
  /// window never overflows. A double outside the window (below `bit`, or more than 64 bits above
  /// it) or the 513th one adds the window to the sum and starts a new window 32 bits below the
  /// double. Values of one field in one window mostly share a few exponents, so the window is added
  /// to the sum once every 512 values. Int64s are summed in an Int128 (exact for up to 2^63 of them).
  ///
  /// ```swift
  /// var batch = ExactSum.Batch()
  /// for x in values { batch.add(x) }
  /// let sum = batch.finish()  // == values one by one through ExactSum.add
  /// ```
  public struct Batch: Sendable {
    @usableFromInline var sum: ExactSum
    @usableFromInline var window: Int128 = 0
    @usableFromInline var bit = 0
    @usableFromInline var count = 0
    @usableFromInline var ints: Int128 = 0

    /// A batch adding to `sum`.
    public init(_ sum: ExactSum = ExactSum()) {
      self.sum = sum
    }

    /// Adds a finite double exactly (traps on a non-finite one, as `ExactSum.add(_:)` does).
    @inlinable
    public mutating func add(_ x: Double) {
      precondition(x.isFinite, "ExactSum adds finite doubles only, got \(x)")
      guard x != 0 else { return }
      let (mantissa, b) = ExactSum.parts(of: x)
      if count == 0 || b < bit || b > bit + 64 || count == 512 { startWindow(at: b) }
      let term = Int128(mantissa) << (b - bit)
      window = x.sign == .minus ? window - term : window + term
      count += 1
    }

    /// Adds an Int64 exactly.
    @inlinable
    public mutating func add(_ x: Int64) {
      ints += Int128(x)
    }

    /// The sum of everything added (and of the sum the batch started from).
    public mutating func finish() -> ExactSum {
      flushWindow()
      sum.add(ints, atBit: ExactSum.integerBit)
      ints = 0
      return sum
    }

    /// Adds the window to the sum and starts an empty one 32 bits below accumulator bit `b`.
    @usableFromInline
    mutating func startWindow(at b: Int) {
      flushWindow()
      bit = Swift.max(0, b - 32)
    }

    private mutating func flushWindow() {
      sum.add(window, atBit: bit)
      window = 0
      count = 0
    }
  }

  /// Adds `value * 2^(bit - 1074)` exactly.
  mutating func add(_ value: Int128, atBit bit: Int) {
    guard value != 0 else { return }
    let magnitude = value.magnitude
    let low = UInt64(truncatingIfNeeded: magnitude)
    let high = UInt64(truncatingIfNeeded: magnitude >> 64)
    if low != 0 { addMagnitude(low, atBit: bit, negative: value < 0) }
    if high != 0 { addMagnitude(high, atBit: bit + 64, negative: value < 0) }
  }
}
