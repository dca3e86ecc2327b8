internal import StrataCore

// Cleanup after a membership change, run on the bulk threads (`BackgroundThreads.shared`, below
// normal priority) like the repair reads: a removal or a count scans the whole history keyspace.

extension FeatureStore {
  /// Deletes every row (history and online, every group version) of the entities whose token passes
  /// `tokenMatches`: see `LocalShard.removeEntities(where:)` for the batches, the locking and what is
  /// kept consistent. Group versions that lost history rows get their history image rebuilt in the
  /// background when the image policy prebuilds (`HistoryImagePolicy.prebuildAfterQuietSeconds`).
  ///
  /// Stop writing to those tokens first (the cluster moves the range away before cleaning it up):
  /// rows written to them during the removal may stay.
  public func removeEntities(where tokenMatches: @escaping @Sendable (UInt64) -> Bool) async throws -> RemovalReport {
    let shard = self.shard
    let report = try await BackgroundThreads.shared.run { try shard.removeEntities(where: tokenMatches) }
    for group in catalog.allVersions where report.historyRowsByGroup[group.storageID] != nil {
      schedulePrebuild(group)
    }
    return report
  }

  /// The number of history rows, all group versions, of the entities whose token passes `tokenMatches`
  /// (see `LocalShard.historyRowCount(where:)`): how many rows a range move brought to this node.
  public func historyRowCount(where tokenMatches: @escaping @Sendable (UInt64) -> Bool) async throws -> UInt64 {
    let shard = self.shard
    return try await BackgroundThreads.shared.run { try shard.historyRowCount(where: tokenMatches) }
  }
}
