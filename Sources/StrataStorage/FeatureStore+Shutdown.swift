// Whether the previous process of a data directory stopped cleanly: a marker in the catalog keyspace,
// written at the end of a graceful shutdown and removed when a node starts.

extension FeatureStore {
  static let cleanShutdownKey = Array("meta/clean_shutdown".utf8)

  /// Removes the clean-shutdown marker and returns whether it was missing: the previous process of
  /// this data directory was killed or crashed (or there was none). Call once at start.
  public func startRun() throws -> Bool {
    let engine = shard.engine
    let clean = try engine.get(Self.cleanShutdownKey, in: .catalog) != nil
    if clean {
      var batch = WriteBatch()
      batch.delete(Self.cleanShutdownKey, in: .catalog)
      try engine.write(batch)
    }
    return !clean
  }

  /// Records that this process stops cleanly (at the end of a graceful shutdown). History image
  /// builds still running are stopped first (the process must not exit while they read the engine),
  /// and stream tiles not yet written are written, so that the next start has no journal to replay.
  public func endRunCleanly() throws {
    shard.stopImageBuilds()
    try shard.flushStreamTiles()
    var batch = WriteBatch()
    batch.put(Self.cleanShutdownKey, [1], in: .catalog)
    try shard.engine.write(batch)
  }
}
