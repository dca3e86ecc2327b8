public import StrataCore

// A stream's retention: deleting the events older than it, with their tiles. Scans the history
// keyspace and blocks: call off the cooperative pool (`FeatureStore.expireStreamEvents`).

extension LocalShard {
  /// Entities whose old events a retention batch deletes at most.
  static let retentionBatchEntities = 512

  /// The first instant a stream with `retentionSeconds` keeps at `now`: `now - retention`, rounded down
  /// to a whole tile of the coarsest width, 1 day (so that every tile is either deleted whole or kept
  /// whole, and stored tiles keep holding exactly the stored events).
  public static func retentionCutoff(now: Timestamp, retentionSeconds: Int64) -> Timestamp {
    let coarsest = StreamTiles.tiling.widths[0]
    // Saturating: a retention too long to express in microseconds keeps everything.
    let (retention, overflow) = retentionSeconds.multipliedReportingOverflow(by: 1_000_000)
    guard !overflow else { return .min }
    let raw = now.subtracting(microseconds: retention)
    return Timestamp(microseconds: AggregationState.tileIndex(of: raw, width: coarsest) * coarsest)
  }

  /// Deletes every event of `stream` with an event time before `cutoff` (a 1-day tile boundary,
  /// `retentionCutoff`), the tiles that end at or before it, and the online row of an entity whose
  /// latest event is before it; `rowsTotal` drops by the events deleted. Returns how many events were
  /// deleted.
  ///
  /// One lock-free scan finds the entities with such events (it seeks from entity to entity, reading
  /// only this stream's old keys); then, in batches of `retentionBatchEntities` entities, each under
  /// the writer lock in one atomic write, every entity's range is read again from fresh cursors and
  /// exactly what is stored then is deleted, so events appended meanwhile are either deleted with their
  /// tiles or kept with them: tiles and events stay in step.
  public func expireEvents(of stream: FeatureGroup, before cutoff: Timestamp) throws -> Int {
    let sid = stream.storageID
    var entities: [[UInt8]] = []
    let cursor = try engine.makeCursor(in: .history)
    cursor.seek([])
    while cursor.isValid {
      let key = cursor.key
      guard key.count >= 10 else { throw StrataError.internalError("history key too short (\(key.count) bytes)") }
      let prefixLength = 10 + Int(UInt16(key[8]) << 8 | UInt16(key[9]))
      guard key.count >= prefixLength + 28 else { throw StrataError.internalError("history key too short (\(key.count) bytes)") }
      let prefix = Array(key[0..<prefixLength])
      let keySID = UInt32(key[prefixLength]) << 24 | UInt32(key[prefixLength + 1]) << 16 | UInt32(key[prefixLength + 2]) << 8 | UInt32(key[prefixLength + 3])
      if keySID < sid {
        var w = ByteWriter(capacity: prefixLength + 4)
        w.append(contentsOf: prefix)
        w.u32BE(sid)
        cursor.seek(w.bytes)
        continue
      }
      if keySID == sid {
        let (event, _, _) = try KeyCodec.decodeHistoryKeySuffix(key)
        if event < cutoff { entities.append(prefix) }
      }
      // Past every key of this entity.
      cursor.seek(prefix + [UInt8](repeating: 0xFF, count: 29))
    }
    try cursor.checkStatus()
    var deleted = 0
    var start = 0
    while start < entities.count {
      let batch = entities[start..<min(start + Self.retentionBatchEntities, entities.count)]
      deleted += try expireBatch(Array(batch), stream: stream, before: cutoff)
      start += batch.count
    }
    return deleted
  }

  private func expireBatch(_ entities: [[UInt8]], stream: FeatureGroup, before cutoff: Timestamp) throws -> Int {
    let sid = stream.storageID
    return try withWriter { stats throws -> Int in
      var write = WriteBatch()
      var deleted = 0
      var onlineKeys: [[UInt8]] = []
      let history = try engine.makeCursor(in: .history)
      let tiles = try engine.makeCursor(in: .tiles)
      for prefix in entities {
        var w = ByteWriter(capacity: prefix.count + 4)
        w.append(contentsOf: prefix)
        w.u32BE(sid)
        let groupPrefix = w.bytes
        history.seek(groupPrefix)
        var latest: [UInt8]?
        while history.isValid, history.key.starts(with: groupPrefix) {
          let key = history.key
          let (event, _, _) = try KeyCodec.decodeHistoryKeySuffix(key)
          if event >= cutoff {
            latest = nil
            break
          }
          write.delete(key, in: .history)
          deleted += 1
          latest = key
          history.next()
        }
        try history.checkStatus()
        // Every event of the entity is gone: so is its online row (the latest of them).
        if latest != nil, !(history.isValid && history.key.starts(with: groupPrefix)) {
          onlineKeys.append(groupPrefix)
          write.delete(groupPrefix, in: .online)
        }
        for (level, width) in StreamTiles.tiling.widths.enumerated() {
          var t = ByteWriter(capacity: groupPrefix.count + 1)
          t.append(contentsOf: groupPrefix)
          t.u8(UInt8(level))
          let levelPrefix = t.bytes
          tiles.seek(levelPrefix)
          while tiles.isValid, tiles.key.starts(with: levelPrefix) {
            let key = tiles.key
            var r = ByteReader(key, offset: levelPrefix.count)
            let index = try r.i64Ordered()
            guard (Int128(index) + 1) * Int128(width) <= Int128(cutoff.microseconds) else { break }
            write.delete(key, in: .tiles)
            tiles.next()
          }
          try tiles.checkStatus()
        }
      }
      guard deleted > 0 else { return 0 }
      if var s = stats[sid] {
        s.rowsTotal -= min(UInt64(deleted), s.rowsTotal)
        write.put(Self.statsKey(sid), Self.encodeStats(s), in: .catalog)
        stats[sid] = s
      }
      images.noteWrite(sid, tokens: entities.map { Self.u64BE(Array($0[0..<8])) })
      try engine.write(write)
      _ = online.remove(onlineKeys)
      return deleted
    }
  }
}
