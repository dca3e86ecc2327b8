/// What one repair of a node with its peers did (summed over the peers).
public struct RepairReport: Sendable, Equatable {
  /// A peer the repair could not complete with, and why (its other peers were still repaired).
  public struct PeerFailure: Sendable, Equatable {
    public var node: String
    public var message: String

    public init(node: String, message: String) {
      self.node = node
      self.message = message
    }
  }

  /// Peers whose repair completed.
  public var peersRepaired = 0
  /// (bucket, group version) pairs holding rows on either side, summed over peers.
  public var bucketsCompared = 0
  /// Of those, the pairs whose digests differed.
  public var bucketsDiffering = 0
  /// Rows the peers had and this node lacked: written here.
  public var rowsReceived: UInt64 = 0
  /// Rows this node had and a peer lacked: sent there.
  public var rowsSent: UInt64 = 0
  public var peersFailed: [PeerFailure] = []

  public init() {}
}
