public import StrataCore

// Anti-entropy repair reads of a store, run on the bulk threads (`BackgroundThreads.shared`, below
// normal priority): a digest pass reads the whole history, and must not hold the cooperative pool or
// take the CPU from online lookups and writes.

extension FeatureStore {
  /// The group versions repair compares, by storage id: every registered version except RETIRED ones
  /// (they accept no writes; their rows are left as they are).
  public var repairableGroups: [UInt32: FeatureGroup] {
    Dictionary(uniqueKeysWithValues: catalog.allVersions.filter { $0.status != .retired }.map { ($0.storageID, $0) })
  }

  /// The digests of every bucket (see `LocalShard.digests`) for the rows of repairable group versions
  /// whose entity's token passes `including`. One pass over the history keyspace, bucket by bucket
  /// (with `within`: over those token ranges only, see `LocalShard.digests`). Empty (bucket, group
  /// version) pairs are absent.
  public func digests(
    including: @escaping @Sendable (UInt64) -> Bool, within: [ClosedRange<UInt64>]? = nil
  ) async throws -> [BucketGroup: HistoryDigest] {
    let shard = self.shard
    let groups = repairableGroups
    return try await BackgroundThreads.shared.run {
      var all: [BucketGroup: HistoryDigest] = [:]
      for bucket in 0..<HistoryDigest.bucketCount {
        all.merge(try shard.digests(bucket: bucket, groups: groups, including: including, within: within)) { a, _ in a }
      }
      return all
    }
  }

  /// One page of the rows of `group` in `bucket` whose entity's token passes `including` (see
  /// `LocalShard.bucketRows`).
  public func bucketRows(
    bucket: Int, group: FeatureGroup, including: @escaping @Sendable (UInt64) -> Bool, after: [UInt8]?, limit: Int,
    within: [ClosedRange<UInt64>]? = nil
  ) async throws -> BucketRowsPage {
    let shard = self.shard
    return try await BackgroundThreads.shared.run {
      try shard.bucketRows(bucket: bucket, group: group, including: including, after: after, limit: limit, within: within)
    }
  }
}
