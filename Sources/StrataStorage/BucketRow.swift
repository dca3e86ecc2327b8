public import StrataCore

/// One history row of a group version read for repair: the entity, the row, and its `repairKey`.
public struct BucketRow: Sendable, Equatable {
  public var entityID: String
  public var row: StoredRow
  /// The row's history key without its group version (`token idLength id event created writeID`):
  /// the same bytes on every node, and within one group version in the same order as the history
  /// keys, so two replicas' rows of a (bucket, group version) can be merged by it.
  public var repairKey: RepairKey

  public init(entityID: String, row: StoredRow) {
    self.entityID = entityID
    self.row = row
    self.repairKey = Self.repairKey(
      entityID: entityID, eventTime: row.eventTime, createdTime: row.createdTime, writeID: row.sequence)
  }

  /// `repairKey` of a row given by its parts.
  public static func repairKey(entityID: String, eventTime: Timestamp, createdTime: Timestamp, writeID: UInt64) -> RepairKey {
    var w = ByteWriter(capacity: 34 + entityID.utf8.count)
    KeyCodec.appendEntity(entityID, to: &w)
    w.i64Ordered(eventTime.microseconds)
    w.i64Ordered(createdTime.microseconds)
    w.u64BE(writeID)
    return RepairKey(w.bytes)
  }
}

/// One page of `LocalShard.bucketRows`: rows in history key order, and where the next page starts.
public struct BucketRowsPage: Sendable {
  public var rows: [BucketRow]
  /// Pass it as `after` to read the next page; nil when this page reached the end of the bucket.
  public var resumeAfter: [UInt8]?

  public init(rows: [BucketRow], resumeAfter: [UInt8]?) {
    self.rows = rows
    self.resumeAfter = resumeAfter
  }
}
