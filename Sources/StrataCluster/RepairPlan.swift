public import StrataStorage

/// Which (bucket, group version) pairs two replicas must exchange rows of, from their digests: those
/// whose digests differ (a pair that one side lacks counts as an empty digest there). Pure: the
/// digests come from `FeatureStore.digests` on this node and from the peer's `Shard.GetDigests`,
/// both filtered to the entities the two nodes replicate.
///
/// For a differing pair, the rows the peer holds are fetched (when it holds any) and merged with the
/// local ones (`RepairMerge`): rows missing here are written here, rows missing there are sent there.
public struct RepairPlan: Sendable, Equatable {
  public struct Item: Sendable, Equatable {
    public var key: BucketGroup
    public var local: HistoryDigest
    public var peer: HistoryDigest

    /// The peer holds rows of the pair: fetch them (some may be missing here).
    public var fetchesFromPeer: Bool { peer.rows > 0 }
    /// This node holds rows of the pair and the peer none: send them all without fetching.
    public var onlyPushes: Bool { peer.rows == 0 }
  }

  /// (bucket, group version) pairs holding rows on either side.
  public let compared: Int
  /// The pairs whose digests differ, in `BucketGroup` order.
  public let items: [Item]

  public init(local: [BucketGroup: HistoryDigest], peer: [BucketGroup: HistoryDigest]) {
    let keys = Set(local.keys).union(peer.keys)
    compared = keys.count
    items = keys.sorted().compactMap { key in
      let l = local[key] ?? HistoryDigest()
      let p = peer[key] ?? HistoryDigest()
      return l == p ? nil : Item(key: key, local: l, peer: p)
    }
  }
}
