import Synchronization

/// A clock whose time moves only when the simulation moves it (`Simulation.run`): a sleeper wakes when
/// the clock reaches its deadline, sleepers with the same deadline in the order they went to sleep.
/// A deadline already passed still waits for the next turn of the run loop (so a loop that sleeps
/// zero cannot starve the others). Cancelling a sleeper wakes it at once with `CancellationError`.
final class VirtualClock: Clock, Sendable {
  struct Instant: InstantProtocol, CustomStringConvertible {
    /// Since the simulation started.
    var offset: Duration

    func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
    func duration(to other: Instant) -> Duration { other.offset - offset }
    static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    static func + (instant: Instant, duration: Duration) -> Instant { instant.advanced(by: duration) }

    /// Seconds with millisecond precision: "12.345".
    var description: String {
      let ms = offset.components.seconds * 1000 + offset.components.attoseconds / 1_000_000_000_000_000
      let s = String(ms % 1000)
      return "\(ms / 1000).\(String(repeating: "0", count: 3 - s.count))\(s)"
    }
  }

  private struct Sleeper {
    let deadline: Instant
    let id: UInt64
    let continuation: CheckedContinuation<Void, any Error>
  }

  private struct State {
    var now = Instant(offset: .zero)
    var nextID: UInt64 = 0
    /// In wake-up order: by deadline, then by id.
    var sleepers: [Sleeper] = []
    /// Sleepers cancelled before they were registered.
    var cancelledEarly: Set<UInt64> = []
  }

  private let state = Mutex(State())

  var now: Instant { state.withLock { $0.now } }
  var minimumResolution: Duration { .nanoseconds(1) }

  func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
    try Task.checkCancellation()
    let id = state.withLock { s in
      s.nextID += 1
      return s.nextID
    }
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        let cancelled = state.withLock { s -> Bool in
          if s.cancelledEarly.remove(id) != nil { return true }
          let sleeper = Sleeper(deadline: max(deadline, s.now), id: id, continuation: continuation)
          // After every sleeper with an earlier or equal deadline (ids only grow).
          var low = 0
          var high = s.sleepers.count
          while low < high {
            let mid = (low + high) / 2
            if s.sleepers[mid].deadline <= sleeper.deadline { low = mid + 1 } else { high = mid }
          }
          s.sleepers.insert(sleeper, at: low)
          return false
        }
        if cancelled { continuation.resume(throwing: CancellationError()) }
      }
    } onCancel: {
      let continuation = state.withLock { s -> CheckedContinuation<Void, any Error>? in
        if let i = s.sleepers.firstIndex(where: { $0.id == id }) { return s.sleepers.remove(at: i).continuation }
        s.cancelledEarly.insert(id)
        return nil
      }
      continuation?.resume(throwing: CancellationError())
    }
  }

  /// The earliest deadline of a sleeper.
  var nextDeadline: Instant? { state.withLock { $0.sleepers.first?.deadline } }

  var sleeperCount: Int { state.withLock { $0.sleepers.count } }

  /// Moves the time to `instant` (never back).
  func advance(to instant: Instant) {
    state.withLock { $0.now = max($0.now, instant) }
  }

  /// Wakes every sleeper whose deadline has come, earliest first (ties: in the order they slept).
  func wakeDue() {
    let due = state.withLock { s -> ArraySlice<Sleeper> in
      let count = s.sleepers.prefix { $0.deadline <= s.now }.count
      defer { s.sleepers.removeFirst(count) }
      return s.sleepers.prefix(count)
    }
    for sleeper in due { sleeper.continuation.resume() }
  }
}
