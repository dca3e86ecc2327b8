internal import Synchronization

/// The ring epochs a node accepts on internode calls and lookup lanes: its own, and while a membership
/// change is in progress the other epoch of the change (the epoch before it, or the one after it), so
/// that nodes a step ahead or behind in the change still reach each other. A caller at any other epoch
/// has a view of the ring this node cannot vouch for, and is refused (`RingEpochInterceptor`).
///
/// Shared by the internode server, the lane server and the node's topology, which moves it when the
/// layout changes (`set`).
public final class EpochWindow: Sendable {
  private let state: Mutex<(current: UInt64, other: UInt64?)>

  public init(epoch: UInt64, alsoAccepting other: UInt64? = nil) {
    state = Mutex((epoch, other))
  }

  /// This node's routing epoch.
  public var current: UInt64 { state.withLock { $0.current } }

  /// Moves the window: `epoch` is this node's routing epoch, `other` the other epoch of a change in
  /// progress (nil: none).
  public func set(epoch: UInt64, alsoAccepting other: UInt64?) {
    state.withLock { $0 = (epoch, other) }
  }

  /// Whether a call made at `epoch` is accepted.
  public func accepts(_ epoch: UInt64) -> Bool {
    state.withLock { $0.current == epoch || $0.other == epoch }
  }

  /// "epoch 3" or "epoch 3 (and 4, during a membership change)".
  public var description: String {
    let (current, other) = state.withLock { $0 }
    guard let other else { return "epoch \(current)" }
    return "epoch \(current) (and \(other), during a membership change)"
  }
}
