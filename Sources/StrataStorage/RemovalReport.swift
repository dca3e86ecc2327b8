/// What `LocalShard.removeEntities(where:)` deleted.
///
/// Counts are of rows that were stored when their batch was written (a row is counted once, however
/// many times it had been delivered). Group versions are keyed by storage id (`FeatureGroup.storageID`),
/// as `LocalShard.writeStats` is; a version with nothing removed is absent.
public struct RemovalReport: Sendable, Equatable {
  /// Distinct entities (by id bytes) that had at least one row removed.
  public var entities: Int
  /// History rows removed, per group version.
  public var historyRowsByGroup: [UInt32: UInt64]
  /// Online rows removed (one per entity and group version), per group version.
  public var onlineRowsByGroup: [UInt32: UInt64]
  /// Engine write batches written (0 when nothing matched).
  public var batches: Int

  public init(entities: Int, historyRowsByGroup: [UInt32: UInt64], onlineRowsByGroup: [UInt32: UInt64], batches: Int) {
    self.entities = entities
    self.historyRowsByGroup = historyRowsByGroup
    self.onlineRowsByGroup = onlineRowsByGroup
    self.batches = batches
  }

  /// Nothing removed.
  public static let empty = RemovalReport(entities: 0, historyRowsByGroup: [:], onlineRowsByGroup: [:], batches: 0)

  /// History rows removed, all group versions.
  public var historyRows: UInt64 { historyRowsByGroup.values.reduce(0, +) }
  /// Online rows removed, all group versions.
  public var onlineRows: UInt64 { onlineRowsByGroup.values.reduce(0, +) }
}
