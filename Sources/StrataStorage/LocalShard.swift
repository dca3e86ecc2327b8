public import StrataCore
internal import Synchronization
internal import Foundation

/// A validated row ready to store for one group version.
public struct RowToStore: Sendable, Equatable {
  public var entityID: String
  public var eventTime: Timestamp
  public var createdTime: Timestamp
  /// One slot per feature of the group version, in definition order.
  public var values: [FeatureValue?]
  /// The row's id, when another node assigned it already (a copy of a row: a replica, a hint, a
  /// repair); nil: this node assigns one from its `WriteIDClock`.
  public var writeID: WriteID?

  public init(
    entityID: String, eventTime: Timestamp, createdTime: Timestamp, values: [FeatureValue?], writeID: WriteID? = nil
  ) {
    self.entityID = entityID
    self.eventTime = eventTime
    self.createdTime = createdTime
    self.values = values
    self.writeID = writeID
  }
}

/// What an append did.
public struct AppendOutcome: Sendable, Equatable {
  /// Rows appended to history (always every row of the batch).
  public var rowsWritten: Int
  /// Rows that lost against the online row stored before the batch (they are in history only).
  public var lateRows: Int

  public init(rowsWritten: Int, lateRows: Int) {
    self.rowsWritten = rowsWritten
    self.lateRows = lateRows
  }
}

/// Persisted write statistics of one group version.
public struct GroupWriteStats: Sendable, Equatable {
  /// The `now` of the latest append (a removal leaves it unchanged).
  public var lastWrite: Timestamp?
  /// The history rows stored: rows appended (a copy of a row already stored, such as a replica's
  /// retry, a hint, a repair or a range transfer, is not counted again), minus the history rows
  /// removed by `removeEntities`.
  public var rowsTotal: UInt64

  public init(lastWrite: Timestamp?, rowsTotal: UInt64) {
    self.lastWrite = lastWrite
    self.rowsTotal = rowsTotal
  }
}

/// The rows this node stores: the append-only history and the online (latest) row per
/// (entity, group version), both in one `StorageEngine`.
///
/// Writes are serialized (one writer at a time) because the online update is a read-compare-replace;
/// each append is one atomic engine write batch containing the history rows, the online rows that won
/// (a stream's are written behind its events with its tiles: `StreamTileBuffer.onlineRows`; lookups
/// read them from `OnlineTable` at once), the greatest write id stored so far and the group's write
/// statistics. Reads never take the writer lock.
/// Rows leave only through `removeEntities` (the token ranges this node no longer replicates).
///
/// Rows are ordered by (event time, created time, write id) (`StoredRow.supersedes`); the write id is
/// the `sequence` of `StoredRow` and of the history key. Storing a row that is already stored (same
/// entity, group version, event time, created time and write id) changes nothing: the history is a
/// set and the online row is the maximum of that order, whatever order copies of rows arrive in.
public final class LocalShard: Sendable {
  public let engine: any StorageEngine
  private let writer: Mutex<WriterState>
  /// Columnar in-memory copies of group histories for exports (see `HistoryImages`).
  let images = HistoryImages()
  /// The whole online keyspace in memory (see `OnlineTable`): lookups and the writer's
  /// read-compare-replace read it instead of the engine.
  let online = OnlineTable()
  /// Online rows of aggregate groups with the interval each stays exact (`AggregateRowCache`):
  /// invalidated per entity by every stored stream batch and cleared by every deletion.
  public let aggregateRows: AggregateRowCache
  /// Set once the node stops (`stopImageBuilds`): image builds give up and none starts.
  private let stopping = Atomic<Bool>(false)
  /// Image builds running now (`imageForJoin`).
  private let buildsRunning = Atomic<Int>(0)

  private struct WriterState {
    var stats: [UInt32: GroupWriteStats]
    /// Recently written stream tiles (`StreamTiles.Cache`), read by the next appends instead of the engine.
    var tiles = StreamTiles.Cache()
    var tilePolicy = StreamTileBuffer.Policy.defaults
  }
  /// Stream tiles changed and not yet written (`StreamTileBuffer`), with the generation of the last
  /// stored write that changed them. Only the writer changes it (holding the writer lock, then this
  /// lock, for the in-memory changes of a write once it is stored); readers take a copy of its tiles
  /// under this lock (`streamReadView`), which shares their storage. The buffer is owned here alone,
  /// so that a write changes its tiles in place: a copy alive when the writer commits (a reader's)
  /// makes the writer copy what it changes instead (`TreeDictionary` copies only the paths it changes).
  /// The writer reads it through `tileBuffer()` and must drop that copy before `commitTiles`.
  private let dirtyTiles: Mutex<StreamTileBuffer>
  /// This node's write-id clock: appends give ids from it to rows that have none, and a coordinator
  /// takes ids from it for the rows it sends to other nodes (`assignWriteIDs`). Its own lock, held for
  /// a few integer operations, never while waiting for the writer.
  private let ids: Mutex<WriteIDClock>

  /// The greatest write id stored (u64be), the floor of the clock after a restart.
  static let lastWriteIDKey = Array("meta/last_write_id".utf8)
  /// Before write ids: the next store-wide sequence number (u64be); read once as the floor.
  static let legacySequenceKey = Array("meta/next_sequence".utf8)
  static let statsPrefix = Array("stats/".utf8)

  /// `writeIDSlot`: this node's slot in the write ids it assigns (0 for a single node; unique per
  /// node in a cluster, see `WriteID`).
  /// `aggregateRowCache`: the capacity of `aggregateRows` (0: online lookups do not use it).
  public init(engine: any StorageEngine, writeIDSlot: UInt16 = 0, aggregateRowCache: Int = AggregateRowCache.defaultCapacity) throws {
    self.engine = engine
    self.aggregateRows = AggregateRowCache(capacity: aggregateRowCache)
    var floor: UInt64 = 0
    for key in [Self.lastWriteIDKey, Self.legacySequenceKey] {
      guard let bytes = try engine.get(key, in: .catalog) else { continue }
      var r = ByteReader(bytes)
      guard let v = try? r.u64BE() else { throw StrataError.internalError("corrupt write id high-water mark in the catalog") }
      floor = v
      break
    }
    var stats: [UInt32: GroupWriteStats] = [:]
    let cursor = try engine.makeCursor(in: .catalog)
    cursor.seek(Self.statsPrefix)
    while cursor.isValid, cursor.key.starts(with: Self.statsPrefix) {
      var kr = ByteReader(cursor.key, offset: Self.statsPrefix.count)
      var vr = ByteReader(cursor.value)
      guard let sid = try? kr.u32BE(), let last = try? vr.i64Ordered(), let rows = try? vr.u64BE() else {
        throw StrataError.internalError("corrupt write statistics in the catalog")
      }
      stats[sid] = GroupWriteStats(lastWrite: last == .min ? nil : Timestamp(microseconds: last), rowsTotal: rows)
      cursor.next()
    }
    ids = Mutex(WriteIDClock(slot: writeIDSlot, floor: WriteID(rawValue: floor)))
    let generation = try StreamTileBuffer.decodeGeneration(try engine.get(StreamTileBuffer.generationKey, in: .catalog))
    writer = Mutex(WriterState(stats: stats))
    dirtyTiles = Mutex(StreamTileBuffer(generation: generation))
    let rows = try engine.makeCursor(in: .online)
    rows.seek([])
    var loaded: [(key: [UInt8], value: [UInt8])] = []
    while rows.isValid {
      loaded.append((rows.key, rows.value))
      if loaded.count == 4_096 {
        online.put(loaded)
        loaded.removeAll(keepingCapacity: true)
      }
      rows.next()
    }
    online.put(loaded)
  }

  /// Appends `rows` to `group`'s history and updates the online rows, atomically.
  ///
  /// A row without a write id gets the next one of this node's clock (in `rows` order; at `now`). A
  /// row replaces the online row of its entity only if it supersedes it on (event, created, write id);
  /// since the clock only grows and starts above every id stored, a row that this node assigns an id
  /// and that is equal on (event, created) to the stored one replaces it (the later write wins). A
  /// row that carries an id moves the clock past it. A row stored twice is stored once.
  public func append(_ rows: [RowToStore], to group: FeatureGroup, now: Timestamp) throws -> AppendOutcome {
    guard !rows.isEmpty else { return AppendOutcome(rowsWritten: 0, lateRows: 0) }
    let dtypes = group.dtypes
    let sid = group.storageID
    return try writer.withLock { state in
      var batch = WriteBatch()
      // Ids for the rows that have none, in one turn of the clock; rows with ids move the clock past them.
      let missing = rows.reduce(0) { $0 + ($1.writeID == nil ? 1 : 0) }
      let greatestGiven = rows.lazy.compactMap(\.writeID).max()
      let (assigned, highWater) = ids.withLock { clock -> ([WriteID], WriteID) in
        if let greatestGiven { clock.observe(greatestGiven) }
        let fresh = (0..<missing).map { _ in clock.next(now: now) }
        return (fresh, clock.last)
      }
      var nextAssigned = 0
      // Per entity, keyed by the online key's bytes: Swift `String` equality is canonical equivalence
      // ("é" precomposed == "e" + combining accent), but entity ids are distinct whenever their UTF-8
      // bytes differ, exactly as storage keys are.
      var slot: [HashedBytes: Int] = [:]
      var onlineKeys: [[UInt8]] = []
      var best: [(row: StoredRow, encoded: [UInt8])] = []
      var rowSlots: [(slot: Int, row: StoredRow)] = []
      rowSlots.reserveCapacity(rows.count)
      var history: [(key: [UInt8], value: [UInt8], row: Int)] = []
      history.reserveCapacity(rows.count)
      for (r, row) in rows.enumerated() {
        let seq: UInt64
        if let given = row.writeID {
          seq = given.rawValue
        } else {
          seq = assigned[nextAssigned].rawValue
          nextAssigned += 1
        }
        let encoded = RowCodec.encode(row.values, dtypes: dtypes)
        history.append((
          KeyCodec.historyKey(
            entityID: row.entityID, groupVersion: sid, eventTime: row.eventTime, createdTime: row.createdTime,
            sequence: seq),
          encoded, r))
        let s = StoredRow(eventTime: row.eventTime, createdTime: row.createdTime, sequence: seq, values: [])
        let key = KeyCodec.onlineKey(entityID: row.entityID, groupVersion: sid)
        if let i = slot[HashedBytes(key)] {
          if s.supersedes(best[i].row) { best[i] = (s, encoded) }
          rowSlots.append((i, s))
        } else {
          slot[HashedBytes(key)] = onlineKeys.count
          rowSlots.append((onlineKeys.count, s))
          onlineKeys.append(key)
          best.append((s, encoded))
        }
      }
      // In key order: RocksDB's memtable (a skip list) inserts a run of ascending keys several times
      // faster than the same keys in random order. Keys the clock assigned are unique; copies (rows with
      // write ids) may repeat a key, which then sorts next to itself (`newRows` counts it once).
      history.sort { Self.precedes($0.key, $1.key) }
      for (key, value, _) in history { batch.put(key, value, in: .history) }
      var previous = [StoredRow?](repeating: nil, count: onlineKeys.count)
      var winners: [(key: [UInt8], value: [UInt8])] = []
      let existing = online.get(onlineKeys)
      for i in onlineKeys.indices {
        if let bytes = existing[i] {
          let old = try OnlineValue.decodeHeader(bytes)
          previous[i] = old
          if !best[i].row.supersedes(old) { continue }
        }
        winners.append((onlineKeys[i], OnlineValue.encode(best[i].row, encodedValues: best[i].encoded)))
      }
      var late = 0
      for (i, row) in rowSlots {
        if let old = previous[i], !row.supersedes(old) { late += 1 }
      }
      // Which rows this node did not store before: all of them unless some are copies (write ids given).
      let isStream = group.spec.source == .events
      let fresh = greatestGiven == nil ? nil : try newRows(rows, sortedHistory: history, slots: rowSlots, previous: previous)
      let added = fresh.map { $0.reduce(0) { $0 + ($1 ? 1 : 0) } } ?? rows.count
      var tileUpdates: [(key: [UInt8], change: StreamTileBuffer.Change)] = []
      // The dirty tiles as they are now: a copy, dropped (`consume`) before `commitTiles` below, which
      // then changes the buffer in place.
      let buffer = tileBuffer()
      let tileGeneration = buffer.generation + 1
      let tileJournalKey = StreamTileBuffer.journalKey(tileGeneration)
      var tilesDue = StreamTileBuffer.Due.none
      let instant = ContinuousClock.now
      // A stream's events stored for the first time (what its tiles and its image's delta add).
      var events: [StreamTiles.NewEvent] = []
      if isStream && added > 0 {
        // A stream's new events go into their tiles, written behind them (`StreamTileBuffer`): this
        // batch stores a journal record of the events instead, and the buffer's new generation.
        events.reserveCapacity(added)
        var journaled: [[UInt8]] = []
        journaled.reserveCapacity(added)
        for (key, _, r) in history where fresh?[r] ?? true {
          var row = rowSlots[r].row
          row.values = rows[r].values
          // The online row is the entity's latest stored event (retention and removals delete it
          // with the entity's last event), so no stored event, and no tile, lies after it.
          events.append((rows[r].entityID, row, previous[rowSlots[r].slot]?.eventTime))
          journaled.append(key)
        }
        tileUpdates = try StreamTiles.add(
          events, stream: group, engine: engine, buffer: buffer, cache: state.tiles)
        // The oldest dirty tiles due go with this write, and the journal records they release
        // (`StreamTileBuffer.due`).
        tilesDue = buffer.due(state.tilePolicy, now: instant, updates: tileUpdates)
        if !tilesDue.all {
          batch.put(tileJournalKey, StreamTileBuffer.encodeJournal(stream: sid, historyKeys: journaled), in: .catalog)
        }
        for (key, value) in tilesDue.puts { batch.put(key, value, in: .tiles) }
        for key in tilesDue.released { batch.delete(key, in: .catalog) }
        batch.put(StreamTileBuffer.generationKey, StreamTileBuffer.encodeGeneration(tileGeneration), in: .catalog)
      }
      winners.sort { Self.precedes($0.key, $1.key) }
      // A stream's online rows are written behind, like its tiles: a batch that stores a journal
      // record (which covers them) keeps them pending, and writes the pending rows of the records it
      // deletes.
      let defersOnline = isStream && added > 0 && !tilesDue.all
      for (key, value) in isStream ? buffer.onlinePuts(tilesDue, winners: winners, deferring: defersOnline) : winners {
        batch.put(key, value, in: .online)
      }
      _ = consume buffer
      var seqBytes = ByteWriter(capacity: 8)
      seqBytes.u64BE(highWater.rawValue)
      batch.put(Self.lastWriteIDKey, seqBytes.bytes, in: .catalog)
      var stats = state.stats[sid] ?? GroupWriteStats(lastWrite: nil, rowsTotal: 0)
      stats.lastWrite = now
      stats.rowsTotal += UInt64(added)
      batch.put(Self.statsKey(sid), Self.encodeStats(stats), in: .catalog)

      // Before the rows become visible: an image built from an earlier snapshot must not answer them.
      // A stream's image holds the events a write stored beside it from the write's end on.
      let tokens = rows.lazy.map { EntityToken.of($0.entityID) }
      if !isStream { images.noteWrite(sid, tokens: tokens) }
      do {
        try engine.write(batch)
      } catch {
        if isStream { images.noteWrite(sid, tokens: tokens) }
        throw error
      }
      if isStream { images.addStreamEvents(sid, stored: events) }
      if isStream {
        state.tiles.store(tilesDue.puts)
        let journalKey = tilesDue.all ? nil : tileJournalKey
        commitTiles { buffer in
          let replaced =
            added > 0
            ? buffer.commit(tileUpdates, journalKey: journalKey, due: tilesDue, generation: tileGeneration, now: instant) : nil
          if defersOnline {
            buffer.deferOnlineRows(winners, generation: tileGeneration)
          } else {
            buffer.wroteOnlineRows(winners.lazy.map(\.key))
          }
          return replaced
        }
      }
      if isStream { aggregateRows.invalidate(stream: sid, entityIDs: rows.lazy.map(\.entityID)) }
      // Stored: lookups see the new online rows from here (before the write is acknowledged).
      online.put(winners)
      state.stats[sid] = stats
      return AppendOutcome(rowsWritten: rows.count, lateRows: late)
    }
  }

  /// Which of `rows` are not stored yet (what `rowsTotal` counts, and what a stream's tiles add), by
  /// row index. A row without a write id is new. A copy (a replica's retry, a hint, a repair or a
  /// range transfer) is stored already when the same row came earlier in the batch (its key then sorts
  /// next to the earlier one's in `sortedHistory`: exactly one of them counts), when it is the entity's
  /// online row, or, when it is older than the online row, when history holds its key (one engine read
  /// for those rows only; the memtables' bloom filters answer most of them). A copy newer than the
  /// online row cannot be stored: the online row is the greatest stored. Runs under the writer lock.
  private func newRows(
    _ rows: [RowToStore], sortedHistory history: [(key: [UInt8], value: [UInt8], row: Int)],
    slots: [(slot: Int, row: StoredRow)], previous: [StoredRow?]
  ) throws -> [Bool] {
    var fresh = [Bool](repeating: false, count: rows.count)
    var lookups: [[UInt8]] = []
    var lookupRows: [Int] = []
    for h in history.indices {
      let r = history[h].row
      guard rows[r].writeID != nil else {
        fresh[r] = true
        continue
      }
      if h > 0 && history[h - 1].key == history[h].key { continue }
      let (i, row) = slots[r]
      if let old = previous[i] {
        if row.eventTime == old.eventTime && row.createdTime == old.createdTime && row.sequence == old.sequence { continue }
        if !row.supersedes(old) {
          lookups.append(history[h].key)
          lookupRows.append(r)
          continue
        }
      }
      fresh[r] = true
    }
    if !lookups.isEmpty {
      for (k, stored) in try engine.multiGet(lookups, in: .history).enumerated() where stored == nil { fresh[lookupRows[k]] = true }
    }
    return fresh
  }

  /// The next `count` ids of this node's write-id clock at `now` (for rows this node accepted and sends
  /// to the nodes that store them).
  public func assignWriteIDs(_ count: Int, now: Timestamp) -> [WriteID] {
    ids.withLock { clock in (0..<count).map { _ in clock.next(now: now) } }
  }

  /// Reserves a block of `count` write ids at `now` (`WriteIDClock.reserve`) and stores what `record`
  /// makes of the block's first id, in one engine write with the clock's new high-water mark, under
  /// the writer lock (so that the stored high-water mark only grows and a restarted clock never
  /// hands out an id of the block again).
  func reserveWriteIDs(_ count: Int, now: Timestamp, recording record: (WriteID) -> WriteBatch) throws -> WriteID {
    try writer.withLock { _ in
      let (first, highWater) = ids.withLock { clock in (clock.reserve(count, now: now), clock.last) }
      var batch = record(first)
      var seqBytes = ByteWriter(capacity: 8)
      seqBytes.u64BE(highWater.rawValue)
      batch.put(Self.lastWriteIDKey, seqBytes.bytes, in: .catalog)
      try engine.write(batch)
      return first
    }
  }

  /// Returns free heap memory to the system: with jemalloc (the `strata` executable's allocator) a
  /// purge of every arena (`mallctl("arena.<MALLCTL_ARENAS_ALL>.purge")`), else glibc's
  /// `malloc_trim(0)`; both looked up at run time (the Glibc module exports neither); nothing where
  /// neither exists.
  static func returnFreedMemory() {
    #if os(Linux)
      typealias Mallctl = @convention(c) (
        UnsafePointer<CChar>?, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?, UnsafeMutableRawPointer?, Int
      ) -> Int32
      if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallctl") {
        _ = unsafeBitCast(symbol, to: Mallctl.self)("arena.4096.purge", nil, nil, nil, 0)
        return
      }
      typealias MallocTrim = @convention(c) (Int) -> Int32
      guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
      _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
    #endif
  }

  /// Online rows held in memory (one per entity and group version written).
  public var onlineRowsInMemory: Int { online.count }
  /// Bytes of the in-memory online rows' arenas (keys, values and not yet compacted garbage).
  public var onlineBytesInMemory: Int { online.arenaBytes }

  /// Byte-wise lexicographic order (RocksDB's default comparator).
  static func precedes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    let n = min(a.count, b.count)
    let c = a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in memcmp(pa.baseAddress!, pb.baseAddress!, n) } }
    return c != 0 ? c < 0 : a.count < b.count
  }

  /// The online row of each entity for `group`, in `entityIDs` order (nil = never written).
  public func onlineRows(entityIDs: [String], group: FeatureGroup) throws -> [StoredRow?] {
    let dtypes = group.dtypes
    let values = online.get(entityIDs.map { KeyCodec.onlineKey(entityID: $0, groupVersion: group.storageID) })
    return try values.map { bytes throws -> StoredRow? in
      guard let bytes else { return nil }
      return try OnlineValue.decode(bytes, dtypes: dtypes)
    }
  }

  /// For each probe, the history row of `group` with the greatest (event, created, sequence) whose
  /// `event <= asOf` (and `created <= knownAt` when the probe has one), or nil. Answers in probe order.
  /// See `AsOfJoin` for how (one seek per entity run, `parallelism` threads for large chunks).
  public func rowsAsOf(_ probes: [AsOfProbe], group: FeatureGroup, parallelism: Int = 1) throws -> [StoredRow?] {
    try AsOfJoin(engine: engine, group: group).run(probes, parallelism: parallelism)
  }

  /// The history image of `group` for a join of a chunk of `labels` labels: the current one, after
  /// building it first (on this thread, one scan of the history keyspace) when `policy` says a build is
  /// due. nil when there is none (disabled, too large, or too few labels to justify a build).
  func imageForJoin(_ group: FeatureGroup, labels: Int, policy: HistoryImagePolicy) throws -> HistoryImages.Use? {
    guard policy.budgetBytes > 0 else { return nil }
    let sid = group.storageID
    let rows = writeStats[sid]?.rowsTotal ?? 0
    let estimate = Int(clamping: rows) &* HistoryImage.bytesPerRow(group.dtypes)
    var (use, build, building) = images.current(sid, labels: labels, policy: policy, rowsTotal: rows, estimate: estimate)
    // Another thread is building the image this chunk wants (a background build after writes, or
    // another export): waiting for it costs less than reading storage.
    while building {
      usleep(2_000)
      (use, build, building) = images.current(sid, labels: labels, policy: policy, rowsTotal: rows, estimate: estimate)
    }
    guard build else { return use }
    // Counted before `stopping` is read (and `stopImageBuilds` sets it before it reads the count):
    // a build either sees the stop or is waited for.
    buildsRunning.wrappingAdd(1, ordering: .sequentiallyConsistent)
    defer { buildsRunning.wrappingSubtract(1, ordering: .sequentiallyConsistent) }
    guard !stopping.load(ordering: .sequentiallyConsistent) else {
      images.abandonBuild(sid, tooLargeAtRows: nil)
      return use
    }
    let cursor: any StorageCursor
    do {
      cursor = try writer.withLock { _ in
        images.beginBuild(sid)
        return try engine.makeCursor(in: .history)
      }
    } catch {
      images.abandonBuild(sid, tooLargeAtRows: nil)
      throw error
    }
    // A build allocates and frees far more than the image it keeps (growing arrays, decoded rows):
    // hand the freed memory back to the system instead of leaving it in malloc's free lists.
    defer { Self.returnFreedMemory() }
    do {
      let image = try HistoryImage.build(
        from: cursor, group: group, expectedRows: Int(clamping: rows), maxBytes: policy.budgetBytes,
        stop: { self.stopping.load(ordering: .relaxed) })
      return images.finishBuild(sid, image: image, budget: policy.budgetBytes)
    } catch let error as StrataError where error.code == .resourceExhausted {
      images.abandonBuild(sid, tooLargeAtRows: rows)
      return use
    } catch {
      images.abandonBuild(sid, tooLargeAtRows: nil)
      throw error
    }
  }

  /// Makes the image builds running on other threads give up, keeps new ones from starting, and
  /// waits until none runs (at most `timeout`). For a node that stops: a build (a background one
  /// starts after 1 s without writes) still reading the engine when the process exits aborts inside
  /// RocksDB. Returns whether none runs.
  @discardableResult
  public func stopImageBuilds(timeout: Duration = .seconds(30)) -> Bool {
    stopping.store(true, ordering: .sequentiallyConsistent)
    let deadline = ContinuousClock.now + timeout
    while buildsRunning.load(ordering: .sequentiallyConsistent) > 0 {
      guard ContinuousClock.now < deadline else { return false }
      usleep(5_000)
    }
    return true
  }

  /// `rowsAsOf` for probes without a known-at time.
  public func rowsAsOf(_ probes: [(entityID: String, asOf: Timestamp)], group: FeatureGroup) throws -> [StoredRow?] {
    try rowsAsOf(probes.map { AsOfProbe(entityID: $0.entityID, asOf: $0.asOf) }, group: group)
  }

  /// Every history row of (entity, group), ascending by (event, created, sequence).
  public func history(entityID: String, group: FeatureGroup) throws -> [StoredRow] {
    let cursor = try engine.makeCursor(in: .history)
    let prefix = KeyCodec.historyPrefix(entityID: entityID, groupVersion: group.storageID)
    let dtypes = group.dtypes
    var out: [StoredRow] = []
    cursor.seek(prefix)
    while cursor.isValid, cursor.key.starts(with: prefix) {
      let (event, created, seq) = try KeyCodec.decodeHistoryKeySuffix(cursor.key)
      out.append(StoredRow(eventTime: event, createdTime: created, sequence: seq, values: try RowCodec.decode(cursor.value, dtypes: dtypes)))
      cursor.next()
    }
    try cursor.checkStatus()
    return out
  }

  /// The events of (entity, stream version) with event times in `eventTimes`, in event order.
  /// One seek and a scan of exactly those events.
  public func events(entityID: String, stream: FeatureGroup, eventTimes: ClosedRange<Timestamp>) throws -> [StoredRow] {
    try Self.events(entityID: entityID, stream: stream, eventTimes: eventTimes, cursor: try engine.makeCursor(in: .history))
  }

  /// `events(entityID:stream:eventTimes:)` through `cursor` (a history cursor, repositioned).
  static func events(
    entityID: String, stream: FeatureGroup, eventTimes: ClosedRange<Timestamp>, cursor: any StorageCursor, limit: Int = .max
  ) throws -> [StoredRow] {
    let prefix = KeyCodec.historyPrefix(entityID: entityID, groupVersion: stream.storageID)
    var start = ByteWriter(capacity: prefix.count + 8)
    start.append(contentsOf: prefix)
    start.i64Ordered(eventTimes.lowerBound.microseconds)
    let dtypes = stream.dtypes
    var rows: [StoredRow] = []
    cursor.seek(start.bytes)
    while cursor.isValid, cursor.key.starts(with: prefix) {
      let (event, created, seq) = try KeyCodec.decodeHistoryKeySuffix(cursor.key)
      if event > eventTimes.upperBound || rows.count == limit { break }
      rows.append(StoredRow(eventTime: event, createdTime: created, sequence: seq, values: try RowCodec.decode(cursor.value, dtypes: dtypes)))
      cursor.next()
    }
    try cursor.checkStatus()
    return rows
  }

  /// Persisted write statistics per group storage id.
  public var writeStats: [UInt32: GroupWriteStats] {
    writer.withLock { $0.stats }
  }

  /// Runs `body` holding the writer lock, with the write statistics to update: for the writes that
  /// extensions make (`removeEntities`). Appends wait meanwhile; reads do not. `body` must not call
  /// back into the writer (the lock is not reentrant). Dirty stream tiles are written first, so that
  /// `body` finds every tile stored.
  func withWriter<R: Sendable>(_ body: (inout [UInt32: GroupWriteStats]) throws -> R) throws -> R {
    try writer.withLock { state in
      try flushStreamTiles(&state)
      // Writers through here delete (removals, retention): the caches must not outlive what they
      // delete (cached aggregate rows are dropped once the deletion is stored).
      state.tiles.clear()
      defer { aggregateRows.clear() }
      return try body(&state.stats)
    }
  }

  /// Writes every dirty stream tile and deletes the journal records that covered them, in one atomic
  /// engine write (`StreamTileBuffer`). Nothing to do when nothing is dirty.
  public func flushStreamTiles() throws {
    try writer.withLock { try flushStreamTiles(&$0) }
  }

  private func flushStreamTiles(_ state: inout WriterState) throws {
    let buffer = tileBuffer()
    guard !buffer.isEmpty else { return }
    let everything = buffer.everything()
    let generation = buffer.generation + 1
    try writeTiles(everything.puts, releasing: everything.released, online: buffer.onlinePuts(everything, winners: []), generation: generation, &state)
    _ = consume buffer
    commitTiles { $0.commit([], journalKey: nil, due: everything, generation: generation, now: .now) }
  }

  /// Writes the dirty stream tiles that the policy finds due with no append to write them (a node
  /// that stopped receiving events): what the next append would write. Returns the tiles written.
  @discardableResult
  public func writeDueStreamTiles() throws -> Int {
    try writer.withLock { state in
      let buffer = tileBuffer()
      let due = buffer.due(state.tilePolicy, now: .now, updates: [])
      guard due.tiles > 0 || !due.released.isEmpty else { return 0 }
      let online = buffer.onlinePuts(due, winners: [])
      let generation = buffer.generation + 1
      _ = consume buffer
      try writeTiles(due.puts, releasing: due.released, online: online, generation: generation, &state)
      commitTiles { $0.commit([], journalKey: nil, due: due, generation: generation, now: .now) }
      return due.puts.count
    }
  }

  /// Writes `puts` (stored tiles) and `online` (stream online rows) and deletes the journal records
  /// `released`, with the tiles' new `generation` (the buffer's next).
  private func writeTiles(
    _ puts: [(key: [UInt8], value: [UInt8])], releasing released: [[UInt8]], online: [(key: [UInt8], value: [UInt8])] = [],
    generation: UInt64, _ state: inout WriterState
  ) throws {
    var batch = WriteBatch()
    for (key, value) in puts { batch.put(key, value, in: .tiles) }
    for (key, value) in online { batch.put(key, value, in: .online) }
    for key in released { batch.delete(key, in: .catalog) }
    batch.put(StreamTileBuffer.generationKey, StreamTileBuffer.encodeGeneration(generation), in: .catalog)
    try engine.write(batch)
    state.tiles.store(puts)
  }

  /// Makes the stream tiles that the journal records a killed process left may have stored short
  /// again: every tile of each (entity, day) with journaled events, from the stored events and the
  /// stored tiles without journaled events under them (`StreamTiles.rebuild`); then writes them and
  /// deletes the records (`StreamTileBuffer`). Call once when a node starts, before it serves.
  /// `stream` resolves a stream version's storage id; a record of a version it does not know is left
  /// for a later start (counted in `skipped`).
  public func replayStreamTileJournal(
    stream: (UInt32) -> FeatureGroup?
  ) throws -> (records: Int, events: Int, skipped: Int) {
    try writer.withLock { state in
      let cursor = try engine.makeCursor(in: .catalog)
      cursor.seek(StreamTileBuffer.journalPrefix)
      var skipped = 0
      var events = 0
      var replayed: [[UInt8]] = []
      // Per stream version and entity, the event times journaled.
      var journaled: [UInt32: [String: [Timestamp]]] = [:]
      while cursor.isValid, cursor.key.starts(with: StreamTileBuffer.journalPrefix) {
        let (sid, keys) = try StreamTileBuffer.decodeJournal(cursor.value)
        if let group = stream(sid), group.spec.source == .events {
          for key in keys {
            let (entityID, _) = try KeyCodec.decodeEntity(key)
            journaled[sid, default: [:]][entityID, default: []].append(try KeyCodec.decodeHistoryKeySuffix(key).0)
          }
          events += keys.count
          replayed.append(cursor.key)
        } else {
          skipped += 1
        }
        cursor.next()
      }
      try cursor.checkStatus()
      guard !replayed.isEmpty else { return (0, 0, skipped) }
      let history = try engine.makeCursor(in: .history)
      var puts: [(key: [UInt8], value: [UInt8])] = []
      var onlineRows: [(key: [UInt8], value: [UInt8])] = []
      for (sid, entities) in journaled {
        let group = stream(sid)!
        for (entityID, times) in entities {
          for (key, tile) in try StreamTiles.rebuild(
            entityID: entityID, stream: group, journaled: times.sorted(), engine: engine, history: history)
          {
            puts.append((key, tile.encoded()))
          }
          if let row = try Self.latestEventAsOnlineRow(entityID: entityID, stream: sid, history: history) { onlineRows.append(row) }
        }
      }
      puts.sort { Self.precedes($0.key, $1.key) }
      onlineRows.sort { Self.precedes($0.key, $1.key) }
      let generation = tileBuffer().generation + 1
      try writeTiles(puts, releasing: replayed, online: onlineRows, generation: generation, &state)
      online.put(onlineRows)
      commitTiles { buffer in
        defer { buffer = StreamTileBuffer(generation: generation) }
        return buffer
      }
      return (replayed.count, events, skipped)
    }
  }

  /// The online row of (entity, stream version) made from its latest stored event (the last history
  /// key under its prefix; history sorts an entity's events by (event, created, write id)), with its
  /// online key: what the appends of a killed process's journaled events left unwritten
  /// (`StreamTileBuffer.onlineRows`). nil when the entity has no event.
  static func latestEventAsOnlineRow(
    entityID: String, stream sid: UInt32, history: any StorageCursor
  ) throws -> (key: [UInt8], value: [UInt8])? {
    let prefix = KeyCodec.historyPrefix(entityID: entityID, groupVersion: sid)
    history.seekForPrev(prefix + [UInt8](repeating: 0xFF, count: 24))
    guard history.isValid, history.key.starts(with: prefix) else {
      try history.checkStatus()
      return nil
    }
    let (event, created, sequence) = try KeyCodec.decodeHistoryKeySuffix(history.key)
    let row = StoredRow(eventTime: event, createdTime: created, sequence: sequence, values: [])
    return (prefix, OnlineValue.encode(row, encodedValues: history.value))
  }

  /// Sets when dirty stream tiles are written (tests: `.immediate` writes them with their events).
  func setStreamTileFlush(_ policy: StreamTileBuffer.Policy) {
    writer.withLock { $0.tilePolicy = policy }
  }

  /// The dirty tiles' buffer as it is now, for the writer (holding the writer lock, nothing else
  /// changes it): a copy sharing its storage, to drop before `commitTiles`.
  private func tileBuffer() -> StreamTileBuffer {
    dirtyTiles.withLock { $0 }
  }

  /// Changes the dirty tiles' buffer (the writer, once the write that `change` follows is stored;
  /// readers see the buffer's new generation and tiles from here). A buffer that `change` returns
  /// (one it replaced: `StreamTileBuffer.commit` of a buffer written whole, every 5 s, which can hold
  /// tens of thousands of tiles) is freed after the lock is released.
  private func commitTiles(_ change: (inout StreamTileBuffer) -> StreamTileBuffer?) {
    let replaced = dirtyTiles.withLock { change(&$0) }
    _ = consume replaced
  }

  /// Cursors over one snapshot of `keyspaces` and the dirty stream tiles at that same point: the
  /// dirty tiles are taken (a copy, `dirtyTiles`), then the snapshot, again until the snapshot holds
  /// their generation (a write stored and not yet committed to the buffer is a few microseconds away
  /// from it). INTERNAL after a second without a match (another process or shard writing the same
  /// engine).
  func streamReadView(_ keyspaces: [Keyspace]) throws -> (cursors: [any StorageCursor], tiles: StreamTileOverlay) {
    var attempts = 0
    let deadline = ContinuousClock.now + .seconds(1)
    while true {
      let overlay = dirtyTiles.withLock { StreamTileOverlay(generation: $0.generation, tiles: $0.tiles) }
      let cursors = try engine.makeCursors(in: keyspaces + [.catalog])
      let catalog = cursors[cursors.count - 1]
      catalog.seek(StreamTileBuffer.generationKey)
      let stored: UInt64
      if catalog.isValid && catalog.key == StreamTileBuffer.generationKey {
        stored = try StreamTileBuffer.decodeGeneration(catalog.value)
      } else {
        try catalog.checkStatus()
        stored = 0
      }
      if stored == overlay.generation { return (Array(cursors.dropLast()), overlay) }
      attempts += 1
      if attempts % 64 == 0 {
        guard ContinuousClock.now < deadline else {
          throw StrataError.internalError(
            "stream tiles: the stored generation \(stored) never matched the dirty tiles' one (\(overlay.generation))")
        }
        sched_yield()
      }
    }
  }

  static func statsKey(_ sid: UInt32) -> [UInt8] {
    var w = ByteWriter(capacity: statsPrefix.count + 4)
    w.append(contentsOf: statsPrefix)
    w.u32BE(sid)
    return w.bytes
  }

  static func encodeStats(_ s: GroupWriteStats) -> [UInt8] {
    var w = ByteWriter(capacity: 16)
    w.i64Ordered(s.lastWrite?.microseconds ?? .min)
    w.u64BE(s.rowsTotal)
    return w.bytes
  }
}

/// Online value layout: `event:i64 created:i64 sequence:u64be` then the `RowCodec` bytes.
enum OnlineValue {
  static func encode(_ row: StoredRow, encodedValues: [UInt8]) -> [UInt8] {
    var w = ByteWriter(capacity: 24 + encodedValues.count)
    w.i64Ordered(row.eventTime.microseconds)
    w.i64Ordered(row.createdTime.microseconds)
    w.u64BE(row.sequence)
    w.append(contentsOf: encodedValues)
    return w.bytes
  }

  /// The ordering triple only (values left empty).
  static func decodeHeader(_ bytes: [UInt8]) throws(StrataError) -> StoredRow {
    var r = ByteReader(bytes)
    do {
      let e = try r.i64Ordered()
      let c = try r.i64Ordered()
      let s = try r.u64BE()
      return StoredRow(eventTime: Timestamp(microseconds: e), createdTime: Timestamp(microseconds: c), sequence: s, values: [])
    } catch {
      throw .internalError("online value does not decode")
    }
  }

  static func decode(_ bytes: [UInt8], dtypes: [DType]) throws(StrataError) -> StoredRow {
    var row = try decodeHeader(bytes)
    row.values = try RowCodec.decode(bytes, from: 24, dtypes: dtypes)
    return row
  }
}
