/// A cluster's membership and placement as kept in etcd under `<prefix>/layout`: which nodes form the
/// ring, where each one listens, and how entities are placed. Every node builds its ring and its
/// replica placement from this document only, so they all agree.
///
/// A cluster is `forming` until `expectedNodes` nodes have joined, then `active`; the document of an
/// active cluster changes only through membership changes (`change`, docs/scale-out.md). `epoch` and
/// `nodes` are always the ring the cluster routes by: the old one until a change is `switched`, the
/// new one from then on.
public struct ClusterLayout: Codable, Sendable, Equatable {
  public enum State: String, Codable, Sendable { case forming, active }

  public struct Member: Codable, Sendable, Equatable {
    public var id: String
    /// The host other nodes and clients reach the node at.
    public var host: String
    /// The public port (clients).
    public var port: Int
    /// The internode port (other nodes only).
    public var internodePort: Int
    /// "" for none.
    public var zone: String
    /// The node's slot in the write ids it assigns (`WriteID`), unique in the cluster for good; nil in
    /// layouts written before membership changes: then the node's position among the ring's node ids
    /// in sorted order, plus one (`slots`).
    public var slot: Int?

    public init(id: String, host: String, port: Int, internodePort: Int, zone: String, slot: Int? = nil) {
      self.id = id
      self.host = host
      self.port = port
      self.internodePort = internodePort
      self.zone = zone
      self.slot = slot
    }

    public var address: String { "\(host):\(port)" }
  }

  public var state: State
  /// The ring's epoch: 1 when the cluster forms.
  public var epoch: UInt64
  public var virtualNodes: Int
  /// nil: the default for the node count (3, or every node when there are fewer).
  public var replicationFactor: Int?
  /// How many nodes the cluster forms with.
  public var expectedNodes: Int
  /// In the order they joined.
  public var nodes: [Member]
  /// The membership change in progress, if any.
  public var change: MembershipChange?

  public init(
    state: State, epoch: UInt64, virtualNodes: Int, replicationFactor: Int?, expectedNodes: Int, nodes: [Member]
  ) {
    self.state = state
    self.epoch = epoch
    self.virtualNodes = virtualNodes
    self.replicationFactor = replicationFactor
    self.expectedNodes = expectedNodes
    self.nodes = nodes
  }

  public func member(_ id: String) -> Member? { nodes.first { $0.id == id } }

  /// Every node that takes part: the ring's, and during a change those of both rings.
  public var participants: [Member] { change?.allMembers ?? nodes }

  /// Every participant's write-id slot: its own, else its position among the ring's sorted node ids
  /// plus one (how slots were given before they were recorded).
  public var slots: [String: Int] {
    let sorted = nodes.map(\.id).sorted()
    var out: [String: Int] = [:]
    for m in participants { out[m.id] = m.slot ?? ((sorted.firstIndex(of: m.id) ?? 0) + 1) }
    return out
  }

  /// The layout with every member's slot recorded (before a change adds a node, so that no slot moves).
  public func withRecordedSlots() -> ClusterLayout {
    var copy = self
    let slots = self.slots
    for i in copy.nodes.indices { copy.nodes[i].slot = slots[copy.nodes[i].id] }
    return copy
  }

  /// The participant `id`, if any.
  public func participant(_ id: String) -> Member? { participants.first { $0.id == id } }
}
