import GRPCCore
import GRPCInProcessTransport
import Logging
import StrataCore
import StrataCluster
import StrataGRPC
import StrataProto
import StrataStorage
import StrataTestSupport
import Synchronization
import Testing

// An N-node Strata cluster in one process, without sockets: every node serves `ClusterCoordinator`
// and `ShardService` (behind `RingEpochInterceptor`) on its own `InProcessTransport`, and the network
// between the nodes is simulated by a client interceptor that delays, fails or hangs the internode
// calls sent to a node.

typealias SimulatedView = ClusterView<InProcessTransport.Client>

/// What the simulated network does to the internode calls sent to one node.
enum SimulatedFault: Sendable, Equatable {
  /// Calls go through at once.
  case none
  /// Each call waits a random time in `0...max` before it starts, and again before each message it
  /// sends (drawn from the plan's seeded generator), so concurrent answers come back reordered.
  case delay(max: Duration)
  /// Each call waits exactly this long before it starts (for scripting an interleaving).
  case pause(Duration)
  /// The node does the work at once, but its answer takes this long to come back (a call can time
  /// out after the node committed).
  case slowAnswer(Duration)
  /// The node is down: calls fail with UNAVAILABLE before reaching it.
  case fail
  /// The node takes calls and never answers: a call waits until its deadline cancels it (or, when
  /// the test changes the fault, fails with UNAVAILABLE).
  case hang
}

/// The simulated network: a fault per target node, the seeded generator behind the delays, and a
/// count of the internode calls sent to each node per method.
final class FaultPlan: Sendable {
  private struct State {
    var faults: [String: SimulatedFault] = [:]
    /// One-shot faults per node and method, used before the standing fault.
    var once: [String: [String: [SimulatedFault]]] = [:]
    var rng: SplitMix64
    var calls: [String: [String: Int]] = [:]
    /// Hanging calls per node that ended because their task was cancelled.
    var cancelledHangs: [String: Int] = [:]
  }

  private let state: Mutex<State>

  init(seed: UInt64) {
    state = Mutex(State(rng: SplitMix64(seed: seed)))
  }

  /// The fault of the calls sent to `node` (`.none` unless set).
  subscript(node: String) -> SimulatedFault {
    get { state.withLock { $0.faults[node] ?? .none } }
    set { state.withLock { $0.faults[node] = newValue } }
  }

  func set(_ fault: SimulatedFault, on nodes: [String]) {
    state.withLock { s in
      for node in nodes { s.faults[node] = fault }
    }
  }

  /// Applies `fault` to the next call of `method` (e.g. "PutRegistry") sent to `node` only.
  func once(_ fault: SimulatedFault, to node: String, method: String) {
    state.withLock { $0.once[node, default: [:]][method, default: []].append(fault) }
  }

  /// Internode calls sent to `node` so far (of `method`, e.g. "GetOnline", or of any method).
  func calls(to node: String, method: String? = nil) -> Int {
    state.withLock { s in
      guard let perMethod = s.calls[node] else { return 0 }
      if let method { return perMethod[method] ?? 0 }
      return perMethod.values.reduce(0, +)
    }
  }

  /// Online lookups sent to `node`: unary `GetOnline` calls plus messages on its lookup stream and
  /// its lookup lane.
  func lookups(to node: String) -> Int {
    calls(to: node, method: "GetOnline") + calls(to: node, method: "LookupStream.message")
      + calls(to: node, method: "LookupLane.message")
  }

  /// Hanging calls to `node` that ended because the caller's task was cancelled (e.g. by a deadline).
  func cancelledHangs(to node: String) -> Int {
    state.withLock { $0.cancelledHangs[node] ?? 0 }
  }

  fileprivate func noteCancelledHang(_ node: String) {
    state.withLock { $0.cancelledHangs[node, default: 0] += 1 }
  }

  /// Records a call to `node` and returns the fault to apply to it.
  fileprivate func begin(_ node: String, method: String) -> SimulatedFault {
    state.withLock { s in
      s.calls[node, default: [:]][method, default: 0] += 1
      if let next = s.once[node]?[method]?.first {
        s.once[node]![method]!.removeFirst()
        return next
      }
      return s.faults[node] ?? .none
    }
  }

  fileprivate func count(_ node: String, method: String) {
    state.withLock { $0.calls[node, default: [:]][method, default: 0] += 1 }
  }

  /// A random duration in `0...max`, in whole microseconds.
  fileprivate func randomDelay(upTo max: Duration) -> Duration {
    let (seconds, attoseconds) = max.components
    let micros = seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    guard micros > 0 else { return .zero }
    return .microseconds(state.withLock { $0.rng.below(Int(micros) + 1) })
  }
}

/// Applies the `FaultPlan`'s fault for `node` to every internode call sent to it.
struct FaultInjectingInterceptor: ClientInterceptor {
  let node: String
  let plan: FaultPlan

  func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingClientRequest<Input>,
    context: ClientContext,
    next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
  ) async throws -> StreamingClientResponse<Output> {
    let fault = plan.begin(node, method: context.descriptor.method)
    if context.descriptor.method == "LookupStream" {
      // A long-lived stream: failing or hanging nodes keep it from opening, and every message sent on
      // it meets the node's fault at the time it is sent (see `LiveFaultWriter`).
      switch fault {
      case .fail: throw RPCError(code: .unavailable, message: "simulated network: node \(node) is down")
      case .hang: while plan[node] == .hang { try await Task.sleep(for: .milliseconds(5)) }
      default: break
      }
      var live = request
      let producer = request.producer
      let (plan, node) = (self.plan, self.node)
      live.producer = { writer in
        try await producer(RPCWriter(wrapping: LiveFaultWriter(base: writer, plan: plan, node: node)))
      }
      return try await next(live, context)
    }
    switch fault {
    case .none:
      return try await next(request, context)
    case .pause(let duration):
      try await Task.sleep(for: duration)
      return try await next(request, context)
    case .slowAnswer(let duration):
      let response = try await next(request, context)
      try await Task.sleep(for: duration)
      return response
    case .fail:
      throw RPCError(code: .unavailable, message: "simulated network: node \(node) is down")
    case .hang:
      // Cancelled by the call's deadline (Task.sleep throws), or released by the test.
      while plan[node] == .hang {
        do {
          try await Task.sleep(for: .milliseconds(5))
        } catch {
          plan.noteCancelledHang(node)
          throw error
        }
      }
      throw RPCError(code: .unavailable, message: "simulated network: node \(node) hung, then dropped the call")
    case .delay(let max):
      try await Task.sleep(for: plan.randomDelay(upTo: max))
      var delayed = request
      let producer = request.producer
      let plan = self.plan
      delayed.producer = { writer in
        try await producer(RPCWriter(wrapping: DelayingWriter(base: writer, plan: plan, max: max)))
      }
      return try await next(delayed, context)
    }
  }
}

/// The answers of `node`'s lookup lane under the plan's faults: each lookup on the lane counts as a
/// call of method "LookupLane.message" and meets the node's fault at the time it arrives. A hanging
/// node holds its answers until the fault changes; a node that is down answers UNAVAILABLE (a real
/// one would close the lane, and the coordinator's gRPC fallback would fail the same way).
func faultInjectingLaneAnswerer(
  node: String, plan: FaultPlan, base: @escaping LookupLaneServer.Answerer
) -> LookupLaneServer.Answerer {
  { request in
    plan.count(node, method: "LookupLane.message")
    let fault = plan[node]
    let answerNow: @Sendable () async -> Result<[UInt8], RPCError> = {
      switch base(request) {
      case .now(let result): return result
      case .later(let work): return await work()
      }
    }
    switch fault {
    case .none:
      return base(request)
    case .fail:
      return .now(.failure(RPCError(code: .unavailable, message: "simulated network: node \(node) is down")))
    case .delay(let max):
      let wait = plan.randomDelay(upTo: max)
      return .later {
        try? await Task.sleep(for: wait)
        return await answerNow()
      }
    case .pause(let wait):
      return .later {
        try? await Task.sleep(for: wait)
        return await answerNow()
      }
    case .slowAnswer(let wait):
      let work = base(request)
      return .later {
        let result: Result<[UInt8], RPCError>
        switch work {
        case .now(let r): result = r
        case .later(let w): result = await w()
        }
        try? await Task.sleep(for: wait)
        return result
      }
    case .hang:
      return .later {
        while plan[node] == .hang { try? await Task.sleep(for: .milliseconds(5)) }
        return .failure(RPCError(code: .unavailable, message: "simulated network: node \(node) hung, then dropped the lookup"))
      }
    }
  }
}

/// Waits a random time before passing each request message on.
private struct DelayingWriter<Element: Sendable>: RPCWriterProtocol {
  let base: RPCWriter<Element>
  let plan: FaultPlan
  let max: Duration

  func write(_ element: Element) async throws {
    try await Task.sleep(for: plan.randomDelay(upTo: max))
    try await base.write(element)
  }

  func write(contentsOf elements: some Sequence<Element>) async throws {
    for element in elements { try await write(element) }
  }
}

/// Applies the node's current fault to each message of a long-lived stream: a node that goes down
/// breaks the stream, a hanging one holds it (and everything sent after) until the fault changes.
/// Each message counts as a call of method "LookupStream.message".
private struct LiveFaultWriter<Element: Sendable>: RPCWriterProtocol {
  let base: RPCWriter<Element>
  let plan: FaultPlan
  let node: String

  func write(_ element: Element) async throws {
    plan.count(node, method: "LookupStream.message")
    while plan[node] == .hang { try await Task.sleep(for: .milliseconds(5)) }
    switch plan[node] {
    case .none, .hang:
      try await base.write(element)
    case .delay(let max):
      try await Task.sleep(for: plan.randomDelay(upTo: max))
      try await base.write(element)
    case .pause(let duration):
      try await Task.sleep(for: duration)
      try await base.write(element)
    case .slowAnswer(let duration):
      try await base.write(element)
      try await Task.sleep(for: duration)
    case .fail:
      throw RPCError(code: .unavailable, message: "simulated network: node \(node) went down")
    }
  }

  func write(contentsOf elements: some Sequence<Element>) async throws {
    for element in elements { try await write(element) }
  }
}

/// One simulated node: the public API with this node as coordinator (`api.client`), its store, and
/// its view of the cluster.
struct SimulatedNode: Sendable {
  let id: String
  let api: StrataHarness
  let view: SimulatedView

  var store: FeatureStore { api.store }

  /// True when this node's lookup stream or lane to `peer` is open.
  func isOpen(_ peer: String) -> Bool {
    view.lookupStreams?.isOpen(peer) ?? view.lookupLanes?.isOpen(peer) ?? false
  }

  /// Lookups this node waits for on its stream or lane to `peer`.
  func pending(on peer: String) -> Int {
    view.lookupStreams?.pending(on: peer) ?? view.lookupLanes?.pending(on: peer) ?? 0
  }
}

/// A running simulated cluster. Nodes are "n1"..."nN"; n1 is the registry leader.
struct SimulatedCluster: Sendable {
  let nodes: [SimulatedNode]
  /// The ring every node agrees on (unless the test gave a node another epoch).
  let ring: HashRing
  let faults: FaultPlan

  var ids: [String] { nodes.map(\.id) }
  var leader: SimulatedNode { nodes[0] }

  func node(_ id: String) -> SimulatedNode {
    guard let node = nodes.first(where: { $0.id == id }) else { preconditionFailure("no simulated node \(id)") }
    return node
  }

  /// The primary owner of `entity`.
  func owner(of entity: String) -> String { ring.primary(of: entity) }

  /// How coordinators name `node` in their errors: "n2 (sim://n2)".
  func describe(_ node: String) -> String { leader.view.describe(node) }

  /// `count` entity ids "`prefix`-k" whose primary owner is `node`.
  func entities(ownedBy node: String, count: Int, prefix: String) -> [String] {
    var found: [String] = []
    var k = 0
    while found.count < count {
      let id = "\(prefix)-\(k)"
      if owner(of: id) == node { found.append(id) }
      k += 1
    }
    return found
  }

  /// Registers `specs` on every node's store directly, bypassing the leader (for tests whose
  /// simulated network cannot carry the registry).
  func seedRegistry(_ specs: [Strata_V1_FeatureGroupSpec]) async throws {
    let parsed = try specs.map { try FeatureGroupSpec(proto: $0) }
    for node in nodes { _ = try await node.store.apply(parsed) }
  }

  /// Every node's registry as (name, version, spec, status, created), storage ids left out (they are
  /// node-local).
  func registries() -> [String: [RegistryEntry]] {
    Dictionary(uniqueKeysWithValues: nodes.map { n in (n.id, n.store.catalog.allVersions.map(RegistryEntry.init)) })
  }

  struct RegistryEntry: Equatable, CustomStringConvertible {
    var name: String
    var version: Int
    var spec: FeatureGroupSpec
    var status: GroupStatus
    var createdAt: Timestamp

    init(_ g: FeatureGroup) {
      name = g.name
      version = g.version
      spec = g.spec
      status = g.status
      createdAt = g.createdAt
    }

    var description: String { "\(name)@\(version) \(status.rawValue)" }
  }
}

/// Starts `nodes` simulated nodes, runs `body`, then shuts every client and server down gracefully
/// (also when `body` throws).
///
/// - `seed` drives the simulated delays.
/// - `callTimeout` is every view's internode call timeout; `exportAnswerBase` the base of its export
///   answer limit (`ClusterView.exportAnswerBase`).
/// - `epochs` gives chosen nodes another ring epoch than 1 (their view and their
///   `RingEpochInterceptor` both use it), as a node started from another cluster file would.
/// - All stores read time from `clock` (frozen at `TestClock.start` unless the test moves it).
func withSimulatedCluster(
  nodes count: Int = 3,
  seed: UInt64,
  callTimeout: Duration = .seconds(30),
  epochs: [String: UInt64] = [:],
  clock: TestClock = TestClock(),
  lookups: InternodeLookups = .unary,
  replicationFactor: Int = 1,
  hints: (any HintSink)? = nil,
  registry: (any ClusterRegistry)? = nil,
  exportAnswerBase: Duration = .seconds(5),
  _ body: (SimulatedCluster) async throws -> Void
) async throws {
  let ids = (1...count).map { "n\($0)" }
  let ring = try HashRing(nodes: ids, epoch: 1)
  let faults = FaultPlan(seed: seed)
  let logger = Logger(label: "strata.sim", factory: { _ in SwiftLogNoOpLogHandler() })
  let transports = ids.map { _ in InProcessTransport() }
  // One client per target node (an in-process client transport connects to its own server only),
  // shared by every node's view. Faults apply to the internode service only, so the test's own
  // calls to a coordinator are never delayed or failed.
  let clients = zip(ids, transports).map { id, transport in
    GRPCClient(
      transport: transport.client,
      interceptorPipeline: [
        .apply(FaultInjectingInterceptor(node: id, plan: faults), to: .services([Strata_V1_Shard.descriptor]))
      ])
  }
  let peers = Dictionary(uniqueKeysWithValues: zip(ids, clients))
  let addresses = Dictionary(uniqueKeysWithValues: ids.map { ($0, "sim://\($0)") })

  var nodes: [SimulatedNode] = []
  var servers: [GRPCServer<InProcessTransport.Server>] = []
  var laneServers: [LookupLaneServer] = []
  for (i, id) in ids.enumerated() {
    let epoch = epochs[id] ?? ring.epoch
    // Slots as a cluster file gives them: position among the sorted node ids, plus one.
    let slot = UInt16(ids.sorted().firstIndex(of: id)! + 1)
    let store = try FeatureStore(engine: InMemoryEngine(), writeIDSlot: slot, clock: clock.function)
    let info = FeatureStoreService.NodeInfo(nodeID: id, version: "0.0.0-test", dataDirectory: "(memory)", startedAt: clock.now)
    let local = FeatureStoreService(store: store, node: info, logger: logger)
    // Lanes are real TCP listeners on loopback; faults are applied by the owner's answerer.
    let laneServer =
      lookups == .lane
      ? LookupLaneServer(
        epoch: epoch,
        answer: faultInjectingLaneAnswerer(node: id, plan: faults, base: LookupLaneServer.answerer(for: local)))
      : nil
    if let laneServer {
      try await laneServer.start(host: "127.0.0.1", port: 0)
      laneServers.append(laneServer)
    }
    let nodeRing = try HashRing(nodes: ids, epoch: epoch)
    let view = ClusterView(
      ring: nodeRing, selfID: id, leaderID: ids[0], peers: peers,
      addresses: addresses, callTimeout: callTimeout, lookups: lookups, laneServer: laneServer,
      placement: try ReplicaPlacement(ring: nodeRing, replicationFactor: replicationFactor), hints: hints, registry: registry,
      exportAnswerBase: exportAnswerBase)
    servers.append(
      GRPCServer(
        transport: transports[i].server,
        services: [
          ClusterFastPaths(ClusterCoordinator(local: local, cluster: view, logger: logger)),
          ShardFastPaths(ShardService(local: local, cluster: view, logger: logger)),
        ],
        interceptorPipeline: [
          .apply(RingEpochInterceptor(epoch: epoch), to: .services([Strata_V1_Shard.descriptor])),
          .apply(CallerDeadlineInterceptor(), to: .services([Strata_V1_FeatureStore.descriptor])),
        ]))
    nodes.append(
      SimulatedNode(
        id: id,
        api: StrataHarness(
          client: Strata_V1_FeatureStore.Client(wrapping: clients[i]), store: store, clock: clock, node: info, grpc: clients[i]),
        view: view))
  }
  let cluster = SimulatedCluster(nodes: nodes, ring: ring, faults: faults)
  try await withThrowingDiscardingTaskGroup { group in
    for server in servers { group.addTask { try await server.serve() } }
    for client in clients { group.addTask { try await client.runConnections() } }
    let streams = nodes.compactMap(\.view.lookupStreams)
    let lanes = nodes.compactMap(\.view.lookupLanes)
    let streamTasks = streams.map { streams in Task { await streams.run() } } + lanes.map { lanes in Task { await lanes.run() } }
    // Lookups use the streams or lanes once they are open (before that they make unary calls).
    for node in nodes {
      for peer in ids where peer != node.id {
        while lookups != .unary && !node.isOpen(peer) { try await Task.sleep(for: .milliseconds(1)) }
      }
    }
    defer {
      for task in streamTasks { task.cancel() }
      for lane in laneServers { Task { await lane.close() } }
      for client in clients { client.beginGracefulShutdown() }
      for server in servers { server.beginGracefulShutdown() }
    }
    try await body(cluster)
  }
}

/// Runs `body`, expecting it to finish within `limit`. If it has not, records an issue and calls
/// `release` (which must make `body` finish, e.g. by ending a simulated hang), then waits for it.
@discardableResult
func expectFinishes<R: Sendable>(
  within limit: Duration,
  release: @escaping @Sendable () -> Void,
  sourceLocation: SourceLocation = #_sourceLocation,
  _ body: @escaping @Sendable () async throws -> R
) async throws -> R {
  try await withThrowingTaskGroup(of: R?.self) { group in
    group.addTask { try await body() }
    group.addTask {
      do { try await Task.sleep(for: limit) } catch { return nil }
      Issue.record("still running after \(limit)", sourceLocation: sourceLocation)
      release()
      return nil
    }
    while let next = try await group.next() {
      if let value = next {
        group.cancelAll()
        return value
      }
    }
    preconditionFailure("the body's task ended without a result")
  }
}
