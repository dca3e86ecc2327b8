public import StrataCore
internal import Synchronization
internal import Foundation
internal import Dispatch

/// A single node's feature store: registry, validation, writes, online and point-in-time reads over a
/// `LocalShard`. Transport-free: the gRPC services are thin adapters over this type.
///
/// Every method either succeeds or throws a `StrataError` having changed nothing.
public final class FeatureStore: Sendable {
  public let shard: LocalShard
  public let registry: RegistryStore
  public let limits: StoreLimits
  let executor: BlockingExecutor
  let clock: @Sendable () -> Timestamp
  private let counters = Mutex(Counters())
  /// When columnar exports build and use in-memory history images.
  public let imagePolicy: HistoryImagePolicy
  /// Background image builds after writes pause (see `HistoryImagePolicy.prebuildAfterQuietSeconds`).
  private let prebuildQueue = DispatchQueue(label: "strata.history-images", qos: .utility)
  /// Per group version with a build scheduled: the time of its latest write.
  private let prebuildState = Mutex([UInt32: DispatchTime]())
  /// Per stream version, whether an image rebuild `rebuildNow` submitted runs, and when the last
  /// ended and how long it took.
  private let deltaRebuilds = Mutex(DeltaRebuilds())

  private struct DeltaRebuilds {
    var running: Set<UInt32> = []
    var last: [UInt32: (ended: ContinuousClock.Instant, took: Duration)] = [:]
  }

  /// Counters since the store was opened.
  public struct Counters: Sendable, Equatable {
    public var rowsWritten: UInt64 = 0
    public var lateRows: UInt64 = 0
    public var onlineLookups: UInt64 = 0
    public var historicalRows: UInt64 = 0
  }

  /// Online lookups of at most this many (entity, group) keys run inline on the calling task; larger
  /// ones on the storage read threads. Online rows are read from memory (`OnlineTable`, well under a
  /// microsecond per key); only rows stored with an event time still in the future read storage.
  static let inlineLookupKeys = 4_096

  /// Threads one historical chunk may use (the machine's cores, at most 8).
  public let joinParallelism = min(8, max(1, ProcessInfo.processInfo.activeProcessorCount))

  public init(
    engine: any StorageEngine,
    limits: StoreLimits = .defaults,
    imagePolicy: HistoryImagePolicy = .defaults,
    writeIDSlot: UInt16 = 0,
    aggregateRowCache: Int = AggregateRowCache.defaultCapacity,
    clock: @escaping @Sendable () -> Timestamp = { Timestamp.now() }
  ) throws {
    self.imagePolicy = imagePolicy
    self.shard = try LocalShard(engine: engine, writeIDSlot: writeIDSlot, aggregateRowCache: aggregateRowCache)
    self.idempotency = IdempotencyLedger(shard: shard)
    self.registry = try RegistryStore(engine: engine)
    // Tiles a killed process had not written yet: added from their journaled events before serving.
    let catalog = registry.catalog
    self.tileJournalReplay = try shard.replayStreamTileJournal { catalog.group(storageID: $0) }
    self.writeLog = try WriteLog(engine: engine)
    self.limits = limits
    self.executor = BlockingExecutor()
    self.clock = clock
  }

  /// What opening the store replayed of the stream tile journal (`LocalShard.replayStreamTileJournal`):
  /// records and events added to their tiles, and records of stream versions the registry does not hold.
  public let tileJournalReplay: (records: Int, events: Int, skipped: Int)

  /// The idempotency keys of the event batches this node accepted (`PushEvents`).
  public let idempotency: IdempotencyLedger
  /// Who wrote each group version through this node (client writes only).
  public let writeLog: WriteLog
  private let lineageObserverBox = Mutex<(any LineageObserver)?>(nil)

  /// What lineage tools are told (nil: nothing); set once when the node starts.
  public var lineageObserver: (any LineageObserver)? {
    get { lineageObserverBox.withLock { $0 } }
    set { lineageObserverBox.withLock { $0 = newValue } }
  }

  public var engineName: String { shard.engine.name }
  /// The store's clock (a cluster coordinator stamps missing created times with it).
  public var now: Timestamp { clock() }
  public var counterValues: Counters { counters.withLock { $0 } }
  public var catalog: Catalog { registry.catalog }
  /// The in-memory history images used by columnar exports.
  public var historyImages: HistoryImageStats { shard.images.summary }
  /// The aggregate row cache's capacity, rows and counters.
  public var aggregateRowCache: AggregateRowCacheStats { shard.aggregateRows.stats }

  // MARK: Registry

  /// Registers definitions; see `Catalog.apply` for the versioning rules.
  public func apply(_ specs: [FeatureGroupSpec]) async throws -> [Catalog.ApplyResult] {
    guard !specs.isEmpty else { throw StrataError.invalidArgument("no feature group definitions to apply") }
    let now = clock()
    let results = try await executor.write { try self.registry.apply(specs, now: now) }
    let registered = results.filter { $0.outcome != .unchanged }.map(\.group)
    if !registered.isEmpty { lineageObserver?.registered(registered, catalog: catalog) }
    return results
  }

  public func setStatus(_ status: GroupStatus, group: String, version: Int, note: StatusNote = StatusNote()) async throws -> FeatureGroup {
    let now = clock()
    return try await executor.write { try self.registry.setStatus(status, group: group, version: version, at: now, note: note) }
  }

  /// Adopts the registry leader's versions (cluster registry sync) if `generation` is newer than this
  /// node's; returns how many versions were added or changed here.
  public func adoptRegistry(_ versions: [FeatureGroup], generation: UInt64, onlyIfNewer: Bool = true) async throws -> Int {
    try await executor.write { try self.registry.adopt(versions, generation: generation, onlyIfNewer: onlyIfNewer).count }
  }

  // MARK: Writes

  /// Validates the whole batch, then appends it atomically. Throws (writing nothing) on the first
  /// problem, naming the row index (0-based within the batch) and the entity.
  /// `writeIDs`: whether rows may carry write ids (`.accept` for copies of rows another node
  /// accepted; clients' rows are refused when they carry one).
  public func write(_ request: WriteRequest, writeIDs: WriteIDPolicy = .refuse) async throws -> AppendOutcome {
    try await write(writeIDs: writeIDs, decoding: { request })
  }

  /// `write` of the request that `decode` makes. Decoding, validation and the append all run on the
  /// writer thread: a large batch then costs the cooperative pool (and the online lookups waiting for
  /// it) nothing. Throws what `decode` throws, unchanged.
  ///
  /// `stamp`: the created time (for rows without one) and write ids the batch's idempotency key
  /// fixed (`IdempotencyLedger`); the rows must carry none themselves.
  public func write(
    writeIDs: WriteIDPolicy = .refuse, stamp: IdempotencyStamp? = nil,
    decoding decode: @escaping @Sendable () throws -> WriteRequest
  ) async throws -> AppendOutcome {
    let clock = self.clock
    let (outcome, group) = try await executor.write { () throws -> (AppendOutcome, FeatureGroup) in
      var request = try decode()
      let now = clock()
      if let stamp {
        guard stamp.count == request.rows.count else {
          throw StrataError.internalError("an idempotency stamp for \(stamp.count) rows given to a batch of \(request.rows.count)")
        }
        for i in request.rows.indices where request.rows[i].createdTime == nil { request.rows[i].createdTime = stamp.createdTime }
      }
      var (group, rows) = try self.validate(request, now: now, writeIDs: writeIDs)
      if let stamp {
        for (i, id) in stamp.writeIDs.enumerated() { rows[i].writeID = id }
      }
      return (try self.append(rows, to: group, writer: request.writer, now: now, logged: writeIDs == .refuse), group)
    }
    finishWrite(outcome, group: group)
    return outcome
  }

  /// On the writer thread: appends validated rows, and, for a client's batch (`logged`; not a copy
  /// another node accepted), records it in the write log once stored. The log is metadata: failing to
  /// record the batch must not fail a write that is stored (a retry would store its rows again), so a
  /// failure only leaves the batch out of the log.
  func append(_ rows: [RowToStore], to group: FeatureGroup, writer: WriterIdentity?, now: Timestamp, logged: Bool) throws -> AppendOutcome {
    let outcome = try shard.append(rows, to: group, now: now)
    if logged {
      let range = Self.eventRange(of: rows.lazy.map(\.eventTime))
      try? writeLog.record(storageID: group.storageID, writer: writer ?? .none, rows: rows.count, events: range, at: now)
      lineageObserver?.wrote(group, writer: writer ?? .none, rows: rows.count, events: range, at: now)
    }
    return outcome
  }

  /// After a write was stored: the counters, and the group's image prebuild.
  func finishWrite(_ outcome: AppendOutcome, group: FeatureGroup) {
    counters.withLock {
      $0.rowsWritten += UInt64(outcome.rowsWritten)
      $0.lateRows += UInt64(outcome.lateRows)
    }
    schedulePrebuild(group)
  }

  /// The event-time range of `rows` (nil when there are none).
  static func eventRange<Times: Sequence<Timestamp>>(of times: Times) -> ClosedRange<Timestamp>? {
    var it = times.makeIterator()
    guard var low = it.next() else { return nil }
    var high = low
    while let t = it.next() {
      low = min(low, t)
      high = max(high, t)
    }
    return low...high
  }

  /// Records a client batch another component stored (a cluster coordinator, once the batch is
  /// acknowledged at its consistency) in this node's write log, on the writer thread.
  public func recordWrite(group: FeatureGroup, writer: WriterIdentity?, rows: [WriteRequest.Row]) async throws {
    let now = clock()
    let range = Self.eventRange(of: rows.lazy.map(\.eventTime))
    let log = writeLog
    let count = rows.count
    try await executor.write { try log.record(storageID: group.storageID, writer: writer ?? .none, rows: count, events: range, at: now) }
    lineageObserver?.wrote(group, writer: writer ?? .none, rows: count, events: range, at: now)
  }

  /// `IdempotencyLedger.claim` on the writer thread (it reads and writes the catalog).
  public func claimIdempotencyKey(_ key: String, digest: UInt64, count: Int) async throws -> IdempotencyClaim {
    let now = clock()
    let ledger = idempotency
    return try await executor.write { try ledger.claim(key: key, digest: digest, count: count, now: now) }
  }

  /// A stamp for a batch of `count` rows recorded elsewhere than this node's catalog
  /// (`IdempotencyKeys`): the current time and a block of `count` write ids of this node's clock,
  /// reserved (the clock's high-water mark stored) on the writer thread.
  public func reserveIdempotencyStamp(count: Int) async throws -> IdempotencyStamp {
    let now = clock()
    let shard = self.shard
    let first = try await executor.write { try shard.reserveWriteIDs(max(count, 1), now: now) { _ in WriteBatch() } }
    return IdempotencyStamp(createdTime: now, firstWriteID: first, count: count)
  }

  /// `IdempotencyLedger.complete` on the writer thread.
  public func completeIdempotencyKey(_ key: String, eventsWritten: UInt64, lateEvents: UInt64) async throws {
    let ledger = idempotency
    try await executor.write { try ledger.complete(key: key, eventsWritten: eventsWritten, lateEvents: lateEvents) }
  }

  /// Schedules the background build of the history image of every stream version that is not
  /// RETIRED and has at least the policy's `prebuildMinRows` events (as a write would): a node
  /// calls it at start, so that online lookups of aggregates (and exports) find their events in
  /// memory without waiting for the next export or push. Returns the stream versions scheduled.
  @discardableResult
  public func prebuildStreamImages() -> Int {
    let stats = shard.writeStats
    let streams = catalog.allVersions.filter {
      $0.spec.source == .events && $0.status != .retired && (stats[$0.storageID]?.rowsTotal ?? 0) >= imagePolicy.prebuildMinRows
    }
    for stream in streams { schedulePrebuild(stream) }
    return imagePolicy.prebuildAfterQuietSeconds == nil || imagePolicy.budgetBytes == 0 ? 0 : streams.count
  }

  /// After a write to `group` (or a removal of its rows): once writes to it pause for the policy's quiet
  /// time, build its image in the background if it has enough rows and none (or a stale one), so the
  /// next export finds it ready.
  func schedulePrebuild(_ group: FeatureGroup) {
    guard let quiet = imagePolicy.prebuildAfterQuietSeconds, imagePolicy.budgetBytes > 0 else { return }
    let sid = group.storageID
    if shard.images.deltaRebuildDue(sid, policy: imagePolicy) { rebuildNow(group) }
    let first = prebuildState.withLock { state in
      defer { state[sid] = .now() }
      return state[sid] == nil
    }
    guard first else { return }
    let delay = DispatchTimeInterval.milliseconds(Int(quiet * 1000))
    prebuildQueue.asyncAfter(deadline: .now() + delay) { [weak self] in self?.prebuildCheck(group, delay: delay) }
  }

  /// Builds `group`'s image in the background now, unless one this store submitted runs, or the last
  /// ended less than `rebuildPauseFactor` times its duration ago: a stream's image whose delta outgrew
  /// the policy's fraction is rebuilt while writes go on, without taking more than about a quarter of
  /// a core from them under a bulk push (the delta grows meanwhile).
  private func rebuildNow(_ group: FeatureGroup) {
    let sid = group.storageID
    let now = ContinuousClock.now
    let claimed = deltaRebuilds.withLock { state in
      if state.running.contains(sid) { return false }
      if let last = state.last[sid], now < last.ended + last.took * Self.rebuildPauseFactor { return false }
      state.running.insert(sid)
      return true
    }
    guard claimed else { return }
    let shard = self.shard
    let policy = imagePolicy
    BackgroundThreads.shared.submit {
      let start = ContinuousClock.now
      _ = try? shard.imageForJoin(group, labels: .max, policy: policy)
      let end = ContinuousClock.now
      self.deltaRebuilds.withLock { state in
        state.running.remove(sid)
        state.last[sid] = (end, end - start)
      }
    }
  }

  /// A delta rebuild waits this many times the last one's duration after it ended.
  static let rebuildPauseFactor = 3

  /// Runs on `prebuildQueue`: builds `group`'s image if its writes have paused for `delay`, else
  /// checks again when they will have.
  private func prebuildCheck(_ group: FeatureGroup, delay: DispatchTimeInterval) {
    let sid = group.storageID
    guard let last = prebuildState.withLock({ $0[sid] }) else { return }
    if DispatchTime.now() < last + delay {
      prebuildQueue.asyncAfter(deadline: last + delay) { [weak self] in self?.prebuildCheck(group, delay: delay) }
      return
    }
    prebuildState.withLock { $0[sid] = nil }
    guard let rows = shard.writeStats[sid]?.rowsTotal, rows >= imagePolicy.prebuildMinRows else { return }
    let shard = self.shard
    let policy = imagePolicy
    BackgroundThreads.shared.submit { _ = try? shard.imageForJoin(group, labels: .max, policy: policy) }
  }

  /// Checks a write batch against the registry and the limits without writing (a cluster coordinator
  /// validates a whole batch before splitting it by owner). Returns the group version and the rows.
  /// Whether a write's rows may carry write ids.
  public enum WriteIDPolicy: Sendable {
    /// A client's rows: one that carries a write id is INVALID_ARGUMENT.
    case refuse
    /// Copies of rows another node accepted and gave ids (internode writes).
    case accept
  }

  /// The next `count` write ids of this node's clock, at `now`: what a coordinator gives the rows of a
  /// batch before it sends them to the nodes that store them.
  public func assignWriteIDs(_ count: Int, now: Timestamp) -> [WriteID] {
    shard.assignWriteIDs(count, now: now)
  }

  public func validate(
    _ request: WriteRequest, now: Timestamp, writeIDs: WriteIDPolicy = .refuse
  ) throws(StrataError) -> (FeatureGroup, [RowToStore]) {
    guard request.rows.count <= limits.maxRowsPerBatch else {
      throw .resourceExhausted(
        "write batch has \(request.rows.count) rows; the limit is \(limits.maxRowsPerBatch) per batch: split it into smaller batches")
    }
    let group = try catalog.group(named: request.group, version: request.version)
    guard group.status != .retired else {
      throw .failedPrecondition("feature group \(group.qualifiedName) is RETIRED and accepts no writes")
    }
    try Self.checkSource(of: group, for: request, writeIDs: writeIDs)
    try request.writer?.validate()
    var slots: [Int] = []
    slots.reserveCapacity(request.features.count)
    var seen = Set<String>()
    for name in request.features {
      guard let index = group.featureIndex(named: name) else {
        let known = group.spec.features.map(\.name).joined(separator: ", ")
        throw .notFound("feature group \(group.qualifiedName) has no feature '\(name)'; its features are: \(known)")
      }
      guard seen.insert(name).inserted else {
        throw .invalidArgument("feature '\(name)' is listed twice in the write batch's columns")
      }
      slots.append(index)
    }
    let latest = now.adding(microseconds: limits.maxClockSkewMicros)
    let features = group.spec.features
    var rows: [RowToStore] = []
    rows.reserveCapacity(request.rows.count)
    for (i, row) in request.rows.enumerated() {
      func fail(_ what: String) -> StrataError {
        .invalidArgument("row \(i) (entity '\(row.entityID.prefix(64))') of the batch for \(group.qualifiedName): \(what)")
      }
      guard !row.entityID.isEmpty else {
        throw .invalidArgument("row \(i) of the batch for \(group.qualifiedName): entity id is empty")
      }
      guard row.entityID.utf8.count <= KeyCodec.maxEntityIDBytes else {
        throw fail("entity id is \(row.entityID.utf8.count) bytes; the limit is \(KeyCodec.maxEntityIDBytes)")
      }
      try Self.checkTime(row.eventTime, field: "event_timestamp", latest: latest, now: now, fail: fail)
      if let created = row.createdTime {
        try Self.checkTime(created, field: "created_timestamp", latest: latest, now: now, fail: fail)
      }
      guard row.values.count == slots.count else {
        throw fail("has \(row.values.count) values but the batch names \(slots.count) features")
      }
      if row.writeID != nil, writeIDs == .refuse {
        throw fail("write_id is set; it is assigned by the node that accepts the row: leave it unset")
      }
      var values = [FeatureValue?](repeating: nil, count: features.count)
      for (column, value) in row.values.enumerated() {
        guard let value else { continue }
        let spec = features[slots[column]]
        switch value.conformance(to: spec.dtype) {
        case .ok: break
        case .typeMismatch:
          throw fail("feature '\(spec.name)' is \(spec.dtype) but the value is \(value.kindName)")
        case .nonFinite:
          throw fail("feature '\(spec.name)' got NaN or an infinite value; send a null for a missing value")
        case .wrongDimension(let got, let expected):
          throw fail("feature '\(spec.name)' is EMBEDDING(\(expected)) but the value has \(got) elements")
        }
        if case .string(let s) = value, s.utf8.count > limits.maxStringBytes {
          throw fail("feature '\(spec.name)' is \(s.utf8.count) bytes; the limit for a string value is \(limits.maxStringBytes)")
        }
        values[slots[column]] = value
      }
      rows.append(
        RowToStore(
          entityID: row.entityID, eventTime: row.eventTime, createdTime: row.createdTime ?? now, values: values,
          writeID: row.writeID))
    }
    return (group, rows)
  }

  /// Rows go to row groups, events to streams (internode copies to either), nothing to aggregate groups.
  static func checkSource(of group: FeatureGroup, for request: WriteRequest, writeIDs: WriteIDPolicy) throws(StrataError) {
    switch group.spec.source {
    case .aggregates(let stream, let version):
      throw .failedPrecondition(
        "\(group.qualifiedName) is computed from stream \(stream)@\(version) and accepts no writes; push events to the stream instead (PushEvents, `strata push --stream \(stream)`)")
    case .events where !request.events && writeIDs == .refuse:
      throw .failedPrecondition(
        "\(group.name) is a stream: push its events with PushEvents (`strata push --stream \(group.name)`, `client.push`), not WriteFeatures")
    case .rows where request.events:
      throw .failedPrecondition("\(group.qualifiedName) is a feature group of written rows, not a stream; write it with WriteFeatures")
    default:
      return
    }
  }

  private static func checkTime(
    _ t: Timestamp, field: String, latest: Timestamp, now: Timestamp, fail: (String) -> StrataError
  ) throws(StrataError) {
    guard t.microseconds >= 0 else { throw fail("\(field) \(t.microseconds)µs is before 1970-01-01") }
    guard t <= latest else {
      throw fail(
        "\(field) \(t) is ahead of the server clock (\(now)) by more than the allowed skew of \((latest.microseconds - now.microseconds) / 1_000_000)s; check the clock or the unit (seconds vs milliseconds)")
    }
  }

  // MARK: Reads

  /// `resolve` for a point-in-time export (new training data): a pinned reference to a DEPRECATED
  /// version is FAILED_PRECONDITION unless `force` (`Catalog.checkExport`).
  public func resolveForExport(_ refs: [FeatureRef], force: Bool) throws(StrataError) -> [ResolvedFeature] {
    let columns = try resolve(refs)
    try catalog.checkExport(of: columns, force: force)
    return columns
  }

  /// Resolves references, enforcing the per-request column limit.
  public func resolve(_ refs: [FeatureRef]) throws(StrataError) -> [ResolvedFeature] {
    let columns = try catalog.resolve(refs)
    guard columns.count <= limits.maxFeaturesPerRequest else {
      throw .resourceExhausted(
        "request expands to \(columns.count) feature columns; the limit is \(limits.maxFeaturesPerRequest)")
    }
    return columns
  }

  /// The latest value of every column for every entity, in request order, with max age checked
  /// against the clock: `vectors[i][j]` is column j of `entityIDs[i]`. "Latest" is the point-in-time
  /// rule at T = now: a stored row whose event time is still in the future (allowed up to the clock
  /// skew limit) is not served before its time.
  public func online(entityIDs: [String], columns: [ResolvedFeature]) async throws -> [[FeatureResult]] {
    try await online(entityIDs: entityIDs, columns: columns, withOrder: false).vectors
  }

  /// `online(entityIDs:columns:)`, and with `withOrder` also the order key of the row that answered
  /// each entity: `orders[g]` is for the `g`-th distinct group version of `columns` (in order of first
  /// appearance there), `orders[g][i]` for `entityIDs[i]` (see `RowOrders`). That row is the entity's
  /// online row, or, when the online row's event time is still in the future, the history row that
  /// answers as of now; an EXPIRED row still counts as found. Without `withOrder`, `orders` is empty.
  public func online(
    entityIDs: [String], columns: [ResolvedFeature], withOrder: Bool
  ) async throws -> (vectors: [[FeatureResult]], orders: [RowOrders]) {
    let lookup = try onlineLookup(entityIDs: entityIDs, columns: columns, withOrder: withOrder)
    let result = lookup.inline ? try lookup.fetch() : try await executor.read(lookup.fetch)
    counters.withLock { $0.onlineLookups += UInt64(entityIDs.count) }
    return result
  }

  /// `online`, answered on the calling thread when the lookup is small enough to run inline (at most
  /// `inlineLookupKeys` entity x group keys, and any aggregate rows all in the aggregate row cache:
  /// it reads the in-memory online table and that cache only, except for rows whose event time is
  /// still in the future); nil when it must go through `online` (the storage read threads). For
  /// callers that cannot suspend, such as network threads.
  public func onlineInline(entityIDs: [String], columns: [ResolvedFeature]) throws -> [[FeatureResult]]? {
    try onlineInline(entityIDs: entityIDs, columns: columns, withOrder: false)?.vectors
  }

  /// `onlineInline(entityIDs:columns:)` with the rows' orders as `online(entityIDs:columns:withOrder:)`
  /// gives them.
  public func onlineInline(
    entityIDs: [String], columns: [ResolvedFeature], withOrder: Bool
  ) throws -> (vectors: [[FeatureResult]], orders: [RowOrders])? {
    let lookup = try onlineLookup(entityIDs: entityIDs, columns: columns, withOrder: withOrder)
    guard lookup.inline else { return nil }
    let result = try lookup.fetch()
    counters.withLock { $0.onlineLookups += UInt64(entityIDs.count) }
    return result
  }

  /// The entity ids of a lookup are acceptable: at least one, at most `maxEntitiesPerLookup`, none
  /// empty. (A cluster coordinator checks this before it splits a lookup over the owners.)
  public func checkLookup(entityIDs: [String]) throws(StrataError) {
    guard !entityIDs.isEmpty else { throw StrataError.invalidArgument("no entity ids given") }
    guard entityIDs.count <= limits.maxEntitiesPerLookup else {
      throw StrataError.resourceExhausted(
        "lookup asks for \(entityIDs.count) entities; the limit is \(limits.maxEntitiesPerLookup) per call: split the request")
    }
    for (i, id) in entityIDs.enumerated() where id.isEmpty {
      throw StrataError.invalidArgument("entity id \(i) of the request is empty")
    }
  }

  /// Checks a lookup and returns the work that answers it (with the rows' orders per distinct group
  /// when `withOrder`), and whether it is small enough to run inline.
  private func onlineLookup(
    entityIDs: [String], columns: [ResolvedFeature], withOrder: Bool
  ) throws(StrataError) -> (inline: Bool, fetch: @Sendable () throws -> (vectors: [[FeatureResult]], orders: [RowOrders])) {
    try checkLookup(entityIDs: entityIDs)
    let groups = Self.distinctGroups(columns)
    let streams = try streamsRead(by: groups)
    let now = clock()
    let shard = self.shard
    // Aggregate rows from the row cache, asked here: a lookup they answer in full reads no storage and
    // may run inline; otherwise the storage read threads compute only the rows it lacks.
    let cache = shard.aggregateRows.capacity > 0 ? shard.aggregateRows : nil
    var cachedByGroup: [UInt32: [StoredRow?]] = [:]
    var aggregatesCached = true
    for g in groups {
      guard let stream = streams[g.storageID] else { continue }
      guard let cache else {
        aggregatesCached = false
        break
      }
      let rows = cache.rows(stream: stream.storageID, group: g.storageID, entityIDs: entityIDs, at: now, counting: false)
      if rows.contains(where: { $0 == nil }) { aggregatesCached = false }
      cachedByGroup[g.storageID] = rows
    }
    return (entityIDs.count * groups.count <= Self.inlineLookupKeys && aggregatesCached, { [cachedByGroup] in
      var rowsByGroup: [UInt32: [StoredRow?]] = [:]
      for g in groups {
        if let stream = streams[g.storageID] {
          let probes = entityIDs.map { AsOfProbe(entityID: $0, asOf: now) }
          if let cache, let cached = cachedByGroup[g.storageID] {
            // Counted here, once per lookup served (`onlineInline` may look a lookup up twice).
            let hits = cached.reduce(0) { $0 + ($1 == nil ? 0 : 1) }
            cache.record(hits: hits, misses: cached.count - hits)
          }
          rowsByGroup[g.storageID] = try AggregateRows.rows(
            probes, group: g, stream: stream, shard: shard, cache: cache, cached: cachedByGroup[g.storageID],
            existingImage: true)
          continue
        }
        var rows = try shard.onlineRows(entityIDs: entityIDs, group: g)
        // A row may be stored with an event time up to the allowed clock skew ahead of now; until then
        // it is the future and must not be served: answer from history as of now instead (rare path).
        let future = rows.indices.filter { rows[$0].map { $0.eventTime > now } ?? false }
        if !future.isEmpty {
          let asOf = try shard.rowsAsOf(future.map { (entityID: entityIDs[$0], asOf: now) }, group: g)
          for (k, i) in future.enumerated() { rows[i] = asOf[k] }
        }
        rowsByGroup[g.storageID] = rows
      }
      let vectors = Self.assemble(count: entityIDs.count, columns: columns, rowsByGroup: rowsByGroup) { _ in now }
      return (vectors, withOrder ? groups.map { RowOrders(rows: rowsByGroup[$0.storageID]!) } : [])
    })
  }

  /// Point-in-time join: for each label, each column's value from the row with the greatest
  /// `event <= label.time` (ties: greatest created, then latest write), ignoring rows created after
  /// `label.knownAt` when set, max age checked against the label time. Output parallel to `labels`.
  /// Runs on the storage read threads, using up to `joinParallelism` of them for large chunks. Always
  /// reads storage (`AsOfJoin`); `historicalColumns` is the fast form.
  public func historical(labels: [LabelRow], columns: [ResolvedFeature]) async throws -> [[FeatureResult]] {
    try check(labels)
    let groups = Self.distinctGroups(columns)
    let streams = try streamsRead(by: groups)
    let shard = self.shard
    let parallelism = self.joinParallelism
    let result = try await executor.read {
      let probes = labels.map { AsOfProbe(entityID: $0.entityID, asOf: $0.time, knownAt: $0.knownAt) }
      var rowsByGroup: [UInt32: [StoredRow?]] = [:]
      for g in groups {
        rowsByGroup[g.storageID] =
          try streams[g.storageID].map { try AggregateRows.rows(probes, group: g, stream: $0, shard: shard, parallelism: parallelism) }
          ?? shard.rowsAsOf(probes, group: g, parallelism: parallelism)
      }
      return Self.assemble(count: labels.count, columns: columns, rowsByGroup: rowsByGroup) { labels[$0].time }
    }
    counters.withLock { $0.historicalRows += UInt64(labels.count) }
    return result
  }

  /// `historical` in columnar form: one `ColumnBlock` per column, each holding `labels.count` rows in
  /// label order. Same semantics, same limits.
  ///
  /// Runs on `BackgroundThreads.shared` (below normal priority), so online lookups and writes get the
  /// CPU first while an export runs.
  ///
  /// Labels are answered from the group's `HistoryImage` (built first, by one scan, when the policy says
  /// so) except those with a known-at time and those of entities written after the image's scan began,
  /// which are answered from storage. Lookups and columns are spread over `joinParallelism` threads.
  public func historicalColumns(labels: [LabelRow], columns: [ResolvedFeature]) async throws -> [ColumnBlock] {
    try await historicalColumns(labels: labels, columns: columns, withOrder: false).blocks
  }

  /// `historicalColumns(labels:columns:)`, and with `withOrder` also the order key of the stored row
  /// that answered each label: `orders[g]` is for the `g`-th distinct group version of `columns` (in
  /// order of first appearance there), `orders[g][i]` for `labels[i]` (see `RowOrders`). The row is
  /// exactly the one the values came from: the greatest (event, created, sequence) with
  /// `event <= label.time` (and `created <= label.knownAt` when set), whether it is read from the image
  /// or from storage; a row older than the max age (EXPIRED) still counts as found. Without
  /// `withOrder`, `orders` is empty and nothing extra is computed.
  ///
  /// Example: columns `a:x, b:y, a:z` give `orders == [orders of a, orders of b]`.
  public func historicalColumns(
    labels: [LabelRow], columns: [ResolvedFeature], withOrder: Bool
  ) async throws -> (blocks: [ColumnBlock], orders: [RowOrders]) {
    try check(labels)
    let groups = Self.distinctGroups(columns)
    let streams = try streamsRead(by: groups)
    let shard = self.shard
    let parallelism = self.joinParallelism
    let policy = self.imagePolicy
    let bulk = BackgroundThreads.shared
    let result = try await bulk.run {
      var chosen: [UInt32: ChosenRows] = [:]
      for g in groups {
        if let stream = streams[g.storageID] {
          let probes = labels.map { AsOfProbe(entityID: $0.entityID, asOf: $0.time, knownAt: $0.knownAt) }
          let image = try shard.imageForJoin(stream, labels: labels.count, policy: policy)
          chosen[g.storageID] = ChosenRows(
            stored: try AggregateRows.rows(probes, group: g, stream: stream, shard: shard, parallelism: parallelism, image: image))
          continue
        }
        chosen[g.storageID] = try Self.choose(labels, group: g, shard: shard, policy: policy, parallelism: parallelism, bulk: bulk)
      }
      let times = labels.map(\.time.microseconds)
      let rows = chosen
      let built = Mutex([ColumnBlock](repeating: ColumnBlock(), count: columns.count))
      bulk.parallelFor(columns.count) { j in
        let c = columns[j]
        let block = ColumnBlock.build(
          rows: rows[c.group.storageID]!, times: times, group: c.group, featureIndex: c.featureIndex)
        built.withLock { $0[j] = block }
      }
      let orders = withOrder ? groups.map { rows[$0.storageID]!.orders } : []
      return (built.withLock { $0 }, orders)
    }
    counters.withLock { $0.historicalRows += UInt64(labels.count) }
    return result
  }

  /// The row of `group` that answers each label: from the image where it can, from storage elsewhere.
  static func choose(
    _ labels: [LabelRow], group: FeatureGroup, shard: LocalShard, policy: HistoryImagePolicy, parallelism: Int,
    bulk: BackgroundThreads = .shared
  ) throws -> ChosenRows {
    guard let use = try shard.imageForJoin(group, labels: labels.count, policy: policy) else {
      let probes = labels.map { AsOfProbe(entityID: $0.entityID, asOf: $0.time, knownAt: $0.knownAt) }
      return ChosenRows(stored: try shard.rowsAsOf(probes, group: group, parallelism: parallelism))
    }
    let image = use.image
    var refs = [Int32](repeating: -1, count: labels.count)
    let parts = labels.count < AsOfJoin.parallelThreshold ? 1 : parallelism
    // Labels the image must not answer, per part (ascending).
    let deferred = Mutex([[Int]](repeating: [], count: parts))
    refs.withUnsafeMutableBufferPointer { out in
      let out = UnsafeSendable(out)
      bulk.parallelFor(parts) { p in
        let range = (labels.count * p / parts)..<(labels.count * (p + 1) / parts)
        var mine: [Int] = []
        for i in range {
          let label = labels[i]
          let token = EntityToken.of(label.entityID)
          if label.knownAt != nil || !use.holdsInImage(label.entityID, token: token) {
            mine.append(i)
          } else {
            out.value[i] = image.row(for: label.entityID, token: token, asOf: label.time.microseconds)
          }
        }
        deferred.withLock { $0[p] = mine }
      }
    }
    let fromStorage = deferred.withLock { $0 }.flatMap { $0 }
    guard !fromStorage.isEmpty else { return ChosenRows(image: image, refs: refs, stored: []) }
    let probes = fromStorage.map { AsOfProbe(entityID: labels[$0].entityID, asOf: labels[$0].time, knownAt: labels[$0].knownAt) }
    let stored = try shard.rowsAsOf(probes, group: group, parallelism: parallelism)
    for (j, i) in fromStorage.enumerated() { refs[i] = Int32(-2 - j) }
    return ChosenRows(image: image, refs: refs, stored: stored)
  }

  /// The limits every historical chunk must meet.
  private func check(_ labels: [LabelRow]) throws {
    guard labels.count <= limits.maxLabelsPerMessage else {
      throw StrataError.resourceExhausted(
        "message carries \(labels.count) label rows; the limit is \(limits.maxLabelsPerMessage) per message")
    }
    for (i, label) in labels.enumerated() where label.entityID.isEmpty {
      throw StrataError.invalidArgument("label row \(i) of the message has an empty entity id")
    }
  }

  static func distinctGroups(_ columns: [ResolvedFeature]) -> [FeatureGroup] {
    var seen = Set<UInt32>()
    return columns.compactMap { seen.insert($0.group.storageID).inserted ? $0.group : nil }
  }

  /// For each aggregate group of `groups` (by storage id), the stream version it reads. NOT_FOUND
  /// when the registry lacks that version (a registry out of sync); FAILED_PRECONDITION when it is
  /// RETIRED (its events are no longer read).
  func streamsRead(by groups: [FeatureGroup]) throws(StrataError) -> [UInt32: FeatureGroup] {
    var out: [UInt32: FeatureGroup] = [:]
    for g in groups {
      guard let (name, version) = g.spec.source.stream else { continue }
      let stream = try catalog.group(named: name, version: version)
      guard stream.status != .retired else {
        throw .failedPrecondition("\(g.qualifiedName) reads stream \(stream.qualifiedName), which is RETIRED")
      }
      out[g.storageID] = stream
    }
    return out
  }

  static func assemble(
    count: Int, columns: [ResolvedFeature], rowsByGroup: [UInt32: [StoredRow?]], reference: (Int) -> Timestamp
  ) -> [[FeatureResult]] {
    var out: [[FeatureResult]] = []
    out.reserveCapacity(count)
    for i in 0..<count {
      let ref = reference(i)
      out.append(
        columns.map { c in
          PointInTime.result(
            row: rowsByGroup[c.group.storageID]![i], featureIndex: c.featureIndex, group: c.group, reference: ref)
        })
    }
    return out
  }
}

/// A value handed to `parallelFor` workers that write disjoint parts of it.
struct UnsafeSendable<T>: @unchecked Sendable {
  let value: T
  init(_ value: T) { self.value = value }
}
