/// How long to wait before retrying after consecutive failures: exponential growth from `initial` by
/// `multiplier`, capped at `maximum`, with bounded jitter.
///
/// After `n >= 1` consecutive failures the base delay is `min(maximum, initial * multiplier^(n-1))`,
/// and the delay is the base scaled by `1 - jitter * u` for a uniform `u` in `0..<1`: always in
/// `((1 - jitter) * base, base]`, so never above `maximum` and never below `(1 - jitter) * initial`.
///
/// ```swift
/// let backoff = Backoff(initial: .seconds(1), maximum: .seconds(60), multiplier: 2, jitter: 0.2)
/// backoff.delay(afterFailures: 3, unit: 0.5)  // 4 s * 0.9 = 3.6 s
/// ```
public struct Backoff: Sendable, Equatable {
  /// The base delay after the first failure.
  public var initial: Duration
  /// The greatest base delay.
  public var maximum: Duration
  /// The factor between the base delays of consecutive failures (>= 1).
  public var multiplier: Double
  /// The largest fraction taken off a base delay at random, in `0...1`.
  public var jitter: Double

  /// Preconditions: `initial > .zero`, `maximum >= initial`, `multiplier >= 1`, `0 <= jitter <= 1`.
  public init(initial: Duration, maximum: Duration, multiplier: Double, jitter: Double) {
    precondition(initial > .zero && maximum >= initial, "a backoff needs 0 < initial <= maximum")
    precondition(multiplier >= 1, "a backoff multiplier must be at least 1")
    precondition((0...1).contains(jitter), "a backoff jitter must be in 0...1")
    self.initial = initial
    self.maximum = maximum
    self.multiplier = multiplier
    self.jitter = jitter
  }

  /// The base delay after `failures` consecutive failures (1 or more), before jitter.
  public func base(afterFailures failures: Int) -> Duration {
    let maximumSeconds = Self.seconds(maximum)
    var grown = Self.seconds(initial)
    var n = 1
    // At most log(maximum / initial) / log(multiplier) steps, whatever `failures` is.
    while n < failures, grown < maximumSeconds, multiplier > 1 {
      grown *= multiplier
      n += 1
    }
    return grown >= maximumSeconds ? maximum : .nanoseconds(Int64((grown * 1e9).rounded()))
  }

  /// The delay after `failures` consecutive failures, `unit` being a uniform random number in `0..<1`.
  public func delay(afterFailures failures: Int, unit: Double) -> Duration {
    let base = base(afterFailures: failures)
    // min: the product is computed in floating point and may round a hair above the base.
    return min(base, base * (1 - jitter * min(max(unit, 0), 1)))
  }

  private static func seconds(_ d: Duration) -> Double {
    let (seconds, attoseconds) = d.components
    return Double(seconds) + Double(attoseconds) * 1e-18
  }
}
