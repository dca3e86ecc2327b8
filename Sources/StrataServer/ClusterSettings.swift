public import StrataCore
public import StrataGRPC
public import StrataCluster
public import StrataMetadata

/// The cluster a node belongs to, as its cluster file describes it (see `cluster/local-3.yaml`).
public struct ClusterSettings: Sendable, Equatable {
  public struct Node: Sendable, Equatable {
    public var id: String
    public var host: String
    /// The public port: the `FeatureStore` service that clients call.
    public var port: Int
    /// The internode port on the same host: the `Shard` service, which only other nodes call. It is a
    /// port of its own so that an operator can firewall it off from clients.
    public var internodePort: Int
    /// The node's zone (rack, availability zone); "" for none. Replicas go to distinct zones first.
    public var zone: String

    public init(id: String, host: String, port: Int, internodePort: Int, zone: String = "") {
      self.id = id
      self.host = host
      self.port = port
      self.internodePort = internodePort
      self.zone = zone
    }

    public var address: String { "\(host):\(port)" }
    public var internodeAddress: String { "\(host):\(internodePort)" }
  }

  /// In file order; the first node is the registry leader.
  public var nodes: [Node]
  /// Which of `nodes` this process is.
  public var selfID: String
  public var epoch: UInt64
  public var virtualNodes: Int
  /// How online lookups go to other nodes: on their lookup lanes (the default), multiplexed on one
  /// gRPC stream per peer, or one unary `GetOnline` call per lookup and owner (the last two for
  /// comparison in benchmarks).
  public var lookups: InternodeLookups
  /// The TCP port of this node's lookup lane (0: any free port; peers ask for it over gRPC).
  public var lanePort: Int
  /// Nodes that hold each entity's rows; nil: `ReplicaPlacement.defaultReplicationFactor` (3, or every
  /// node when there are fewer).
  public var replicationFactor: Int?
  /// How long a read waits for a replica before asking the next one as well; nil: the replica's
  /// recent p99 answer time, between 2 and 250 ms (`PeerHealth`).
  public var hedgeDelay: Duration?
  /// Background anti-entropy repair of this node with its peers every this often (±10%); nil: only
  /// when asked (`strata repair`).
  public var repairInterval: Duration?
  /// Rows a background repair moves per second at most.
  public var repairRowsPerSecond = 20_000
  /// Repair with the peers soon after a start that follows an unclean stop (`CrashRecoveryRepair`).
  public var repairAfterCrash = true
  /// A cluster whose metadata is in etcd: the layout the node joined with, and its etcd revision (the
  /// node then follows the layout, and `nodes` are every participant of a change in progress).
  public var layout: ClusterLayout?
  public var layoutRevision: Int64 = 0
  /// Bytes per second (of row payload) a node receives at most while it takes over token ranges (nil:
  /// unlimited). The default, 0.5 MiB/s, is what kept lookups' p99 within about 2x while a node joined
  /// in `benchmarks/bench-scaleout.sh` on a 2-core machine.
  public var streamBytesPerSecond: Int? = 512 << 10
  /// How long the old copies of moved ranges stay after a membership change switched.
  public var cleanupGrace: Duration = .seconds(300)

  public init(
    nodes: [Node], selfID: String, epoch: UInt64, virtualNodes: Int = HashRing.defaultVirtualNodes,
    lookups: InternodeLookups = .lane, lanePort: Int = 0, replicationFactor: Int? = nil
  ) {
    self.nodes = nodes
    self.selfID = selfID
    self.epoch = epoch
    self.virtualNodes = virtualNodes
    self.lookups = lookups
    self.lanePort = lanePort
    self.replicationFactor = replicationFactor
  }

  public var me: Node? { nodes.first { $0.id == selfID } }

  /// This node's slot in the write ids it assigns (`WriteID`): its position among the node ids in
  /// sorted order, plus one (0 is a single node's). Unique within the cluster file; 1...1023.
  public var writeIDSlot: UInt16 {
    if let slot = layout?.slots[selfID] { return UInt16(clamping: min(slot, Int(WriteID.maxSlot))) }
    let position = nodes.map(\.id).sorted().firstIndex(of: selfID) ?? 0
    return UInt16(clamping: min(position + 1, Int(WriteID.maxSlot)))
  }

  /// The ring these settings describe; INVALID_ARGUMENT naming the problem otherwise.
  public func ring() throws(StrataError) -> HashRing {
    guard me != nil else {
      throw .invalidArgument(
        "--node \(selfID) is not in the cluster file; its nodes are: \(nodes.map(\.id).joined(separator: ", "))")
    }
    guard nodes.count <= Int(WriteID.maxSlot) else {
      throw .invalidArgument("the cluster file lists \(nodes.count) nodes; at most \(WriteID.maxSlot) are supported")
    }
    var seen: [String: String] = [:]
    for node in nodes {
      for (what, address) in [("address", node.address), ("internode port", node.internodeAddress)] {
        if let other = seen[address] {
          throw .invalidArgument(
            "node \(node.id)'s \(what) \(address) is already \(other); every node needs its own address and internode port")
        }
        seen[address] = "\(node.id)'s \(what)"
      }
    }
    return try HashRing(nodes: nodes.map(\.id), virtualNodes: virtualNodes, epoch: epoch)
  }

  /// The peer health tracker of this node's coordinator, with the hedging delay of `hedgeDelay`.
  public func peerHealth() -> PeerHealth {
    guard let hedgeDelay else { return PeerHealth() }
    return PeerHealth(minimumHedge: hedgeDelay, maximumHedge: hedgeDelay, initialHedge: hedgeDelay)
  }

  /// Where entities' replicas live; INVALID_ARGUMENT naming the problem otherwise.
  public func placement() throws(StrataError) -> ReplicaPlacement {
    let ring = try ring()
    let rf = replicationFactor ?? ReplicaPlacement.defaultReplicationFactor(nodeCount: nodes.count)
    guard (1...nodes.count).contains(rf) else {
      throw .invalidArgument(
        "replication_factor is \(rf), but the cluster has \(nodes.count) node\(nodes.count == 1 ? "" : "s"); it must be between 1 and \(nodes.count)")
    }
    return try ReplicaPlacement(
      ring: ring, replicationFactor: rf, zones: Dictionary(uniqueKeysWithValues: nodes.map { ($0.id, $0.zone) }))
  }
}
