import StrataCluster
import StrataTestSupport
import Testing

@Suite("Backoff")
struct BackoffTests {
  @Test("base delays grow by the multiplier from initial and stop at the maximum")
  func baseDelays() {
    let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1), multiplier: 2, jitter: 0.5)
    let bases = (1...8).map { backoff.base(afterFailures: $0) }
    #expect(bases == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800)] + Array(repeating: .seconds(1), count: 4))
    #expect(backoff.base(afterFailures: 0) == .milliseconds(100))
    #expect(backoff.base(afterFailures: .max) == .seconds(1))
    let flat = Backoff(initial: .seconds(3), maximum: .seconds(10), multiplier: 1, jitter: 0)
    #expect(flat.base(afterFailures: .max) == .seconds(3))
  }

  @Test("jitter takes at most its fraction off the base delay")
  func jitterBounds() {
    var random = SplitMix64.forTest("Backoff.jitter")
    for _ in 0..<2_000 {
      let jitter = Double(random.below(101)) / 100
      let backoff = Backoff(
        initial: .milliseconds(1 + random.below(1_000)), maximum: .seconds(30),
        multiplier: 1 + Double(random.below(30)) / 10, jitter: jitter)
      let failures = 1 + random.below(40)
      let unit = Double.random(in: 0..<1, using: &random)
      let base = backoff.base(afterFailures: failures)
      let delay = backoff.delay(afterFailures: failures, unit: unit)
      let context = Comment(rawValue: "\(backoff), failures \(failures), unit \(unit), seed \(SplitMix64.hex(random.seed))")
      #expect(delay <= base && delay <= backoff.maximum, context)
      #expect(delay >= base * (1 - jitter) - .nanoseconds(1), context)
    }
    let backoff = Backoff(initial: .seconds(10), maximum: .seconds(10), multiplier: 2, jitter: 0.2)
    #expect(backoff.delay(afterFailures: 1, unit: 0) == .seconds(10))
    #expect(backoff.delay(afterFailures: 1, unit: 0.5) == .seconds(9))
  }
}
