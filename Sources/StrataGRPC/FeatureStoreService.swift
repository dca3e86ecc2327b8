public import GRPCCore
internal import Synchronization
public import Logging
public import StrataCore
public import StrataProto
public import StrataStorage
internal import SwiftProtobuf
internal import Foundation

/// The public `strata.v1.FeatureStore` service over a node-local `FeatureStore`.
///
/// It only maps messages and errors; every rule (validation, versioning, point-in-time semantics)
/// lives in `FeatureStore` and the core.
public struct FeatureStoreService: Strata_V1_FeatureStore.SimpleServiceProtocol {
  /// Facts about the node reported by `GetStatus`.
  public struct NodeInfo: Sendable {
    /// The node's name; empty: the address its server listens on ("127.0.0.1:7400").
    public var nodeID: String
    public var version: String
    public var dataDirectory: String
    public var startedAt: Timestamp

    public init(nodeID: String, version: String, dataDirectory: String, startedAt: Timestamp) {
      self.nodeID = nodeID
      self.version = version
      self.dataDirectory = dataDirectory
      self.startedAt = startedAt
    }
  }

  /// Joined rows per response message of `GetHistoricalFeatures`, so responses stay well under the
  /// clients' default 4 MiB receive limit.
  public static let joinedRowsPerResponse = 1_024

  let store: FeatureStore
  let node: NodeInfo
  let logger: Logger
  let sizeLimit: RequestSizeLimit
  /// Other nodes' last writes (a cluster's freshness monitor fills it; empty on a single node).
  public let freshnessBoard: FreshnessBoard

  public init(
    store: FeatureStore, node: NodeInfo, logger: Logger, sizeLimit: RequestSizeLimit = .init(maxBytes: 16 << 20),
    freshnessBoard: FreshnessBoard = FreshnessBoard()
  ) {
    self.store = store
    self.node = node
    self.logger = logger
    self.sizeLimit = sizeLimit
    self.freshnessBoard = freshnessBoard
  }

  /// The freshness entries of an online answer: one per distinct group version of `columns`, in order
  /// of first appearance, with other nodes' last writes merged (`freshnessBoard`).
  func freshness(of columns: [ResolvedFeature]) -> [Strata_V1_GroupWriteStatus] {
    let all = store.freshness(otherLastWrites: freshnessBoard.snapshot)
    var seen = Set<String>()
    var out: [Strata_V1_GroupWriteStatus] = []
    for c in columns where seen.insert(c.group.qualifiedName).inserted {
      if let f = all.first(where: { $0.group == c.group.name && $0.version == c.group.version }) { out.append(f.proto) }
    }
    return out
  }

  public func applyFeatureGroups(
    request: Strata_V1_ApplyFeatureGroupsRequest, context: ServerContext
  ) async throws -> Strata_V1_ApplyFeatureGroupsResponse {
    try await rpc {
      var specs: [FeatureGroupSpec] = []
      for p in request.groups { specs.append(try FeatureGroupSpec(proto: p)) }
      let results = try await store.apply(specs)
      for r in results where r.outcome != .unchanged {
        logger.info(
          "registered feature group version",
          metadata: ["strata.group": "\(r.group.name)", "strata.group.version": "\(r.group.version)"])
      }
      return Self.applyResponse(results)
    }
  }

  /// The wire answer of an apply.
  static func applyResponse(_ results: [Catalog.ApplyResult]) -> Strata_V1_ApplyFeatureGroupsResponse {
    .with {
      $0.results = results.map { r in
        .with {
          $0.group = r.group.name
          $0.version = UInt32(r.group.version)
          switch r.outcome {
          case .created: $0.outcome = .created
          case .newVersion: $0.outcome = .newVersion
          case .unchanged: $0.outcome = .unchanged
          }
        }
      }
    }
  }

  public func listFeatureGroups(
    request: Strata_V1_ListFeatureGroupsRequest, context: ServerContext
  ) async throws -> Strata_V1_ListFeatureGroupsResponse {
    .with { $0.groups = store.catalog.allVersions.map(\.proto) }
  }

  public func getFeatureGroup(
    request: Strata_V1_GetFeatureGroupRequest, context: ServerContext
  ) async throws -> Strata_V1_GetFeatureGroupResponse {
    try await rpc {
      let catalog = store.catalog
      let group = try catalog.group(named: request.name, version: request.version == 0 ? nil : Int(request.version))
      return .with {
        $0.group = group.proto
        $0.versions = (catalog.groups[group.name] ?? []).map(\.proto)
      }
    }
  }

  public func setFeatureGroupStatus(
    request: Strata_V1_SetFeatureGroupStatusRequest, context: ServerContext
  ) async throws -> Strata_V1_SetFeatureGroupStatusResponse {
    try await rpc {
      let (status, note) = try Self.statusChange(request)
      let group = try await store.setStatus(status, group: request.name, version: Int(request.version), note: note)
      logger.info(
        "feature group status changed",
        metadata: [
          "strata.group": "\(group.qualifiedName)", "strata.group.status": "\(status.rawValue)", "strata.changed_by": "\(note.by)",
          "strata.reason": "\(note.reason)",
        ])
      return .with { $0.group = group.proto }
    }
  }

  /// The status a status change asks for and its note; INVALID_ARGUMENT without a version or a status,
  /// or with a note over its limits.
  static func statusChange(_ request: Strata_V1_SetFeatureGroupStatusRequest) throws(StrataError) -> (GroupStatus, StatusNote) {
    guard request.version >= 1 else {
      throw .invalidArgument("set a version (>= 1): the status of one version is changed at a time")
    }
    guard let status = GroupStatus(proto: request.status) else {
      throw .invalidArgument("set a status: ACTIVE, DEPRECATED or RETIRED")
    }
    let note = StatusNote(by: request.changedBy, reason: request.reason)
    try note.validate()
    return (status, note)
  }

  public func writeFeatures(
    request: RPCAsyncSequence<Strata_V1_WriteFeaturesRequest, any Error>, context: ServerContext
  ) async throws -> Strata_V1_WriteFeaturesResponse {
    try await writeBatches(request) { message, what in
      try sizeLimit.check(message, estimate: Self.estimate(message), what: what)
      try Self.checkConsistency(message)
      return try await store.write(WriteRequest(proto: message))
    }
  }

  /// `WriteFeatures` on undecoded messages (see `FeatureStoreFastPaths`): each message is decoded,
  /// validated and written on the store's writer thread, so a large batch does not hold one of the
  /// cooperative pool's threads (two here) while online lookups wait. Same answers and errors.
  public func writeFeatures(raw messages: RPCAsyncSequence<[UInt8], any Error>) async throws -> Strata_V1_WriteFeaturesResponse {
    try await writeBatches(messages) { bytes, what in
      try sizeLimit.check(size: bytes.count, what: what)
      return try await store.write(decoding: {
        let message: Strata_V1_WriteFeaturesRequest
        do {
          message = try Strata_V1_WriteFeaturesRequest(serializedBytes: bytes)
        } catch {
          throw StrataError.invalidArgument("\(what) is not a valid WriteFeaturesRequest message: \(error)")
        }
        try Self.checkConsistency(message)
        return WriteRequest(proto: message)
      })
    }
  }

  /// Batches of one call queued on the writer thread at most: while the writer stores one, the next
  /// are queued behind it, so that it does not wait for an answer to be sent and the next batch to
  /// come back to it (with one at a time, a producer's 100-event batches at 10k events/s kept the
  /// writer idle a third of the time and still queued up).
  static let pushDepth = 4

  /// Each batch validated whole and written atomically, then answered in order; see the RPC's
  /// documentation. Pipelined: batches are received and checked (`EventPush.prepare`) ahead of the
  /// writer, and up to `pushDepth` of them are queued on it (`FeatureStore.submit`): they are stored
  /// one after the other, in the order sent, and each is answered once stored (not when the next one
  /// arrives). A batch that fails its checks, or fails when stored, is refused after every batch
  /// before it was stored and answered, and no batch after it is stored (`WriteChain`).
  public func pushEvents(
    request: RPCAsyncSequence<Strata_V1_PushEventsRequest, any Error>, response: RPCWriter<Strata_V1_PushEventsResponse>,
    context: ServerContext
  ) async throws {
    let store = self.store
    let sizeLimit = self.sizeLimit
    let progress = PushPipeline.Progress()
    do {
      let chain = WriteChain()
      try await PushPipeline.run(
        request, response: response, progress: progress, depth: Self.pushDepth,
        prepare: { message, number in
          let write = EventPush.writeRequest(message)
          try sizeLimit.check(write, estimate: Self.estimate(write), what: "event batch \(number)")
          try Self.checkConsistency(write)
          return try EventPush.prepare(message, store: store, local: true)
        },
        submit: { batch in try EventPush.submitLocally(batch, store: store, chain: chain) },
        answer: { pending in try await pending.answer() },
        abandon: { chain.abandon() })
    } catch let error as StrataError {
      var e = error
      let (batches, events) = (progress.batches, progress.events)
      if batches > 0 {
        e.message = "event batch \(batches + 1) rejected: \(error.message) (the \(batches) earlier batches of this call, \(events) events, were stored and acknowledged)"
      }
      throw e.rpcError
    } catch {
      throw try await rpc { throw error }
    }
  }

  /// On one node every consistency level means that node, but a number no level has is refused.
  static func checkConsistency(_ message: Strata_V1_WriteFeaturesRequest) throws(StrataError) {
    if case .UNRECOGNIZED(let n) = message.consistency {
      throw .invalidArgument("consistency \(n) is not one of ONE (1), QUORUM (2), ALL (3)")
    }
  }

  /// The batches of one write stream, each written by `write` (given the message and "write batch N");
  /// the answer counts them. An error names the failing batch and what the earlier ones committed.
  private func writeBatches<Message: Sendable>(
    _ messages: RPCAsyncSequence<Message, any Error>, _ write: (Message, String) async throws -> AppendOutcome
  ) async throws -> Strata_V1_WriteFeaturesResponse {
    var response = Strata_V1_WriteFeaturesResponse()
    response.replicationFactor = 1
    do {
      for try await message in messages {
        let outcome = try await write(message, "write batch \(response.batches + 1)")
        response.rowsWritten += UInt64(outcome.rowsWritten)
        response.lateRows += UInt64(outcome.lateRows)
        response.batches += 1
        // One node: every row is on its one replica.
        response.replicasAcknowledged = 1
      }
    } catch let error as StrataError {
      var e = error
      if response.batches > 0 {
        e.message =
          "batch \(response.batches + 1) rejected: \(error.message) (the \(response.batches) earlier batches of this call, \(response.rowsWritten) rows, were committed)"
      }
      throw e.rpcError
    } catch {
      throw try await rpc { throw error }
    }
    return response
  }

  /// A lower bound of the serialized size of a write batch: entity ids and value payloads.
  static func estimate(_ message: Strata_V1_WriteFeaturesRequest) -> Int {
    var total = 0
    for row in message.rows {
      total += row.entityID.utf8.count + 4
      for v in row.values {
        switch v.kind {
        case .stringValue(let s)?: total += s.utf8.count
        case .embeddingValue(let e)?: total += 4 * e.values.count
        case .floatValue?: total += 8
        case .intValue?: total += 1
        case nil: break
        }
      }
    }
    return total
  }

  public func getOnlineFeatures(
    request: Strata_V1_GetOnlineFeaturesRequest, context: ServerContext
  ) async throws -> Strata_V1_GetOnlineFeaturesResponse {
    try await rpc {
      try sizeLimit.check(
        request, estimate: request.entityIds.reduce(0) { $0 + $1.utf8.count + 2 }, what: "the lookup request")
      let (request, model) = try Self.byModel(request, store: store)
      let columns = try store.resolve(try [FeatureRef](parsing: request.features))
      let (vectors, orders) = try await store.online(
        entityIDs: request.entityIds, columns: columns, withOrder: request.withRowOrder)
      var response = Strata_V1_GetOnlineFeaturesResponse()
      response.columns = columns.map(\.proto)
      response.rowOrders = orders.map { $0.proto() }
      if request.withFreshness { response.freshness = freshness(of: columns) }
      if let model { response.model = model.qualifiedName }
      response.vectors.reserveCapacity(vectors.count)
      for (i, results) in vectors.enumerated() {
        var v = Strata_V1_FeatureVector()
        v.entityID = request.entityIds[i]
        v.results = results.map(\.proto)
        response.vectors.append(v)
      }
      return response
    }
  }

  public func getHistoricalFeatures(
    request: RPCAsyncSequence<Strata_V1_GetHistoricalFeaturesRequest, any Error>,
    response: RPCWriter<Strata_V1_GetHistoricalFeaturesResponse>,
    context: ServerContext
  ) async throws {
    _ = try await export(request: request, response: response)
  }

  /// Answers one export; returns the columns it read, its label rows and the training set it saved.
  private func export(
    request: RPCAsyncSequence<Strata_V1_GetHistoricalFeaturesRequest, any Error>,
    response: RPCWriter<Strata_V1_GetHistoricalFeaturesResponse>
  ) async throws -> (columns: [ResolvedFeature], labels: Int, trainingSet: TrainingSet?) {
    try await rpc {
      var columns: [ResolvedFeature]?
      var columnar = false
      var withEventTimes = false
      var withRowOrder = false
      var received = 0
      var trainingSet: TrainingSet?
      var digest = LabelDigest()
      for try await message in request {
        try sizeLimit.check(
          message, estimate: message.labels.reduce(0) { $0 + $1.entityID.utf8.count + 4 },
          what: "label message with rows \(received)...")
        if columns == nil {
          guard !message.withRowOrder || message.columnar else {
            throw StrataError.invalidArgument(
              "with_row_order requires columnar answers: set columnar in the first GetHistoricalFeatures message (row orders are only sent in JoinedBatch.row_orders)")
          }
          guard !message.features.isEmpty else {
            throw StrataError.invalidArgument(
              "the first GetHistoricalFeatures message must list the features to join (group:feature, group@2:feature or group:*)")
          }
          let resolved = try store.resolveForExport(try [FeatureRef](parsing: message.features), force: message.force)
          trainingSet = try Self.plannedTrainingSet(message, catalog: store.catalog)
          columns = resolved
          columnar = message.columnar
          withEventTimes = message.withEventTimestamps
          withRowOrder = message.withRowOrder
          try await response.write(.with { $0.columns = resolved.map(\.proto) })
        }
        guard let columns, !message.labels.isEmpty else { continue }
        let labels = Self.labelRows(message)
        if trainingSet != nil { for label in labels { digest.add(label) } }
        do {
          if columnar {
            try await writeColumnar(
              labels: labels, columns: columns, eventTimes: withEventTimes, rowOrder: withRowOrder, to: response)
          } else {
            try await writeRows(labels: labels, columns: columns, to: response)
          }
        } catch var error as StrataError {
          error.message = "label rows \(received)..\(received + labels.count - 1): \(error.message)"
          throw error
        }
        received += labels.count
      }
      guard let columns else {
        throw StrataError.invalidArgument("GetHistoricalFeatures received no request message; send the features first")
      }
      if var set = trainingSet {
        set.features = columns.map(\.pinnedReference)
        set.labels = digest.summary()
        set.createdAt = store.now
        try await store.saveTrainingSet(set)
        logger.info("saved training set", metadata: ["strata.training_set": "\(set.name)", "strata.labels": "\(set.labels.rows)"])
        try await response.write(.with { $0.trainingSet = set.proto })
        return (columns, received, set)
      }
      return (columns, received, nil)
    }
  }

  /// `GetHistoricalFeatures` on undecoded messages (see `FeatureStoreFastPaths`): label messages are
  /// decoded, and answers encoded, on the bulk threads (`BackgroundThreads.shared`, nice +10) instead
  /// of the cooperative pool, so an export does not keep online lookups waiting for a pool thread.
  /// Same answers and errors as `getHistoricalFeatures(request:response:context:)`.
  public func getHistoricalFeatures(
    raw request: RPCAsyncSequence<[UInt8], any Error>, response: RPCWriter<[UInt8]>, context: ServerContext
  ) async throws {
    let bulk = BackgroundThreads.shared
    let count = Mutex(0)
    let decoded = request.map { bytes in
      let what = "request message \(count.withLock { $0 += 1; return $0 })"
      return try await bulk.run { () throws -> Strata_V1_GetHistoricalFeaturesRequest in
        do {
          return try Strata_V1_GetHistoricalFeaturesRequest(serializedBytes: bytes)
        } catch {
          throw StrataError.invalidArgument("\(what) is not a valid GetHistoricalFeaturesRequest message: \(error)")
        }
      }
    }
    let started = store.now
    let (columns, labels, trainingSet) = try await export(
      request: RPCAsyncSequence(wrapping: decoded), response: RPCWriter(wrapping: BulkEncodingWriter(base: response)))
    // A client's export (internode ones, which owners answer for a coordinator, take the other entry).
    store.lineageObserver?.exported(columns, labels: labels, trainingSet: trainingSet, started: started, ended: store.now)
  }

  /// The label rows of a request message.
  static func labelRows(_ message: Strata_V1_GetHistoricalFeaturesRequest) -> [LabelRow] {
    message.labels.map {
      LabelRow(
        entityID: $0.entityID, time: Timestamp(microseconds: $0.labelTimestampMicros),
        knownAt: $0.hasKnownAtMicros ? Timestamp(microseconds: $0.knownAtMicros) : nil)
    }
  }

  private func writeRows(
    labels: [LabelRow], columns: [ResolvedFeature], to response: RPCWriter<Strata_V1_GetHistoricalFeaturesResponse>
  ) async throws {
    let joined = try await store.historical(labels: labels, columns: columns)
    try await Self.sendRows(Self.joinedRows(labels: labels, results: joined), to: response)
  }

  /// The row form of joined results (`results[i]` answers `labels[i]`).
  static func joinedRows(labels: [LabelRow], results: [[FeatureResult]]) -> [Strata_V1_JoinedRow] {
    zip(labels, results).map { label, values in
      var row = Strata_V1_JoinedRow()
      row.entityID = label.entityID
      row.labelTimestampMicros = label.time.microseconds
      row.results = values.map(\.proto)
      return row
    }
  }

  /// Sends joined rows in messages of at most `joinedRowsPerResponse` rows.
  static func sendRows(_ rows: [Strata_V1_JoinedRow], to response: RPCWriter<Strata_V1_GetHistoricalFeaturesResponse>) async throws {
    var start = 0
    while start < rows.count {
      let end = min(start + joinedRowsPerResponse, rows.count)
      try await response.write(.with { $0.rows = Array(rows[start..<end]) })
      start = end
    }
  }

  /// Columnar answers: one message per slice of rows, sized to stay around 1 MiB; with `rowOrder`, each
  /// message also carries its rows' orders per distinct group version (`JoinedBatch.row_orders`).
  private func writeColumnar(
    labels: [LabelRow], columns: [ResolvedFeature], eventTimes: Bool, rowOrder: Bool,
    to response: RPCWriter<Strata_V1_GetHistoricalFeaturesResponse>
  ) async throws {
    let (blocks, orders) = try await store.historicalColumns(labels: labels, columns: columns, withOrder: rowOrder)
    try await sendColumnar(
      blocks, columns: columns, count: labels.count, eventTimes: eventTimes, orders: orders, to: response)
  }

  /// Sends `count` joined rows in columnar form, one message per slice of about 1 MiB. `orders` (one
  /// per distinct group version of `columns`, each of `count` entries; empty: none sent) are sliced
  /// with the rows into `JoinedBatch.row_orders`.
  func sendColumnar(
    _ blocks: [ColumnBlock], columns: [ResolvedFeature], count: Int, eventTimes: Bool, orders: [RowOrders] = [],
    to response: RPCWriter<Strata_V1_GetHistoricalFeaturesResponse>
  ) async throws {
    let bytesPerRow =
      columns.reduce(0) { total, c in
        if case .embedding(let d) = c.feature.dtype { return total + 10 + 4 * d }
        return total + (eventTimes ? 24 : 12)
      } + orders.count * 30
    let rowsPerMessage = max(64, (1 << 20) / max(1, bytesPerRow))
    var start = 0
    while start < count {
      let end = min(start + rowsPerMessage, count)
      var batch = Strata_V1_JoinedBatch()
      batch.rowCount = UInt32(end - start)
      batch.columns = zip(columns, blocks).map { c, b in Self.slice(b, start..<end, dtype: c.feature.dtype, eventTimes: eventTimes) }
      batch.rowOrders = orders.map { $0.proto(start..<end) }
      try await response.write(.with { $0.batch = batch })
      start = end
    }
  }

  static func slice(_ b: ColumnBlock, _ range: Range<Int>, dtype: DType, eventTimes: Bool) -> Strata_V1_JoinedColumn {
    var c = Strata_V1_JoinedColumn()
    let whole = range.count == b.statuses.count
    c.statuses = Data(whole ? b.statuses[...] : b.statuses[range])
    c.valueMask = Data(whole ? b.hasValue[...] : b.hasValue[range])
    if eventTimes { c.eventTimestampsMicros = whole ? b.eventTimes : Array(b.eventTimes[range]) }
    switch dtype {
    case .float: c.floatValues = whole ? b.floats : Array(b.floats[range])
    case .int: c.intValues = whole ? b.ints : Array(b.ints[range])
    case .string: c.stringValues = whole ? b.strings : Array(b.strings[range])
    case .embedding(let d):
      c.embeddingValues = whole ? b.embeddings : Array(b.embeddings[(range.lowerBound * d)..<(range.upperBound * d)])
    }
    return c
  }

  public func ping(request: Strata_V1_PingRequest, context: ServerContext) async throws -> Strata_V1_PingResponse {
    Strata_V1_PingResponse()
  }

  /// "127.0.0.1:7400" for a peer description such as "ipv4:127.0.0.1:7400" ("ipv6:[::1]:7400" gives
  /// "[::1]:7400").
  static func address(ofPeer peer: String) -> String {
    guard let colon = peer.firstIndex(of: ":"), peer.hasPrefix("ipv") else { return peer }
    return String(peer[peer.index(after: colon)...])
  }

  public func getStatus(
    request: Strata_V1_GetStatusRequest, context: ServerContext
  ) async throws -> Strata_V1_GetStatusResponse {
    status(context: context, mergingOtherNodes: true)
  }

  /// This node's status; its groups' freshness with other nodes' last writes merged, or (for another
  /// node asking, `GetNodeStatus`) this node's own only.
  func status(context: ServerContext, mergingOtherNodes: Bool) -> Strata_V1_GetStatusResponse {
    let others = mergingOtherNodes ? freshnessBoard.snapshot : [:]
    let counters = store.counterValues
    let catalog = store.catalog
    let stats = store.shard.writeStats
    return .with {
      $0.nodeID = node.nodeID.isEmpty ? Self.address(ofPeer: context.localPeer) : node.nodeID
      $0.version = node.version
      $0.startedAtMicros = node.startedAt.microseconds
      $0.storageEngine = store.engineName
      $0.dataDirectory = node.dataDirectory
      $0.featureGroups = UInt32(catalog.groups.count)
      $0.rowsWritten = counters.rowsWritten
      $0.lateRows = counters.lateRows
      $0.onlineLookups = counters.onlineLookups
      $0.historicalRows = counters.historicalRows
      let images = store.historyImages
      $0.historyImages = UInt32(images.images)
      $0.historyImageBytes = UInt64(images.bytes)
      $0.historyImageBuilds = UInt64(images.builds)
      $0.onlineRows = UInt64(store.shard.onlineRowsInMemory)
      let rowCache = store.aggregateRowCache
      $0.aggregateRowCacheCapacity = UInt64(rowCache.capacity)
      $0.aggregateRowCacheRows = UInt64(rowCache.rows)
      $0.aggregateRowCacheHits = rowCache.hits
      $0.aggregateRowCacheMisses = rowCache.misses
      $0.limits = .with {
        $0.maxRowsPerBatch = UInt32(clamping: store.limits.maxRowsPerBatch)
        $0.maxRequestBytes = UInt64(sizeLimit.maxBytes)
        $0.maxEntitiesPerLookup = UInt32(clamping: store.limits.maxEntitiesPerLookup)
        $0.maxLabelsPerMessage = UInt32(clamping: store.limits.maxLabelsPerMessage)
      }
      $0.groups = Self.groupStatus(catalog: catalog, stats: stats, freshness: store.freshness(otherLastWrites: others))
    }
  }

  /// Per group version: rows stored here, and the freshness (whose last write merges other nodes'
  /// when `freshness` was computed with them; a RETIRED version has no freshness: only its own last write).
  static func groupStatus(catalog: Catalog, stats: [UInt32: GroupWriteStats], freshness: [GroupFreshness]) -> [Strata_V1_GroupWriteStatus] {
    let byName = Dictionary(uniqueKeysWithValues: freshness.map { ($0.qualifiedName, $0) })
    return catalog.allVersions.map { g in
      var status = byName[g.qualifiedName]?.proto ?? .with {
        $0.group = g.name
        $0.version = UInt32(g.version)
        $0.lastWriteMicros = stats[g.storageID]?.lastWrite?.microseconds ?? 0
      }
      status.rowsTotal = stats[g.storageID]?.rowsTotal ?? 0
      return status
    }
  }
}
