internal import StrataCore
internal import Foundation

// Cleanup after a membership change: deleting every row of the entities whose ring token this node
// no longer replicates, and counting history rows by token. Both scan the history keyspace and block:
// call them off the cooperative pool (`FeatureStore.removeEntities`, `FeatureStore.historyRowCount`).

extension LocalShard {
  /// Matching history keys a removal batch aims at (see `removeEntities`).
  static let removalBatchKeys = 4_096

  /// Deletes every history row, online row and stream tile of the entities whose token (`EntityToken.of`,
  /// the first 8 bytes of each of their keys) passes `tokenMatches`, in every group version, and
  /// returns what was deleted.
  ///
  /// One scan of a snapshot of the history keyspace finds the matching tokens without any lock,
  /// calling `tokenMatches` once per token (all keys of a token are adjacent). They are deleted in
  /// engine write batches that close at the first token boundary after `removalBatchKeys` matching
  /// history keys (a token with more than 4 times that many is cut over several batches; a batch also
  /// closes after 16 times that many keys scanned, matching or not), each one atomic and written under
  /// the writer lock, so appends of other entities go on between batches. Under the lock a batch
  /// re-reads its token range from fresh cursors (both keyspaces) and deletes exactly what is stored
  /// then, so the counts are exact and nothing is left half done: for every token, the batch that
  /// finishes it deletes every key of it stored at that moment (tokens first seen there get
  /// `tokenMatches` too).
  ///
  /// Kept consistent in the same batch: the online table (removed entities read as never written),
  /// the history images (removed entities are recorded as written, so exports answer them from storage,
  /// which no longer has them, until the image is rebuilt), and the write statistics:
  /// `writeStats[v].rowsTotal` drops by the history rows deleted (never below 0; `lastWrite` is
  /// unchanged), persisted in the batch as `append` persists them.
  ///
  /// Concurrent appends to matching tokens are the caller's to prevent (stop writing there first):
  /// rows appended to a token after the batch that finished it stay stored, history and online row
  /// alike, as if written after the removal. `tokenMatches` must be deterministic and must not call
  /// into this shard (it may run under the writer lock).
  ///
  /// ```swift
  /// // This node no longer replicates tokens below `boundary`:
  /// let report = try shard.removeEntities { $0 < boundary }
  /// ```
  public func removeEntities(where tokenMatches: (UInt64) -> Bool) throws -> RemovalReport {
    try removeEntities(where: tokenMatches, batchKeys: Self.removalBatchKeys)
  }

  /// `removeEntities(where:)` with batches of about `batchKeys` history keys (tests use small ones).
  func removeEntities(where tokenMatches: (UInt64) -> Bool, batchKeys: Int) throws -> RemovalReport {
    precondition(batchKeys > 0, "a removal batch holds at least one key")
    let hardCap = 4 * batchKeys
    // Keys visited (matching or not) since a batch opened: bounds what it re-reads under the lock.
    let maxSpan = 16 * batchKeys
    var report = RemovalReport.empty
    var previousEntities = Set<[UInt8]>()
    let cursor = try engine.makeCursor(in: .history)
    var lastToken: UInt64?
    var included = false
    var open: RemovalBatch?
    cursor.seek([])
    while cursor.isValid {
      let token = try cursor.withKey { key throws -> UInt64 in
        guard key.count >= 38 else { throw StrataError.internalError("history key too short (\(key.count) bytes)") }
        return Self.u64BE(key, at: 0)
      }
      let newToken = token != lastToken
      if newToken {
        lastToken = token
        included = tokenMatches(token)
      }
      if let batch = open, (newToken && batch.keys >= batchKeys) || batch.keys >= hardCap || batch.span >= maxSpan {
        // Standing inside the batch's last token: cut it here; the next batch resumes at this key.
        let cutAt = !newToken && included ? cursor.key : nil
        report.add(try removeBatch(batch, cutAt: cutAt, tokenMatches: tokenMatches, previousEntities: &previousEntities))
        open = cutAt.map { RemovalBatch(first: token, resumeAt: $0) }
      }
      if newToken, open != nil { open!.verdicts[token] = included }
      if included {
        if open == nil { open = RemovalBatch(first: token, resumeAt: nil) }
        open!.keys += 1
        open!.last = token
      }
      if open != nil { open!.span += 1 }
      cursor.next()
    }
    try cursor.checkStatus()
    if let batch = open {
      report.add(try removeBatch(batch, cutAt: nil, tokenMatches: tokenMatches, previousEntities: &previousEntities))
    }
    return report
  }

  /// Deletes, under the writer lock, every stored key (history and online) of the matching tokens of
  /// `batch`: from the start of token `batch.first` (from `batch.resumeAt` when the batch is cut again
  /// inside that same token) to the end of token `batch.last`, or to `cutAt` (excluded) when the batch
  /// is cut there. `previousEntities`: the entity prefixes of the previous batch, so an entity spread
  /// over several batches counts once.
  private func removeBatch(
    _ batch: RemovalBatch, cutAt: [UInt8]?, tokenMatches: (UInt64) -> Bool, previousEntities: inout Set<[UInt8]>
  ) throws -> RemovalReport {
    var verdicts = batch.verdicts
    let lower: [UInt8]
    if let resumeAt = batch.resumeAt, cutAt != nil, batch.last == batch.first {
      lower = resumeAt
    } else {
      var w = ByteWriter(capacity: 8)
      w.u64BE(batch.first)
      lower = w.bytes
    }
    let last = batch.last
    let outcome = try withWriter { stats throws -> (RemovalReport, Set<[UInt8]>)? in
      var write = WriteBatch()
      var historyRows: [UInt32: UInt64] = [:]
      var onlineRows: [UInt32: UInt64] = [:]
      var tokens: [UInt32: [UInt64]] = [:]
      var onlineKeys: [[UInt8]] = []
      var entities = Set<[UInt8]>()
      for keyspace in [Keyspace.history, .online, .tiles] {
        // History key: entity prefix, then group version and 24 bytes; online key: prefix, then
        // version; tile key: prefix, version, level byte and index (derived from history: not counted).
        let suffix = keyspace == .history ? 28 : keyspace == .tiles ? 13 : 4
        let cursor = try engine.makeCursor(in: keyspace)
        cursor.seek(lower)
        while cursor.isValid {
          let (token, sid, inRange) = try cursor.withKey { key throws -> (UInt64, UInt32, Bool) in
            guard key.count >= 10 + suffix else {
              throw StrataError.internalError("\(keyspace.name) key too short (\(key.count) bytes)")
            }
            let token = Self.u64BE(key, at: 0)
            let sid = Self.u32BE(key, at: key.count - suffix)
            return (token, sid, cutAt.map { Self.compare(key, $0) < 0 } ?? (token <= last))
          }
          guard inRange else { break }
          let matches: Bool
          if let known = verdicts[token] {
            matches = known
          } else {
            matches = tokenMatches(token)
            verdicts[token] = matches
          }
          if matches {
            let key = cursor.key
            entities.insert(Array(key[0..<(key.count - suffix)]))
            write.delete(key, in: keyspace)
            if keyspace == .tiles {
              cursor.next()
              continue
            }
            if keyspace == .history {
              historyRows[sid, default: 0] += 1
            } else {
              onlineRows[sid, default: 0] += 1
              onlineKeys.append(key)
            }
            if tokens[sid]?.last != token { tokens[sid, default: []].append(token) }
          }
          cursor.next()
        }
        try cursor.checkStatus()
      }
      guard !write.isEmpty else { return nil }
      var updated: [UInt32: GroupWriteStats] = [:]
      for (sid, rows) in historyRows {
        guard var s = stats[sid] else { continue }
        s.rowsTotal -= min(rows, s.rowsTotal)
        write.put(Self.statsKey(sid), Self.encodeStats(s), in: .catalog)
        updated[sid] = s
      }
      // Before the rows disappear: an image built from an earlier snapshot must not answer them.
      for (sid, list) in tokens { images.noteWrite(sid, tokens: list) }
      try engine.write(write)
      // Deleted: lookups no longer find the online rows.
      online.remove(onlineKeys)
      stats.merge(updated) { _, new in new }
      let report = RemovalReport(entities: 0, historyRowsByGroup: historyRows, onlineRowsByGroup: onlineRows, batches: 1)
      return (report, entities)
    }
    guard let (batchReport, entities) = outcome else { return .empty }
    var report = batchReport
    report.entities = entities.subtracting(previousEntities).count
    previousEntities = entities
    return report
  }

  /// The number of history rows, all group versions, of the entities whose token passes
  /// `tokenMatches` (called once per token). One scan of a snapshot of the history keyspace.
  public func historyRowCount(where tokenMatches: (UInt64) -> Bool) throws -> UInt64 {
    let cursor = try engine.makeCursor(in: .history)
    var count: UInt64 = 0
    var lastToken: UInt64?
    var included = false
    cursor.seek([])
    while cursor.isValid {
      let token = try cursor.withKey { key throws -> UInt64 in
        guard key.count >= 38 else { throw StrataError.internalError("history key too short (\(key.count) bytes)") }
        return Self.u64BE(key, at: 0)
      }
      if token != lastToken {
        lastToken = token
        included = tokenMatches(token)
      }
      if included { count += 1 }
      cursor.next()
    }
    try cursor.checkStatus()
    return count
  }

  /// Byte-wise comparison (RocksDB's order): negative, zero or positive as `a` sorts before, equal to
  /// or after `b`.
  static func compare(_ a: UnsafeRawBufferPointer, _ b: [UInt8]) -> Int {
    let n = min(a.count, b.count)
    let c = n == 0 ? 0 : b.withUnsafeBytes { pb in memcmp(a.baseAddress!, pb.baseAddress!, n) }
    return c != 0 ? Int(c) : a.count - b.count
  }
}

/// One batch of a removal as the snapshot scan found it: the tokens from `first` to `last` (its last
/// matching token) and their verdicts.
private struct RemovalBatch {
  var first: UInt64
  var last: UInt64
  /// Set when an earlier batch was cut inside token `first`: the key it stopped before.
  var resumeAt: [UInt8]?
  /// Matching history keys seen in the snapshot.
  var keys = 0
  /// Keys seen (matching or not) since the batch opened.
  var span = 0
  /// `tokenMatches` of every token seen since the batch opened.
  var verdicts: [UInt64: Bool]

  init(first: UInt64, resumeAt: [UInt8]?) {
    self.first = first
    self.last = first
    self.resumeAt = resumeAt
    self.verdicts = [first: true]
  }
}

extension RemovalReport {
  /// Adds the counts of a later batch.
  fileprivate mutating func add(_ other: RemovalReport) {
    entities += other.entities
    historyRowsByGroup.merge(other.historyRowsByGroup, uniquingKeysWith: +)
    onlineRowsByGroup.merge(other.onlineRowsByGroup, uniquingKeysWith: +)
    batches += other.batches
  }
}
