public import GRPCCore
internal import Synchronization
internal import StrataCore

/// A node's current view of its cluster, which a membership change replaces while the node serves.
///
/// Every request works on one view from start to end (`current`, read once): a write batch is routed,
/// sent and acknowledged under the view it started with, and a view is replaced only by `install`,
/// which returns once every write batch begun under an earlier view has finished (bounded by
/// `drainTimeout`). So when a node reports that it applied a layout (and the change moves on), no write
/// routed by the layout before is still in flight from it.
///
/// Each view's lookup lanes and lookup streams (connections to the view's peers, carrying its epoch) are
/// run by the topology from `install` until the next view is installed and the lookups begun under
/// the view finished.
public final class ClusterTopology<Transport: ClientTransport>: Sendable {
  private struct State {
    var view: ClusterView<Transport>
    /// Views replaced whose writes may still be in flight, and the tasks running their connections.
    var retired: [(view: ClusterView<Transport>, tasks: [Task<Void, Never>])] = []
    var tasks: [Task<Void, Never>] = []
    var generation = 0
  }
  private let state: Mutex<State>
  /// The ring epochs this node's servers accept; moved by `install`.
  public let window: EpochWindow

  /// `view` is current; its lanes and streams are run by whoever created it (the node's services).
  public init(_ view: ClusterView<Transport>, window: EpochWindow? = nil) {
    state = Mutex(State(view: view))
    self.window = window ?? EpochWindow(epoch: view.ring.epoch)
  }

  /// The view requests start with now.
  public var current: ClusterView<Transport> { state.withLock { $0.view } }

  /// How many views were installed after the first.
  public var generation: Int { state.withLock { $0.generation } }

  /// Makes `view` current, with `acceptedEpoch` also accepted by this node's servers (the other epoch
  /// of a membership change in progress; nil: only the view's). Runs the view's lanes and streams;
  /// then waits until the write batches of earlier views finished (at most `drainTimeout`), stops
  /// their connections, and returns whether they all finished.
  @discardableResult
  public func install(
    _ view: ClusterView<Transport>, alsoAccepting acceptedEpoch: UInt64?, drainTimeout: Duration = .seconds(30)
  ) async -> Bool {
    var tasks: [Task<Void, Never>] = []
    if let lanes = view.lookupLanes { tasks.append(Task { await lanes.run() }) }
    if let streams = view.lookupStreams { tasks.append(Task { await streams.run() }) }
    // Accept the new epoch before anyone routes with it.
    window.set(epoch: view.ring.epoch, alsoAccepting: acceptedEpoch)
    state.withLock { s in
      s.retired.append((s.view, s.tasks))
      s.view = view
      s.tasks = tasks
      s.generation += 1
    }
    let deadline = ContinuousClock.now + drainTimeout
    var drained = false
    while true {
      let busy = state.withLock { $0.retired.contains { $0.view.activity.writesInFlight > 0 } }
      if !busy {
        drained = true
        break
      }
      if ContinuousClock.now >= deadline { break }
      try? await Task.sleep(for: .milliseconds(5))
    }
    let retired = state.withLock { s -> [(view: ClusterView<Transport>, tasks: [Task<Void, Never>])] in
      defer { s.retired.removeAll() }
      return s.retired
    }
    // The replaced views' lanes and streams stay open until the lookups that may wait on them finished
    // (at most `drainTimeout` more): closing a lane fails every lookup waiting on it, on every replica
    // at once, so the lookup would fail although the cluster is healthy.
    Task {
      let deadline = ContinuousClock.now + drainTimeout
      while retired.contains(where: { $0.view.activity.lookupsInFlight > 0 }), ContinuousClock.now < deadline {
        try? await Task.sleep(for: .milliseconds(20))
      }
      for task in retired.flatMap(\.tasks) { task.cancel() }
    }
    return drained
  }

  /// Runs the current view's lanes and streams (when the topology, not the node's services, runs
  /// them from the start).
  public func startConnections() {
    let view = current
    var tasks: [Task<Void, Never>] = []
    if let lanes = view.lookupLanes { tasks.append(Task { await lanes.run() }) }
    if let streams = view.lookupStreams { tasks.append(Task { await streams.run() }) }
    state.withLock { $0.tasks += tasks }
  }

  /// Stops the connections of the current view (node shutdown).
  public func stop() {
    for task in state.withLock({ $0.tasks }) { task.cancel() }
  }
}

/// Write batches and online lookups in flight under one `ClusterView` (see `ClusterTopology.install`).
public final class ViewActivity: Sendable {
  private let writes = Atomic<Int>(0)
  private let lookups = Atomic<Int>(0)

  public init() {}

  public var writesInFlight: Int { writes.load(ordering: .acquiring) }

  public var lookupsInFlight: Int { lookups.load(ordering: .acquiring) }

  /// Runs `body` counted as an online lookup in flight (it may be waiting on the view's lanes).
  func lookup<T>(_ body: () async throws -> T) async rethrows -> T {
    lookups.add(1, ordering: .acquiringAndReleasing)
    defer { lookups.subtract(1, ordering: .acquiringAndReleasing) }
    return try await body()
  }

  /// Runs `body` counted as a write batch in flight.
  func write<T>(_ body: () async throws -> T) async rethrows -> T {
    writes.add(1, ordering: .acquiringAndReleasing)
    defer { writes.subtract(1, ordering: .acquiringAndReleasing) }
    return try await body()
  }
}
