public import StrataCore

/// Where each entity's replicas live: the `replicationFactor` distinct nodes the ring lists for the
/// entity's token, with nodes of distinct zones first.
///
/// - **Without zones** (no node has one): the replicas of a token are `ring.owners(ofToken:replicas:)`:
///   the primary, then the next distinct nodes in ring order.
/// - **With zones:** the nodes are walked in the same ring order from the token's vnode; a first pass
///   keeps each node whose zone no earlier pick has (a node without a zone is a zone of its own), a
///   second pass fills the remaining places with the skipped nodes, in walk order. So a cluster of 3
///   zones with RF 3 keeps one copy per zone, and 2 zones with RF 3 keep 2 + 1. The primary (the first
///   replica) is always the ring's primary.
///
/// The replica list is a function of the ring, the factor and the zones only, so every node computes
/// the same one. It depends on the token's vnode only, so it is computed once per vnode when the
/// placement is made: a lookup is a binary search and an array read (no lock, no allocation).
public final class ReplicaPlacement: Sendable {
  public let ring: HashRing
  /// Replicas per entity: between 1 and the node count.
  public let replicationFactor: Int
  /// Zone per node id (nodes missing or with "" have none).
  public let zones: [String: String]

  /// `table[k]`: the replicas of the tokens whose primary vnode is `k`.
  private let table: [[String]]

  /// The default replication factor for `nodeCount` nodes: 3, or every node when there are fewer.
  public static func defaultReplicationFactor(nodeCount: Int) -> Int { min(3, max(1, nodeCount)) }

  /// Throws `.invalidArgument` unless `1 <= replicationFactor <= ring.nodes.count`.
  public init(ring: HashRing, replicationFactor: Int, zones: [String: String] = [:]) throws(StrataError) {
    guard (1...ring.nodes.count).contains(replicationFactor) else {
      throw .invalidArgument(
        "the replication factor must be between 1 and the number of nodes (\(ring.nodes.count)), got \(replicationFactor)")
    }
    self.ring = ring
    self.replicationFactor = replicationFactor
    let zones = zones.filter { !$0.value.isEmpty }
    self.zones = zones
    table = (0..<ring.vnodeCount).map { k in
      Self.replicas(ofToken: ring.vnodePosition(k), ring: ring, replicationFactor: replicationFactor, zones: zones)
    }
  }

  /// The replicas of `entityID`, primary first.
  public func replicas(of entityID: String) -> [String] {
    replicas(ofToken: EntityToken.of(entityID))
  }

  /// The replicas of `token`, primary first.
  public func replicas(ofToken token: UInt64) -> [String] {
    table[ring.primaryVnode(ofToken: token)]
  }

  /// The rule of the type's documentation, for one token.
  static func replicas(ofToken token: UInt64, ring: HashRing, replicationFactor: Int, zones: [String: String]) -> [String] {
    if zones.isEmpty { return ring.owners(ofToken: token, replicas: replicationFactor) }
    let walk = ring.owners(ofToken: token, replicas: ring.nodes.count)
    var picked: [String] = []
    var skipped: [String] = []
    var seenZones: Set<String> = []
    for node in walk {
      guard picked.count < replicationFactor else { break }
      if let zone = zones[node] {
        if seenZones.insert(zone).inserted { picked.append(node) } else { skipped.append(node) }
      } else {
        picked.append(node)
      }
    }
    for node in skipped where picked.count < replicationFactor { picked.append(node) }
    return picked
  }

  /// How many replicas must answer for `consistency`: ONE 1, QUORUM `RF / 2 + 1`, ALL `RF`.
  public func required(_ consistency: Consistency) -> Int {
    switch consistency {
    case .one: 1
    case .quorum: replicationFactor / 2 + 1
    case .all: replicationFactor
    }
  }
}

/// How many replicas a write must reach, or a read must hear from.
public enum Consistency: String, Sendable, CaseIterable {
  case one = "ONE"
  case quorum = "QUORUM"
  case all = "ALL"
}
