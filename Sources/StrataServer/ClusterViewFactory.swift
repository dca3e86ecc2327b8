internal import GRPCCore
internal import GRPCNIOTransportHTTP2
internal import StrataCore
internal import StrataCluster
internal import StrataGRPC
internal import StrataMetadata
internal import StrataProto
internal import StrataStorage

/// Builds a node's `ClusterView` from its cluster's layout in etcd, for the layout's ring and, during
/// a membership change, its phase (docs/scale-out.md):
///
/// | phase                   | reads (ring, header epoch) | writes                        | also accepted |
/// |-------------------------|----------------------------|-------------------------------|---------------|
/// | none                    | the ring                   | the ring                      | -             |
/// | dual_write, streaming   | old                        | old ∪ new, a quorum of each   | new epoch     |
/// | read_new                | new                        | old ∪ new, a quorum of each   | old epoch     |
/// | switched, cleanup       | new                        | new                           | old epoch     |
struct ClusterViewFactory: Sendable {
  let selfID: String
  let lookups: InternodeLookups
  let laneServer: LookupLaneServer
  let health: PeerHealth
  let hints: HintedHandoff
  let registry: (any ClusterRegistry)?
  let peers: PeerClients
  let membership: (any MembershipControl)?
  /// The idempotency keys of pushed event batches, in etcd (`EtcdIdempotencyKeys`).
  let idempotency: (any IdempotencyKeys)?

  typealias View = ClusterView<HTTP2ClientTransport.Posix>

  /// The view of `layout`, and the other epoch the node accepts.
  func view(for layout: ClusterLayout) throws -> (View, alsoAccepting: UInt64?) {
    let participants = layout.participants
    let zones = Dictionary(participants.map { ($0.id, $0.zone) }, uniquingKeysWith: { a, _ in a })
    let rf = layout.replicationFactor ?? ReplicaPlacement.defaultReplicationFactor(nodeCount: layout.nodes.count)
    func placement(_ members: [ClusterLayout.Member], epoch: UInt64) throws -> ReplicaPlacement {
      let ring = try HashRing(nodes: members.map(\.id), virtualNodes: layout.virtualNodes, epoch: epoch)
      return try ReplicaPlacement(ring: ring, replicationFactor: min(rf, members.count), zones: zones)
    }
    let read: ReplicaPlacement
    var transition: PlacementTransition?
    var other: UInt64?
    if let change = layout.change {
      let old = try placement(change.from, epoch: change.fromEpoch)
      let new = try placement(change.to, epoch: change.toEpoch)
      switch change.phase {
      case .dualWrite, .streaming:
        transition = try PlacementTransition(old: old, new: new, phase: .dualWrite)
        read = old
        other = change.toEpoch
      case .readNew:
        transition = try PlacementTransition(old: old, new: new, phase: .readNew)
        read = new
        other = change.fromEpoch
      case .switched:
        read = new
        other = change.fromEpoch
      case .cleanup:
        // Every live node applied `switched` (routes by the new ring) before the cleanup began; a call
        // still made with the old ring (a repair or write begun before) could put back a copy the cleanup
        // deletes, so the old epoch is refused from now on (`MembershipWorker.cleanUp` waits for the
        // calls already accepted at it).
        read = new
        other = nil
      }
    } else {
      read = try placement(layout.nodes, epoch: layout.epoch)
    }
    var clients: [String: PeerClients.Client] = [:]
    for m in participants {
      clients[m.id] = try peers.client(for: m.id, host: m.host, internodePort: m.internodePort)
    }
    let view = View(
      ring: read.ring, selfID: selfID, leaderID: layout.nodes[0].id, peers: clients,
      addresses: Dictionary(participants.map { ($0.id, $0.address) }, uniquingKeysWith: { a, _ in a }),
      lookups: lookups, laneServer: laneServer,
      hosts: Dictionary(participants.map { ($0.id, $0.host) }, uniquingKeysWith: { a, _ in a }), placement: read,
      health: health, hints: hints, registry: registry, transition: transition, members: participants.map(\.id),
      membership: membership, idempotency: idempotency)
    return (view, other)
  }
}
