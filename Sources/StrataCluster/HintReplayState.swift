/// The decisions of hint replay, per node, without I/O: when to replay a node's hints, and when to
/// try again after a failure. `HintReplayer` feeds it events and carries out the actions.
///
/// ```
///             found / answered                        drained
///   (idle) ───────────────────────────► replaying ───────────────► (idle)
///                                        │     ▲
///                                 failed │     │ due (current generation), or answered
///                       (wake at now +   │     │ once backoff.initial has passed since
///                        backoff delay)  ▼     │ the failure (else: wake then)
///                                        waiting
/// ```
///
/// - A node is replayed by one replay at a time, so its hints are delivered in order.
/// - `answered` (a call to the node succeeded) resets the node's failure count, so the backoff starts
///   over, and ends a wait early, but never sooner than `backoff.initial` after the last failure: a
///   node that answers other calls but fails replays (a payload it rejects) is retried at most that
///   often, however busy it is.
/// - A wake-up carries a generation; one that was superseded (by `answered`) is ignored when it fires.
///
/// ```swift
/// var state = HintReplayState<ContinuousClock.Instant>(backoff: .init(initial: .seconds(1), maximum: .seconds(60), multiplier: 2, jitter: 0.2))
/// state.event(.found(["n2"]), now: .now)           // [.replay("n2")]
/// state.event(.failed("n2", unit: 0.5), now: .now) // [.wake("n2", at: now + 0.9 s, generation: 1)]
/// ```
public struct HintReplayState<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
  public enum Event: Sendable, Equatable {
    /// These nodes have hints (a scan of the queue).
    case found([String])
    /// A call to this node succeeded, and it has hints.
    case answered(String)
    /// The wake-up of this node with this generation fired.
    case due(String, generation: UInt64)
    /// A replay of this node found no hint left.
    case drained(String)
    /// A replay of this node stopped on a failure; `unit` is a uniform random number in `0..<1` for the
    /// backoff's jitter.
    case failed(String, unit: Double)
  }

  public enum Action: Sendable, Equatable {
    /// Start replaying this node's hints; report `drained` or `failed` when done.
    case replay(String)
    /// Send `due(node, generation)` at `at`.
    case wake(String, at: Instant, generation: UInt64)
  }

  public enum Phase: Sendable, Equatable {
    case replaying
    case waiting(until: Instant)
  }

  private struct Node {
    var phase: Phase
    var generation: UInt64 = 0
    var failures = 0
    var lastFailure: Instant?
  }

  public let backoff: Backoff
  private var nodes: [String: Node] = [:]
  private var lastGeneration: UInt64 = 0

  public init(backoff: Backoff) {
    self.backoff = backoff
  }

  /// Where `node` is; nil when idle (no replay and no wait: it had no hints when last looked at).
  public func phase(of node: String) -> Phase? { nodes[node]?.phase }

  /// The failures of `node` since its last drained replay or `answered`.
  public func failures(of node: String) -> Int { nodes[node]?.failures ?? 0 }

  /// Applies `event`, observed at `now`, and returns what to do (in the order of `found`'s nodes).
  public mutating func event(_ event: Event, now: Instant) -> [Action] {
    switch event {
    case .found(let found):
      var actions: [Action] = []
      for node in found where nodes[node] == nil {
        nodes[node] = Node(phase: .replaying)
        actions.append(.replay(node))
      }
      return actions

    case .answered(let node):
      guard var state = nodes[node] else {
        nodes[node] = Node(phase: .replaying)
        return [.replay(node)]
      }
      state.failures = 0
      defer { nodes[node] = state }
      guard case .waiting(let until) = state.phase else { return [] }
      let earliest = state.lastFailure.map { $0.advanced(by: backoff.initial) } ?? now
      if earliest <= now {
        state.phase = .replaying
        return [.replay(node)]
      }
      guard earliest < until else { return [] }
      state.phase = .waiting(until: earliest)
      state.generation = nextGeneration()
      return [.wake(node, at: earliest, generation: state.generation)]

    case .due(let node, let generation):
      guard var state = nodes[node], case .waiting = state.phase, state.generation == generation else { return [] }
      state.phase = .replaying
      nodes[node] = state
      return [.replay(node)]

    case .drained(let node):
      if nodes[node]?.phase == .replaying { nodes[node] = nil }
      return []

    case .failed(let node, let unit):
      guard var state = nodes[node], state.phase == .replaying else { return [] }
      state.failures += 1
      state.lastFailure = now
      let until = now.advanced(by: backoff.delay(afterFailures: state.failures, unit: unit))
      state.phase = .waiting(until: until)
      state.generation = nextGeneration()
      nodes[node] = state
      return [.wake(node, at: until, generation: state.generation)]
    }
  }

  private mutating func nextGeneration() -> UInt64 {
    lastGeneration += 1
    return lastGeneration
  }
}
