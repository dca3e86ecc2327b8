internal import Synchronization

/// The ring epochs a node accepts on internode calls and lookup lanes: its own, and while a membership
/// change is in progress the other epoch of the change (the epoch before it, or the one after it), so
/// that nodes a step ahead or behind in the change still reach each other. A caller at any other epoch
/// has a view of the ring this node cannot vouch for, and is refused (`RingEpochInterceptor`).
///
/// Shared by the internode server, the lane server and the node's topology, which moves it when the
/// layout changes (`set`). It also counts the internode calls in progress per epoch they were accepted
/// at, so that a node about to delete the copies it no longer replicates can first wait for the calls
/// made with the old ring to end (`drain`): a write or repair accepted at the old epoch just before the
/// window moved would otherwise put back a copy after the deletion.
public final class EpochWindow: Sendable {
  private struct State {
    var current: UInt64
    var other: UInt64?
    var inFlight: [UInt64: Int] = [:]

    func accepts(_ epoch: UInt64) -> Bool { current == epoch || other == epoch }
  }
  private let state: Mutex<State>

  public init(epoch: UInt64, alsoAccepting other: UInt64? = nil) {
    state = Mutex(State(current: epoch, other: other))
  }

  /// This node's routing epoch.
  public var current: UInt64 { state.withLock { $0.current } }

  /// Moves the window: `epoch` is this node's routing epoch, `other` the other epoch of a change in
  /// progress (nil: none).
  public func set(epoch: UInt64, alsoAccepting other: UInt64?) {
    state.withLock {
      $0.current = epoch
      $0.other = other
    }
  }

  /// Whether a call made at `epoch` is accepted.
  public func accepts(_ epoch: UInt64) -> Bool {
    state.withLock { $0.accepts(epoch) }
  }

  /// Whether a call made at `epoch` is accepted; if so it counts as in progress until `leave(epoch)`.
  public func enter(_ epoch: UInt64) -> Bool {
    state.withLock { s in
      guard s.accepts(epoch) else { return false }
      s.inFlight[epoch, default: 0] += 1
      return true
    }
  }

  /// Ends a call `enter(epoch)` accepted.
  public func leave(_ epoch: UInt64) {
    state.withLock { s in
      let left = (s.inFlight[epoch] ?? 1) - 1
      s.inFlight[epoch] = left > 0 ? left : nil
    }
  }

  /// Calls accepted at `epoch` and still in progress.
  public func inFlight(at epoch: UInt64) -> Int { state.withLock { $0.inFlight[epoch] ?? 0 } }

  /// Waits until no call accepted at `epoch` is in progress, or `timeout` passed; whether none is.
  /// Meant for an epoch the window no longer accepts (no new calls at it begin meanwhile).
  public func drain(epoch: UInt64, timeout: Duration) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while inFlight(at: epoch) > 0 {
      guard ContinuousClock.now < deadline else { return false }
      try? await Task.sleep(for: .milliseconds(10))
    }
    return true
  }

  /// "epoch 3" or "epoch 3 (and 4, during a membership change)".
  public var description: String {
    let (current, other) = state.withLock { ($0.current, $0.other) }
    guard let other else { return "epoch \(current)" }
    return "epoch \(current) (and \(other), during a membership change)"
  }
}
