/// A cluster's membership and placement as kept in etcd under `<prefix>/layout`: which nodes form the
/// ring, where each one listens, and how entities are placed. Every node builds its ring and its
/// replica placement from this document only, so they all agree.
///
/// A cluster is `forming` until `expectedNodes` nodes have joined, then `active`; the document of an
/// active cluster changes only through membership changes (which move data, and come with scale-out).
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

    public init(id: String, host: String, port: Int, internodePort: Int, zone: String) {
      self.id = id
      self.host = host
      self.port = port
      self.internodePort = internodePort
      self.zone = zone
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
}
