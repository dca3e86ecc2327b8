/// The time elapsed on a clock since the stopwatch was started: how code that takes an injected
/// `any Clock<Duration>` measures durations (an existential's instants cannot be subtracted).
struct Stopwatch: Sendable {
  let elapsed: @Sendable () -> Duration

  static func start(on clock: any Clock<Duration>) -> Stopwatch { started(clock) }

  private static func started<C: Clock<Duration>>(_ clock: C) -> Stopwatch {
    let start = clock.now
    return Stopwatch(elapsed: { start.duration(to: clock.now) })
  }
}
