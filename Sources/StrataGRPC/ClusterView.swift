public import GRPCCore
public import StrataCore
public import StrataProto
public import StrataCluster
public import StrataStorage
internal import Synchronization

/// One node's view of its cluster: the ring, which node it is, the registry leader, and an internode
/// client per node (itself included: a coordinator calls its own shard like any other owner).
public struct ClusterView<Transport: ClientTransport>: Sendable {
  public let ring: HashRing
  /// Where each entity's replicas live (the ring, the replication factor and the zones): where reads go.
  public let placement: ReplicaPlacement
  /// During a membership change (until it is switched): the old and new placements, which writes go
  /// to both of (`ReplicaPlan(entityIDs:transition:)`); nil otherwise.
  public let transition: PlacementTransition?
  /// Where membership changes are made (etcd); nil: the membership cannot change while serving.
  public let membership: (any MembershipControl)?
  /// While ranges stream (a change's dual-write phases): which node receives which ranges from which.
  public let moves: (toEpoch: UInt64, ranges: MovedRanges)?
  /// The nodes shown by status: the ring's, and during a membership change those of both rings.
  public let members: [String]
  /// Write batches in flight under this view (`ClusterTopology.install` waits for them).
  public let activity = ViewActivity()
  /// Recent failures and answer times of the peers (which replicas reads avoid, and when they hedge).
  public let health: PeerHealth
  /// Where writes that a replica did not acknowledge are kept until it does (nil: nowhere; the
  /// replica then gets those rows only through repair).
  public let hints: (any HintSink)?
  /// Where registry changes are made (etcd); nil: through the registry leader, which pushes them.
  public let registry: (any ClusterRegistry)?
  /// Where the idempotency keys of pushed event batches are recorded (etcd, shared by every node); nil:
  /// in the coordinating node's catalog.
  public let idempotency: (any IdempotencyKeys)?
  public let selfID: String
  /// The node that assigns registry versions: the first node of the cluster file.
  public let leaderID: String
  /// The internode client of every node (itself included).
  public let peers: [String: GRPCClient<Transport>]
  /// host:port per node id, for messages and status.
  public let addresses: [String: String]
  /// Timeout of one internode call (a node that is down fails its calls sooner: connections are not
  /// waited for).
  public let callTimeout: Duration
  /// With several replicas per label, how long an owner may take to answer one export message before
  /// its labels go to another replica, plus 1 s per 20,000 labels (`ClusterExport.answerLimit`).
  public let exportAnswerBase: Duration
  /// How online lookups go to other nodes.
  public let lookups: InternodeLookups
  /// With `.stream`: the streams on which online lookups to other nodes are multiplexed. Whoever
  /// creates the view runs them (`ShardLookupStreams.run`).
  public let lookupStreams: ShardLookupStreams<Transport>?
  /// With `.lane`: the lookup lanes to the other nodes. Whoever creates the view runs them
  /// (`LookupLanes.run`).
  public let lookupLanes: LookupLanes?
  /// This node's own lane server, whose address `Shard.GetLookupLane` reports (nil: none).
  public let laneServer: LookupLaneServer?
  /// How this node's lookups to other nodes went (for `GetStatus`).
  public let lookupCounters = InternodeLookupCounters()

  /// `hosts` maps node ids to the host of their cluster-file address: where a peer's lane is reached
  /// when it listens on every interface.
  public init(
    ring: HashRing, selfID: String, leaderID: String, peers: [String: GRPCClient<Transport>],
    addresses: [String: String], callTimeout: Duration = .seconds(30), lookups: InternodeLookups = .unary,
    laneServer: LookupLaneServer? = nil, hosts: [String: String] = [:], placement: ReplicaPlacement? = nil,
    health: PeerHealth = PeerHealth(), hints: (any HintSink)? = nil, registry: (any ClusterRegistry)? = nil,
    transition: PlacementTransition? = nil, members: [String]? = nil, membership: (any MembershipControl)? = nil,
    idempotency: (any IdempotencyKeys)? = nil, exportAnswerBase: Duration = .seconds(5)
  ) {
    self.exportAnswerBase = exportAnswerBase
    self.membership = membership
    self.registry = registry
    self.idempotency = idempotency
    self.transition = transition
    self.moves = transition.flatMap { $0.phase == .dualWrite ? ($0.new.ring.epoch, MovedRanges($0)) : nil }
    self.members = members ?? ring.nodes
    self.ring = ring
    // Without a placement, one copy per entity (its primary): replication factor 1.
    self.placement = placement ?? (try! ReplicaPlacement(ring: ring, replicationFactor: 1))
    self.health = health
    self.hints = hints
    self.selfID = selfID
    self.leaderID = leaderID
    self.peers = peers
    self.addresses = addresses
    self.callTimeout = callTimeout
    self.lookups = lookups
    self.laneServer = laneServer
    var m = Metadata()
    m.addString(String(ring.epoch), forKey: RingEpochInterceptor.header)
    let others = peers.filter { $0.key != selfID }
    self.lookupStreams = lookups == .stream ? ShardLookupStreams(peers: others.mapValues { Strata_V1_Shard.Client(wrapping: $0) }, metadata: m) : nil
    if lookups == .lane {
      let metadata = m
      let peerHosts = Dictionary(uniqueKeysWithValues: others.keys.map { ($0, hosts[$0] ?? "") })
      self.lookupLanes = LookupLanes(epoch: ring.epoch, hosts: peerHosts) { node in
        guard let peer = others[node].map(Strata_V1_Shard.Client.init(wrapping:)) else {
          throw RPCError(code: .internalError, message: "no client for cluster node \(node)")
        }
        var options = CallOptions.defaults
        options.waitForReady = false
        options.timeout = .seconds(2)
        let lane = try await peer.getLookupLane(.init(), metadata: metadata, options: options)
        return (lane.host, Int(lane.port))
      }
    } else {
      self.lookupLanes = nil
    }
  }

  /// Where a write of rows of `entityIDs` (one per row) goes now: during a membership change's dual
  /// writes, each row to its old and its new replicas, a quorum of each (`ReplicaPlan(entityIDs:transition:)`);
  /// otherwise to its replicas.
  public func writePlan(entityIDs: [String]) -> ReplicaPlan {
    transition.map { ReplicaPlan(entityIDs: entityIDs, transition: $0) }
      ?? ReplicaPlan(entityIDs: entityIDs, placement: placement)
  }

  public var metadata: Metadata {
    var m = Metadata()
    m.addString(String(ring.epoch), forKey: RingEpochInterceptor.header)
    return m
  }

  /// Options of an internode call: fail at once when the node is unreachable, bounded in time by
  /// the call timeout or, when sooner, the deadline of the client call being served
  /// (`CallerDeadline`), which the owner then receives as its own `grpc-timeout`.
  public var options: CallOptions {
    var o = CallOptions.defaults
    o.waitForReady = false
    o.timeout = timeout
    return o
  }

  /// The time an internode call may take now: the call timeout, or the time left until the
  /// caller's deadline when that is sooner (never negative).
  public var timeout: Duration {
    guard let left = CallerDeadline.remaining else { return callTimeout }
    return max(.zero, min(callTimeout, left))
  }

  /// "n2 (127.0.0.1:7402)".
  public func describe(_ node: String) -> String {
    addresses[node].map { "\(node) (\($0))" } ?? node
  }

  /// The client of `node`; INTERNAL if the ring names a node without one (a configuration bug).
  public func peer(_ node: String) throws -> Strata_V1_Shard.Client<Transport> {
    Strata_V1_Shard.Client(wrapping: try grpcClient(node))
  }

  /// The gRPC client under `peer(node)`, for calls with hand-made serializers (messages decoded off the
  /// cooperative pool); INTERNAL like `peer`.
  public func grpcClient(_ node: String) throws -> GRPCClient<Transport> {
    guard let peer = peers[node] else { throw StrataError.internalError("no client for cluster node \(node)") }
    return peer
  }

  /// `error` from a call to `node`, as the coordinator reports it: UNAVAILABLE naming the node for
  /// transport failures and timeouts, the node's own status otherwise.
  public func failure(_ error: any Error, node: String) -> RPCError {
    if CallerDeadline.hasPassed {
      return nodeError(
        .deadlineExceeded, "the call's deadline passed while waiting for cluster node \(describe(node))",
        reason: .deadline, node: node)
    }
    if let rpc = error as? RPCError {
      if NodeFailure.details(of: rpc) != nil { return rpc }  // already names the node that failed
      switch rpc.code {
      case .unavailable, .deadlineExceeded, .cancelled, .unknown:
        return nodeError(.unavailable, "cluster node \(describe(node)) is unavailable: \(rpc.message)", reason: .unavailable, node: node)
      default:
        return nodeError(rpc.code, "\(rpc.message) (from cluster node \(describe(node)))", reason: .error, node: node)
      }
    }
    return nodeError(.unavailable, "cluster node \(describe(node)) failed: \(error)", reason: .unavailable, node: node)
  }

  /// An error caused by `node`, with `NodeFailure` details naming it.
  public func nodeError(_ code: RPCError.Code, _ message: String, reason: NodeFailure.Reason, node: String) -> RPCError {
    NodeFailure.error(code, message, reason: reason, node: node, address: addresses[node])
  }
}

/// Keeps the part of a write that a replica did not acknowledge, to deliver it later (hinted handoff).
public protocol HintSink: Sendable {
  /// Keeps `part` (rows for `node`, with their write ids) durably until `node` stores it. Called after
  /// `node` failed the write or did not answer in time.
  func keep(_ part: Strata_V1_WriteFeaturesRequest, for node: String) async
  /// Rows kept for `node` and not yet delivered.
  func pendingRows(for node: String) -> UInt64
  /// A call to `node` just succeeded (its hints may be replayed now).
  func answered(_ node: String)
  /// Stores `intent` durably before its parts are sent; returns what to pass to `settled` once every
  /// target answered or got a hint (nil: nothing was stored). A process that stops in between finds it
  /// when it starts again and keeps its parts as hints.
  func intend(_ intent: WriteIntent) async -> UInt64?
  /// Every target of the intent `id` answered or got a hint: it is removed.
  func settled(_ id: UInt64) async
}

extension HintSink {
  public func answered(_ node: String) {}
  public func intend(_ intent: WriteIntent) async -> UInt64? { nil }
  public func settled(_ id: UInt64) async {}
}

/// Online lookups a coordinator sent to other nodes since it started, by the way they went.
public final class InternodeLookupCounters: Sendable {
  private let lanes = Atomic<UInt64>(0)
  private let grpc = Atomic<UInt64>(0)

  public init() {}

  /// Sent on lookup lanes.
  public var onLanes: UInt64 { lanes.load(ordering: .relaxed) }
  /// Sent over gRPC: lookup streams, unary calls, and the fallback while a lane is not connected.
  public var overGRPC: UInt64 { grpc.load(ordering: .relaxed) }

  func countLane() { lanes.add(1, ordering: .relaxed) }
  func countGRPC() { grpc.add(1, ordering: .relaxed) }
}

/// How a coordinator sends its online lookups to the other nodes.
public enum InternodeLookups: String, Sendable, CaseIterable {
  /// On each peer's lookup lane (`LookupLanes`), falling back to a unary call while it is not
  /// connected. The default: the cheapest.
  case lane
  /// Multiplexed on one long-lived gRPC stream per peer (`ShardLookupStreams`), falling back to a
  /// unary call while it is not open.
  case stream
  /// One unary `GetOnline` gRPC call per lookup and owner.
  case unary
}

/// Runs `body` in a task that is cancelled when gRPC cancels the RPC being served (the client's
/// deadline passed, or it cancelled). gRPC signals that through the server context, not by cancelling
/// the handler's task, so without this a coordinator's internode calls (children of `body`) would
/// outlive the client's call until their own timeout.
func cancelledWithRPC<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
  let task = Task { try await body() }
  return try await withRPCCancellationHandler {
    try await withTaskCancellationHandler {
      try await task.value
    } onCancel: {
      task.cancel()
    }
  } onCancelRPC: {
    task.cancel()
  }
}
