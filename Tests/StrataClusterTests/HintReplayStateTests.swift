import StrataCluster
import Testing

/// The replay decisions alone: events in, actions out, no I/O.
@Suite("Hint replay state")
struct HintReplayStateTests {
  typealias State = HintReplayState<ManualClock.Instant>
  static let backoff = Backoff(initial: .seconds(1), maximum: .seconds(8), multiplier: 2, jitter: 0)

  static func t(_ seconds: Double) -> ManualClock.Instant {
    ManualClock.Instant(sinceStart: .milliseconds(Int64((seconds * 1_000).rounded())))
  }

  @Test("found nodes are replayed once; a drained node is idle until found again")
  func foundAndDrained() {
    var state = State(backoff: Self.backoff)
    #expect(state.event(.found(["a", "b"]), now: Self.t(0)) == [.replay("a"), .replay("b")])
    #expect(state.event(.found(["a", "b", "c"]), now: Self.t(1)) == [.replay("c")], "a and b are replaying already")
    #expect(state.phase(of: "a") == .replaying)
    #expect(state.event(.drained("a"), now: Self.t(2)).isEmpty)
    #expect(state.phase(of: "a") == nil)
    #expect(state.event(.found(["a"]), now: Self.t(3)) == [.replay("a")])
  }

  @Test("each failure waits longer, up to the maximum; only the current wake-up restarts the replay")
  func failuresBackOff() {
    var state = State(backoff: Self.backoff)
    _ = state.event(.found(["a"]), now: Self.t(0))
    var now = 0.0
    var generations: [UInt64] = []
    for (failures, delay) in [(1, 1.0), (2, 2), (3, 4), (4, 8), (5, 8)] {
      let actions = state.event(.failed("a", unit: 0.3), now: Self.t(now))
      guard case .wake("a", let at, let generation) = actions.first, actions.count == 1 else {
        Issue.record("expected one wake-up, got \(actions)")
        return
      }
      #expect(at == Self.t(now + delay), "after \(failures) failures")
      #expect(state.phase(of: "a") == .waiting(until: at))
      #expect(state.failures(of: "a") == failures)
      #expect(state.event(.failed("a", unit: 0.3), now: Self.t(now)).isEmpty, "not replaying: ignored")
      #expect(state.event(.found(["a"]), now: Self.t(now)).isEmpty, "waiting: found changes nothing")
      generations.append(generation)
      now += delay
      #expect(state.event(.due("a", generation: generation + 1), now: Self.t(now)).isEmpty, "not the current wake-up")
      #expect(state.event(.due("a", generation: generation), now: Self.t(now)) == [.replay("a")])
      #expect(state.event(.due("a", generation: generation), now: Self.t(now)).isEmpty, "already replaying")
    }
    #expect(Set(generations).count == generations.count)
    _ = state.event(.drained("a"), now: Self.t(now))
    #expect(state.failures(of: "a") == 0)
  }

  @Test("answered ends a wait at once, resets the backoff and makes the pending wake-up stale")
  func answeredEndsWait() {
    var state = State(backoff: Self.backoff)
    _ = state.event(.found(["a"]), now: Self.t(0))
    _ = state.event(.failed("a", unit: 0), now: Self.t(0))
    _ = state.event(.due("a", generation: 1), now: Self.t(1))
    let wake = state.event(.failed("a", unit: 0), now: Self.t(1))
    #expect(wake == [.wake("a", at: Self.t(3), generation: 2)])
    #expect(state.event(.answered("a"), now: Self.t(2.5)) == [.replay("a")])
    #expect(state.failures(of: "a") == 0)
    #expect(state.event(.due("a", generation: 2), now: Self.t(3)).isEmpty, "superseded")
    // The backoff starts over: the next failure waits the initial delay.
    #expect(state.event(.failed("a", unit: 0), now: Self.t(4)) == [.wake("a", at: Self.t(5), generation: 3)])
  }

  @Test("answered right after a failure waits until backoff.initial has passed since it")
  func answeredRightAfterFailure() {
    var state = State(backoff: Backoff(initial: .seconds(1), maximum: .seconds(60), multiplier: 10, jitter: 0))
    _ = state.event(.found(["a"]), now: Self.t(0))
    _ = state.event(.failed("a", unit: 0), now: Self.t(0))
    _ = state.event(.due("a", generation: 1), now: Self.t(1))
    #expect(state.event(.failed("a", unit: 0), now: Self.t(1)) == [.wake("a", at: Self.t(11), generation: 2)])
    #expect(state.event(.answered("a"), now: Self.t(1.25)) == [.wake("a", at: Self.t(2), generation: 3)])
    #expect(state.event(.answered("a"), now: Self.t(1.5)).isEmpty, "already due at 2 s")
    #expect(state.event(.due("a", generation: 2), now: Self.t(11)).isEmpty, "superseded")
    #expect(state.event(.due("a", generation: 3), now: Self.t(2)) == [.replay("a")])
  }

  @Test("answered starts an idle node and changes nothing for a replaying one")
  func answeredIdleOrReplaying() {
    var state = State(backoff: Self.backoff)
    #expect(state.event(.answered("b"), now: Self.t(0)) == [.replay("b")])
    #expect(state.event(.answered("b"), now: Self.t(0)).isEmpty)
    #expect(state.phase(of: "b") == .replaying)
  }
}
