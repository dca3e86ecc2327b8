public import GRPCCore
internal import SwiftProtobuf
internal import StrataCore
internal import StrataCluster
public import StrataProto
internal import StrataStorage
internal import Foundation
public import Logging
internal import Synchronization

/// The public `FeatureStore` service of a cluster node: every node serves the whole API and
/// coordinates. A request is split by owner (the ring's primary of each entity), the owners are called
/// in parallel over the internode `Shard` service (one call per owner per request or chunk, never one
/// per entity), and the answers are merged in request order.
///
/// - Registry changes go to the leader, which pushes the new registry to every node before answering.
/// - Writes: the whole batch is validated here first (a bad row rejects the batch, nothing written);
///   then each owner writes its part atomically. The client's ack comes after every owner acknowledged;
///   if an owner fails, the error says which nodes' rows were not written (and which were).
/// - Exports: label messages are routed to the owners as they arrive; each owner joins its part; the
///   answers of a message are merged in input order and sent before the next message is read, so memory
///   stays bounded by the message size and a slow owner slows the stream instead of filling memory.
/// - A node that is down fails the requests touching its entities with UNAVAILABLE naming it; others
///   succeed.
public struct ClusterCoordinator<Transport: ClientTransport>: Strata_V1_FeatureStore.SimpleServiceProtocol {
  let local: FeatureStoreService
  /// The view this coordinator routes by: the topology's current one when it was made (each call
  /// works on one view; see `ClusterTopology`).
  let cluster: ClusterView<Transport>
  /// Where the node's views come from (a write stream takes a fresh one for each batch).
  let topology: ClusterTopology<Transport>
  let logger: Logger

  /// A coordinator for one call, on `topology`'s current view.
  public init(local: FeatureStoreService, topology: ClusterTopology<Transport>, logger: Logger) {
    self.init(local: local, cluster: topology.current, topology: topology, logger: logger)
  }

  /// A coordinator of a cluster whose membership never changes.
  public init(local: FeatureStoreService, cluster: ClusterView<Transport>, logger: Logger) {
    self.init(local: local, cluster: cluster, topology: ClusterTopology(cluster), logger: logger)
  }

  init(local: FeatureStoreService, cluster: ClusterView<Transport>, topology: ClusterTopology<Transport>, logger: Logger) {
    self.local = local
    self.cluster = cluster
    self.topology = topology
    self.logger = logger
  }

  var store: FeatureStore { local.store }
  /// This node's side of the internode service (used when this node is the registry leader).
  var shard: ShardService<Transport> { ShardService(local: local, topology: topology, logger: logger) }

  // MARK: Registry

  public func applyFeatureGroups(
    request: Strata_V1_ApplyFeatureGroupsRequest, context: ServerContext
  ) async throws -> Strata_V1_ApplyFeatureGroupsResponse {
    if let registry = cluster.registry {
      return try await Self.etcdFailures {
        let specs = try request.groups.map { try FeatureGroupSpec(proto: $0) }
        let results = try await registry.apply(specs, now: store.now)
        let registered = results.filter { $0.outcome != .unchanged }.map(\.group)
        if !registered.isEmpty { store.lineageObserver?.registered(registered, catalog: store.catalog) }
        for r in results where r.outcome != .unchanged {
          logger.info(
            "registered feature group version",
            metadata: ["strata.group": "\(r.group.name)", "strata.group.version": "\(r.group.version)"])
        }
        return FeatureStoreService.applyResponse(results)
      }
    }
    return try await onLeader(
      here: { try await shard.applyOnLeader(request: request, context: context) },
      there: { try await $0.applyOnLeader(request, metadata: cluster.metadata, options: cluster.options) })
  }

  public func setFeatureGroupStatus(
    request: Strata_V1_SetFeatureGroupStatusRequest, context: ServerContext
  ) async throws -> Strata_V1_SetFeatureGroupStatusResponse {
    if let registry = cluster.registry {
      return try await Self.etcdFailures {
        let (status, note) = try FeatureStoreService.statusChange(request)
        let group = try await registry.setStatus(status, group: request.name, version: Int(request.version), now: store.now, note: note)
        return .with { $0.group = group.proto }
      }
    }
    return try await onLeader(
      here: { try await shard.setStatusOnLeader(request: request, context: context) },
      there: { try await $0.setStatusOnLeader(request, metadata: cluster.metadata, options: cluster.options) })
  }

  /// A registry change made by the leader of a cluster started from a cluster file: `here` when this
  /// node leads, else `there` with the leader's client; then this node adopts the leader's registry,
  /// so that the caller's next call here sees the change. The leader's refusals pass through as they are
  /// (FAILED_PRECONDITION naming the leader); a leader that does not answer is UNAVAILABLE naming it.
  /// The leader runs its own requests directly (`here`): its client to itself may still be connecting.
  func onLeader<Response: Sendable>(
    here: () async throws -> Response, there: (Strata_V1_Shard.Client<Transport>) async throws -> Response
  ) async throws -> Response {
    let leader = cluster.leaderID
    do {
      let response = leader == cluster.selfID ? try await here() : try await there(try cluster.peer(leader))
      try await refreshRegistry(from: leader)
      return response
    } catch let error as RPCError where error.code == .failedPrecondition {
      throw RPCError(code: error.code, message: "\(error.message) (from the registry leader \(cluster.describe(leader)))")
    } catch let error as RPCError where error.code != .unavailable && error.code != .deadlineExceeded {
      throw error
    } catch {
      throw cluster.failure(error, node: leader)
    }
  }

  /// Runs a registry change against etcd: an UNAVAILABLE from etcd names it in the error's details
  /// (node "etcd"), so that clients see that the node answered and what behind it did not.
  static func etcdFailures<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
    do {
      return try await rpc(body)
    } catch let error as RPCError where error.code == .unavailable && NodeFailure.details(of: error) == nil {
      throw NodeFailure.error(.unavailable, error.message, reason: .unavailable, node: "etcd", address: nil)
    }
  }

  /// Makes sure this node holds the leader's registry now (the leader's push may race the answer).
  func refreshRegistry(from leader: String, timeout: Duration? = nil) async throws {
    guard leader != cluster.selfID else { return }
    var options = cluster.options
    if let timeout { options.timeout = min(timeout, cluster.timeout) }
    let snapshot = try await cluster.peer(leader).getRegistry(.init(), metadata: cluster.metadata, options: options)
    _ = try await store.adoptRegistry(entries: try ShardService<Transport>.entries(of: snapshot), generation: snapshot.generation)
  }

  /// Before resolving what a write or a catalog read means: adopts the leader's registry if it is newer
  /// (one small call), so a node that missed a push does not write to, or describe, an old version.
  /// When the leader does not answer within 2 s, this node's registry is used as it is.
  /// A leader that failed is not asked again for 30 s (or until it answers another call), so a dead or
  /// paused leader costs writes one 2 s wait per 30 s at most.
  func catchUpWithLeader() async {
    // A registry in etcd is followed by every node: there is no leader to ask.
    guard cluster.registry == nil, cluster.leaderID != cluster.selfID else { return }
    guard !cluster.health.avoided(at: .now).contains(cluster.leaderID) else { return }
    do {
      // Bounded: a hanging leader must not stall writes for the whole call timeout.
      try await refreshRegistry(from: cluster.leaderID, timeout: .seconds(2))
    } catch {
      cluster.health.failed(cluster.leaderID, at: .now, avoidFor: .seconds(30))
      logger.info("registry leader not reachable; using this node's registry", metadata: ["error": "\(error)"])
    }
  }

  public func listFeatureGroups(
    request: Strata_V1_ListFeatureGroupsRequest, context: ServerContext
  ) async throws -> Strata_V1_ListFeatureGroupsResponse {
    await catchUpWithLeader()
    return try await local.listFeatureGroups(request: request, context: context)
  }

  public func getFeatureGroup(
    request: Strata_V1_GetFeatureGroupRequest, context: ServerContext
  ) async throws -> Strata_V1_GetFeatureGroupResponse {
    await catchUpWithLeader()
    return try await local.getFeatureGroup(request: request, context: context)
  }

  // MARK: Writes

  public func writeFeatures(
    request: RPCAsyncSequence<Strata_V1_WriteFeaturesRequest, any Error>, context: ServerContext
  ) async throws -> Strata_V1_WriteFeaturesResponse {
    var response = Strata_V1_WriteFeaturesResponse()
    response.replicationFactor = UInt32(cluster.placement.replicationFactor)
    await catchUpWithLeader()
    var consistency: Consistency?
    for try await message in request {
      do {
        if consistency == nil { consistency = try Consistency(message.consistency, default: .quorum) }
        // Each batch is routed by the view current when it starts (a membership change may move on
        // during a long stream), and counted in flight under it until it is acknowledged or failed.
        let view = topology.current
        let batch = ClusterCoordinator(local: local, cluster: view, topology: topology, logger: logger)
        try await view.activity.write {
          try await batch.writeBatch(message, consistency: consistency!, into: &response, context: context)
        }
      } catch let error as RPCError {
        guard response.batches > 0 else { throw error }
        throw RPCError(
          code: error.code,
          message: "batch \(response.batches + 1): \(error.message) (the \(response.batches) earlier batches of this call, \(response.rowsWritten) rows, were committed)",
          metadata: error.metadata)
      }
    }
    return response
  }

  /// `PushEvents` through this coordinator: each batch a write of events (`writeBatch`), answered
  /// once acknowledged at its consistency; a batch with an idempotency key is stored with the stamp
  /// this node's ledger fixed for the key (so its retries store the same rows) or, when already
  /// acknowledged, answered as a duplicate. Pipelined like a single node's (`PushPipeline`): batch
  /// N + 1 is received and checked (`EventPush.prepare`) while batch N is replicated; batches are
  /// still stored and answered one after the other, in order, each once acknowledged.
  public func pushEvents(
    request: RPCAsyncSequence<Strata_V1_PushEventsRequest, any Error>, response: RPCWriter<Strata_V1_PushEventsResponse>,
    context: ServerContext
  ) async throws {
    await catchUpWithLeader()
    let store = self.store
    let (local, topology, logger) = (self.local, self.topology, self.logger)
    let consistency = Mutex<Consistency?>(nil)
    let progress = PushPipeline.Progress()
    do {
      try await PushPipeline.run(
        request, response: response, progress: progress,
        prepare: { message, _ in
          try await rpc { () throws -> (EventPush.Prepared, Consistency) in
            let level = try consistency.withLock { level throws -> Consistency in
              if level == nil { level = try Consistency(message.consistency, default: .quorum) }
              return level!
            }
            return (try EventPush.prepare(message, store: store), level)
          }
        },
        store: { prepared in
          let (batch, level) = prepared
          return try await rpc {
            // Keys in etcd when the cluster's metadata is there (a retry may reach any node), else
            // in this node's catalog.
            let keys = topology.current.idempotency ?? StoreIdempotencyKeys(store: store)
            return try await EventPush.apply(batch, keys: keys) { stamp in
              let view = topology.current
              let coordinator = ClusterCoordinator(local: local, cluster: view, topology: topology, logger: logger)
              var written = Strata_V1_WriteFeaturesResponse()
              try await view.activity.write {
                try await coordinator.writeBatch(batch.write, consistency: level, into: &written, context: context, events: true, stamp: stamp)
              }
              return (written.rowsWritten, written.lateRows)
            }
          }
        })
    } catch let error as RPCError {
      let (batches, events) = (progress.batches, progress.events)
      guard batches > 0 else { throw error }
      throw RPCError(
        code: error.code,
        message: "event batch \(batches + 1): \(error.message) (the \(batches) earlier batches of this call, \(events) events, were stored and acknowledged)",
        metadata: error.metadata)
    }
  }

  /// One batch: validated here, each row stamped with its write id (and, where the client gave none,
  /// the created time), then sent to every replica of its entity at once. The batch is acknowledged
  /// when each row has been stored by the replicas `consistency` requires (`WriteQuorum`); the other
  /// replicas' writes go on after the answer, and a replica that fails or does not answer in time gets
  /// its part later from a hint (`ClusterView.hints`).
  /// `events`: the rows are events pushed to a stream. `stamp`: the created time (for rows without
  /// one) and the write ids the batch's idempotency key fixed, instead of fresh ones.
  func writeBatch(
    _ message: Strata_V1_WriteFeaturesRequest, consistency: Consistency, into response: inout Strata_V1_WriteFeaturesResponse,
    context: ServerContext, events: Bool = false, stamp: IdempotencyStamp? = nil
  ) async throws {
    let what = events ? "event batch" : "write batch"
    try local.sizeLimit.check(message, estimate: FeatureStoreService.estimate(message), what: "\(what) \(response.batches + 1)")
    // Validate the whole batch here (every rule the owners apply), so a bad row writes nothing anywhere.
    let now = store.now
    var message = message
    if let stamp {
      for i in message.rows.indices where !message.rows[i].hasCreatedTimestampMicros {
        message.rows[i].createdTimestampMicros = stamp.createdTime.microseconds
      }
    }
    var validated = WriteRequest(proto: message)
    validated.events = events
    let group = try await rpc { [validated] in try store.validate(validated, now: now).0 }
    // An empty batch is valid and stores nothing: there is no replica to wait for.
    guard !message.rows.isEmpty else {
      response.batches += 1
      return
    }
    // This node accepts the rows: it gives each its write id, which every node that stores it keeps.
    let writeIDs = stamp?.writeIDs ?? store.assignWriteIDs(message.rows.count, now: now)
    // During a membership change: every row to its old and its new replicas, a quorum of each.
    let plan = cluster.writePlan(entityIDs: message.rows.map(\.entityID))
    var rows = message.rows
    for i in rows.indices {
      // Every replica stores the same created time for rows that had none: the coordinator's clock.
      if !rows[i].hasCreatedTimestampMicros { rows[i].createdTimestampMicros = now.microseconds }
      rows[i].writeID = writeIDs[i].rawValue
    }
    let parts = plan.parts.map { indexes in
      Strata_V1_WriteFeaturesRequest.with {
        $0.group = message.group
        $0.version = UInt32(group.version)
        $0.features = message.features
        $0.rows = indexes.map { rows[$0] }
      }
    }
    let required = cluster.placement.required(consistency)
    // Stored before anything is sent: a process killed before every replica answered keeps the parts
    // as hints when it starts again, so no replica is left without rows others stored.
    let targets = plan.nodes.indices.filter { plan.nodes[$0] != cluster.selfID }.map {
      WriteIntent.Target(node: plan.nodes[$0], rows: plan.parts[$0])
    }
    var intent: UInt64?
    if let hints = cluster.hints, !targets.isEmpty {
      let batch = Strata_V1_WriteFeaturesRequest.with {
        $0.group = message.group
        $0.version = UInt32(group.version)
        $0.features = message.features
        $0.rows = rows
      }
      intent = await hints.intend(WriteIntent(batch: batch, targets: targets))
    }
    let answers = sendToReplicas(parts, nodes: plan.nodes, intent: intent, context: context)
    // Wait for the outcome; after a failure, for every answer (so the error can say what was written).
    let outcome = try await cancelledWithRPC { () async -> (WriteQuorum, [Int: Result<Strata_V1_WriteFeaturesResponse, any Error>]) in
      var quorum = WriteQuorum(plan: plan, required: required)
      var results: [Int: Result<Strata_V1_WriteFeaturesResponse, any Error>] = [:]
      for await (k, result) in answers {
        results[k] = result
        if case .success = result { quorum.record(k, stored: true) } else { quorum.record(k, stored: false) }
        if case .acknowledged = quorum.outcome { break }
        if results.count == plan.nodes.count { break }
      }
      return (quorum, results)
    }
    let (quorum, results) = outcome
    switch quorum.outcome {
    case .acknowledged(let replicas):
      response.rowsWritten += UInt64(rows.count)
      response.lateRows += Self.lateRows(results, plan: plan)
      response.replicasAcknowledged =
        response.batches == 0 ? UInt32(replicas) : min(response.replicasAcknowledged, UInt32(replicas))
      response.batches += 1
      // Acknowledged: the batch goes into this node's write log. A failure to record it does not
      // fail the write the replicas stored (a retry would store it again); it is logged.
      do {
        try await store.recordWrite(group: group, writer: validated.writer, rows: validated.rows)
      } catch {
        logger.warning("could not record an acknowledged batch in the write log", metadata: ["strata.group": "\(group.qualifiedName)", "error": "\(error)"])
      }
    case .failed(let lost):
      throw writeFailure(lost: lost, quorum: quorum, consistency: consistency, plan: plan, results: results)
    case .waiting:
      // Only when the call was cancelled while waiting.
      throw RPCError(code: .cancelled, message: "the write was cancelled before its replicas answered; its rows may or may not be written")
    }
  }

  /// The batch's late rows (rows that did not replace a stored online value) from the replicas that
  /// answered: exact with one replica per row; with several, each replica counts the late rows of its
  /// part, and the count is scaled from the rows they stored to the batch's rows (exact when the
  /// replicas agree, as they do unless one missed earlier writes).
  static func lateRows(_ results: [Int: Result<Strata_V1_WriteFeaturesResponse, any Error>], plan: ReplicaPlan) -> UInt64 {
    var late: UInt64 = 0
    var stored = 0
    for (k, result) in results {
      guard case .success(let answer) = result else { continue }
      late += answer.lateRows
      stored += plan.parts[k].count
    }
    guard stored > 0 else { return 0 }
    return UInt64((Double(late) * Double(plan.replicas.count) / Double(stored)).rounded())
  }

  /// Sends `parts[k]` to `nodes[k]` for every k, each in a task of its own that outlives the client's
  /// call: a write sent to a replica is carried through, and one that fails becomes a hint. Answers
  /// come out of the returned stream as they arrive.
  /// `intent`: the stored intent of the parts for other nodes, removed once each of them was answered
  /// or kept as a hint.
  private func sendToReplicas(
    _ parts: [Strata_V1_WriteFeaturesRequest], nodes: [String], intent: UInt64?, context: ServerContext
  ) -> AsyncStream<(Int, Result<Strata_V1_WriteFeaturesResponse, any Error>)> {
    let (answers, sink) = AsyncStream.makeStream(of: (Int, Result<Strata_V1_WriteFeaturesResponse, any Error>).self)
    let (metadata, options) = (cluster.metadata, cluster.options)
    let unsettled = Countdown(nodes.count { $0 != cluster.selfID })
    let hints = cluster.hints
    for (k, node) in nodes.enumerated() {
      let part = parts[k]
      Task {
        let started = ContinuousClock.now
        do {
          // This node's own rows: the same write a replica does, without a round trip to itself.
          let answer =
            node == cluster.selfID
            ? try await shard.writeBatch(request: part, context: context)
            : try await cluster.peer(node).writeBatch(part, metadata: metadata, options: options)
          cluster.health.answered(node, after: .now - started)
          if node != cluster.selfID { cluster.hints?.answered(node) }
          sink.yield((k, .success(answer)))
        } catch {
          if node != cluster.selfID { cluster.health.failed(node, at: .now) }
          // Kept before the failure counts: once the client hears of the batch, the hint is durable.
          await cluster.hints?.keep(part, for: node)
          sink.yield((k, .failure(error)))
        }
        if node != cluster.selfID, let intent, unsettled.finishOne() {
          await hints?.settled(intent)
        }
      }
    }
    return answers
  }

  /// The error of a batch some of whose rows cannot reach the replicas `consistency` requires: the first
  /// failed node's status (with its details), then what each node did with its rows.
  private func writeFailure(
    lost: [Int], quorum: WriteQuorum, consistency: Consistency, plan: ReplicaPlan,
    results: [Int: Result<Strata_V1_WriteFeaturesResponse, any Error>]
  ) -> RPCError {
    let order = plan.nodes.indices.sorted { plan.nodes[$0] < plan.nodes[$1] }
    let failed = order.compactMap { k -> (Int, any Error)? in
      if case .failure(let e) = results[k] { return (k, e) }
      return nil
    }
    let (firstK, firstError) = failed[0]
    let first = cluster.failure(firstError, node: plan.nodes[firstK])
    var notes: [String] = []
    for k in order {
      let node = cluster.describe(plan.nodes[k])
      switch results[k] {
      case .success: notes.append("\(node): \(plan.parts[k].count) rows written")
      case .failure(let e):
        // No answer in time: the replica may have committed its part before the deadline passed.
        let code = (e as? RPCError)?.code
        notes.append(
          code == .deadlineExceeded || code == .cancelled
            ? "\(node): rows \(Self.ranges(plan.parts[k])) may or may not have been written (no answer in time)"
            : "\(node): rows \(Self.ranges(plan.parts[k])) not written")
      case nil: notes.append("\(node): rows \(Self.ranges(plan.parts[k])) not answered yet")
      }
    }
    let rf = cluster.placement.replicationFactor
    let summary =
      rf == 1
      ? ""
      : "; rows \(Self.ranges(lost)) cannot reach the \(quorum.required) of \(rf) replicas that \(consistency.rawValue) needs (replicas that failed get them later from this node's hints)"
    // The details (the node that failed) stay; the message adds which rows were and were not written.
    return RPCError(code: first.code, message: "\(first.message)\(summary); \(notes.joined(separator: "; "))", metadata: first.metadata)
  }

  /// "0-3, 7, 9-12" for sorted indexes (shortened after 20 ranges).
  static func ranges(_ indexes: [Int]) -> String {
    var parts: [String] = []
    var i = 0
    while i < indexes.count {
      var j = i
      while j + 1 < indexes.count && indexes[j + 1] == indexes[j] + 1 { j += 1 }
      parts.append(i == j ? "\(indexes[i])" : "\(indexes[i])-\(indexes[j])")
      i = j + 1
    }
    return parts.count > 20 ? parts.prefix(20).joined(separator: ", ") + ", ... (\(indexes.count) rows)" : parts.joined(separator: ", ")
  }

  // MARK: Online reads

  public func getOnlineFeatures(
    request: Strata_V1_GetOnlineFeaturesRequest, context: ServerContext
  ) async throws -> Strata_V1_GetOnlineFeaturesResponse {
    try Strata_V1_GetOnlineFeaturesResponse(serializedBytes: try await onlineAnswer(request))
  }

  /// The encoded answer to a lookup (what `getOnlineFeatures` returns, as bytes). Each entity is read
  /// from one of its replicas (consistency ONE, `ReplicaRead`): this node when it holds one, else the
  /// first replica that has not failed recently. A replica that fails passes its entities to their
  /// next replica; one that has not answered within its hedging delay (its recent p99) gets company:
  /// the next replica is asked too, and the first answer wins. The answers' encoded vectors are spliced
  /// together in request order.
  ///
  /// A lookup by model is the lookup of the model's pinned features, with the model served in field 5.
  func onlineAnswer(_ request: Strata_V1_GetOnlineFeaturesRequest) async throws -> [UInt8] {
    let (request, model) =
      request.model.isEmpty ? (request, nil) : try await rpc { try FeatureStoreService.byModel(request, store: store) }
    // Counted, so that a membership change keeps this view's lanes open until the lookup is done.
    var bytes = try await cluster.activity.lookup { try await answer(request) }
    // Fields 4 and 5 after the others: a parser merges fields in any order.
    if request.withFreshness {
      let columns = try await rpc { try store.resolve(try [FeatureRef](parsing: request.features)) }
      for entry in local.freshness(of: columns) { Self.appendField(4, try entry.serializedBytes(), to: &bytes) }
    }
    if let model { Self.appendField(5, Array(model.qualifiedName.utf8), to: &bytes) }
    return bytes
  }

  /// Appends a length-delimited field (a message or a string) to an encoded message.
  static func appendField(_ field: Int, _ encoded: [UInt8], to bytes: inout [UInt8]) {
    bytes.append(UInt8(field << 3 | 2))
    var n = UInt64(encoded.count)
    while n >= 0x80 {
      bytes.append(UInt8(n & 0x7f) | 0x80)
      n >>= 7
    }
    bytes.append(UInt8(n))
    bytes.append(contentsOf: encoded)
  }

  private func answer(_ request: Strata_V1_GetOnlineFeaturesRequest) async throws -> [UInt8] {
    try local.sizeLimit.check(
      request, estimate: request.entityIds.reduce(0) { $0 + $1.utf8.count + 2 }, what: "the lookup request")
    let columns = try await rpc { () async throws -> [ResolvedFeature] in
      let columns = try store.resolve(try [FeatureRef](parsing: request.features))
      try store.checkLookup(entityIDs: request.entityIds)
      return columns
    }
    let consistency = try Consistency(request.consistency, default: .one)
    let placement = cluster.placement
    if consistency != .one && placement.replicationFactor > 1 {
      return try await quorumAnswer(request, columns: columns, required: placement.required(consistency)).serializedBytes()
    }
    let ids = request.entityIds
    let encodedColumns: [[UInt8]] = try columns.map { try $0.proto.serializedBytes() }
    let read = ReplicaRead(
      replicas: ids.map { placement.replicas(of: $0) }, preferring: cluster.selfID, avoiding: cluster.health.avoided(at: .now))
    // Every entity on this node: answered here, no tasks, no network.
    if read.initial.count == 1, read.initial[0].node == cluster.selfID {
      let answer = try await ownPart(request, columns: columns)
      guard answer.count == ids.count else {
        throw RPCError(code: .internalError, message: "this node answered \(answer.count) of \(ids.count) entities")
      }
      return EncodedVectors.assemble(columns: encodedColumns, parts: [answer], owner: [Int](repeating: 0, count: ids.count))
    }
    let (answers, done) = try await readReplicas(read, ids: ids, columns: columns)
    var picks: [(part: Int, entry: Int)] = []
    picks.reserveCapacity(ids.count)
    var position: [Int: [Int: Int]] = [:]
    for (i, r) in done.answer.enumerated() {
      if position[r] == nil {
        position[r] = Dictionary(uniqueKeysWithValues: done.requests[r].items.enumerated().map { ($1, $0) })
      }
      picks.append((r, position[r]![i]!))
    }
    return EncodedVectors.assemble(columns: encodedColumns, parts: answers, picks: picks)
  }

  /// One replicated read: sends `read`'s requests, and reports answers, failures and hedging delays
  /// back to it until every entity has an answer. Each request runs in a task of its own, so a
  /// request to a node that hangs is left behind (cancelled), never waited for. Ends with
  /// CancellationError when gRPC cancels the call being served.
  private func readReplicas(
    _ start: ReplicaRead, ids: [String], columns: [ResolvedFeature]
  ) async throws -> ([EncodedVectors?], ReplicaRead) {
    let deadline = ContinuousClock.now + cluster.timeout
    let pinned = columns.map(\.qualifiedName)
    let (events, sink) = AsyncStream.makeStream(of: ReplicaReadEvent.self)
    let tasks = Mutex<[Task<Void, Never>]>([])
    let lanes = Mutex<[PendingLaneLookup]>([])
    defer {
      for task in tasks.withLock({ $0 }) { task.cancel() }
      for pending in lanes.withLock({ $0 }) { pending.abandon() }
      sink.finish()
    }
    let hedging = cluster.placement.replicationFactor > 1
    @Sendable func send(_ r: Int, _ request: ReplicaRead.Request) {
      let part = Strata_V1_GetOnlineFeaturesRequest.with {
        $0.features = pinned
        $0.entityIds = request.items.map { ids[$0] }
      }
      let node = request.node
      if node == cluster.selfID {
        let task = Task {
          do { sink.yield(.answer(r, .success(try await ownPart(part, columns: columns)))) } catch { sink.yield(.answer(r, .failure(error))) }
        }
        tasks.withLock { $0.append(task) }
        return
      }
      // On the peer's lane when it is connected (sent now, before any task runs), else over gRPC.
      let pending = cluster.lookupLanes?.start(part, on: node, deadline: deadline)
      if let pending {
        cluster.lookupCounters.countLane()
        lanes.withLock { $0.append(pending) }
      }
      let delay = cluster.health.hedgeDelay(for: node)
      let task = Task {
        let started = ContinuousClock.now
        do {
          let answer: EncodedVectors
          if let pending {
            do { answer = try await pending.answer() } catch { throw cluster.failure(error, node: node) }
          } else {
            answer = try await grpcPart(part, on: node)
          }
          guard answer.count == part.entityIds.count else {
            throw RPCError(
              code: .internalError,
              message: "cluster node \(cluster.describe(node)) answered \(answer.count) of \(part.entityIds.count) entities")
          }
          cluster.health.answered(node, after: .now - started)
          cluster.hints?.answered(node)
          sink.yield(.answer(r, .success(answer)))
        } catch {
          if !Task.isCancelled { cluster.health.failed(node, at: .now) }
          sink.yield(.answer(r, .failure(error)))
        }
      }
      tasks.withLock { $0.append(task) }
      if hedging {
        let timer = Task {
          try? await Task.sleep(for: delay)
          if !Task.isCancelled { sink.yield(.hedge(r)) }
        }
        tasks.withLock { $0.append(timer) }
      }
    }
    var read = start
    var answers: [EncodedVectors?] = []
    for (r, request) in read.initial.enumerated() {
      answers.append(nil)
      send(r, request)
    }
    var lastError: [Int: any Error] = [:]
    return try await withRPCCancellationHandler {
      for await event in events {
        let step: ReplicaRead.Step
        switch event {
        case .answer(let r, .success(let answer)):
          answers[r] = answer
          step = read.answered(r)
        case .answer(let r, .failure(let error)):
          if CallerDeadline.hasPassed || Task.isCancelled { throw cluster.failure(error, node: read.requests[r].node) }
          lastError[r] = error
          step = read.failed(r)
        case .hedge(let r):
          step = read.hedge(r)
          // Slower than its hedging delay: later reads go to other replicas first for a while.
          if case .send = step { cluster.health.failed(read.requests[r].node, at: .now) }
        }
        switch step {
        case .wait: continue
        case .done: return (answers, read)
        case .send(let first, let requests):
          for (offset, request) in requests.enumerated() {
            answers.append(nil)
            send(first + offset, request)
          }
        case .exhausted(let items):
          // Every replica of these entities failed: the last failure of the first of them.
          let item = items[0]
          let r = read.requests.indices.last { read.requests[$0].items.contains(item) && lastError[$0] != nil }!
          throw cluster.failure(lastError[r]!, node: read.requests[r].node)
        }
      }
      // The call was cancelled (its deadline passed, or the client cancelled): name a node still awaited.
      let waiting = answers.indices.first { answers[$0] == nil && lastError[$0] == nil } ?? 0
      throw cluster.failure(CancellationError(), node: read.requests[waiting].node)
    } onCancelRPC: {
      sink.finish()
    }
  }

  /// This node's own part: no round trip to itself.
  private func ownPart(_ part: Strata_V1_GetOnlineFeaturesRequest, columns: [ResolvedFeature]) async throws -> EncodedVectors {
    let ids = part.entityIds
    if let bytes = try local.encodedVectorsInline(ids, columns: columns) { return try EncodedVectors(response: bytes) }
    return try EncodedVectors(response: try await local.encodedVectors(ids, columns: columns))
  }

  /// An owner's part over gRPC: on the owner's lookup stream when it is open, else a unary call.
  private func grpcPart(_ part: Strata_V1_GetOnlineFeaturesRequest, on node: String) async throws -> EncodedVectors {
    cluster.lookupCounters.countGRPC()
    do {
      let answer: Strata_V1_GetOnlineFeaturesResponse
      if let streams = cluster.lookupStreams, let streamed = try await streams.lookup(part, on: node, timeout: cluster.timeout) {
        answer = streamed
      } else {
        answer = try await cluster.peer(node).getOnline(part, metadata: cluster.metadata, options: cluster.options)
      }
      return try EncodedVectors(response: try OnlineResponseEncoder.encode(answer))
    } catch {
      throw cluster.failure(error, node: node)
    }
  }

  // MARK: Exports

  public func getHistoricalFeatures(
    request: RPCAsyncSequence<Strata_V1_GetHistoricalFeaturesRequest, any Error>,
    response: RPCWriter<Strata_V1_GetHistoricalFeaturesResponse>,
    context: ServerContext
  ) async throws {
    let export = ClusterExport(coordinator: self)
    let started = store.now
    let (columns, labels, trainingSet) = try await cancelledWithRPC { try await export.run(request: request, response: response) }
    store.lineageObserver?.exported(columns, labels: labels, trainingSet: trainingSet, started: started, ended: store.now)
  }

  // MARK: Status

  /// Answered by this node alone (a health check of the node that received it).
  public func ping(request: Strata_V1_PingRequest, context: ServerContext) async throws -> Strata_V1_PingResponse {
    Strata_V1_PingResponse()
  }

  public func getStatus(
    request: Strata_V1_GetStatusRequest, context: ServerContext
  ) async throws -> Strata_V1_GetStatusResponse {
    var status = try await local.getStatus(request: request, context: context)
    let nodes = await withTaskGroup(of: Strata_V1_ClusterNodeStatus.self) { tasks in
      for node in cluster.members {
        tasks.addTask {
          var n = Strata_V1_ClusterNodeStatus()
          n.nodeID = node
          n.address = cluster.addresses[node] ?? ""
          n.ringShare = cluster.ring.share(of: node)
          n.zone = cluster.placement.zones[node] ?? ""
          n.hintsPending = cluster.hints?.pendingRows(for: node) ?? 0
          do {
            let s = try await cluster.peer(node).getNodeStatus(.init(), metadata: cluster.metadata, options: cluster.options)
            n.reachable = true
            n.rowsTotal = s.groups.reduce(0) { $0 + $1.rowsTotal }
            n.groups = s.groups
            if node != cluster.selfID { cluster.hints?.answered(node) }
          } catch {
            n.reachable = false
            n.error = cluster.failure(error, node: node).message
          }
          return n
        }
      }
      var all: [Strata_V1_ClusterNodeStatus] = []
      for await n in tasks { all.append(n) }
      return all
    }
    status.ringEpoch = cluster.ring.epoch
    if let control = cluster.membership,
      let answer = try? await control.change(.with { $0.action = .status }), answer.hasChange
    {
      status.membershipChange = answer.change
    }
    status.replicationFactor = UInt32(cluster.placement.replicationFactor)
    status.internodeLookupsOnLanes = cluster.lookupCounters.onLanes
    status.internodeLookupsOverGrpc = cluster.lookupCounters.overGRPC
    status.laneLookupsAnswered = cluster.laneServer?.answered ?? 0
    status.clusterNodes = cluster.members.compactMap { id in nodes.first { $0.nodeID == id } }
    // The cluster's freshness: each group version's latest write on any reachable node.
    let others = Self.lastWrites(nodes.filter(\.reachable).map(\.groups))
    local.freshnessBoard.update(others)
    status.groups = FeatureStoreService.groupStatus(
      catalog: store.catalog, stats: store.shard.writeStats, freshness: store.freshness(otherLastWrites: others))
    return status
  }

  /// `GetLineage` on a cluster: the graph from this node's registry (caught up with the leader) and
  /// the write logs of every member (each record names its node). UNAVAILABLE naming a member that
  /// does not answer: a lineage never leaves out a node's writers silently.
  public func getLineage(
    request: Strata_V1_GetLineageRequest, context: ServerContext
  ) async throws -> Strata_V1_GetLineageResponse {
    await catchUpWithLeader()
    return try await rpc {
      var response = try FeatureStoreService.lineage(request, catalog: store.catalog)
      let cluster = self.cluster
      let exact = Strata_V1_GetLineageRequest.with {
        $0.group = request.group
        $0.version = response.group.version
      }
      let logs = try await withThrowingTaskGroup(of: [Strata_V1_WriteRecord].self) { tasks in
        for node in cluster.members {
          tasks.addTask {
            do {
              return try await cluster.peer(node).getNodeWriteLog(exact, metadata: cluster.metadata, options: cluster.options).writers
            } catch {
              throw cluster.failure(error, node: node)
            }
          }
        }
        var all: [Strata_V1_WriteRecord] = []
        for try await records in tasks { all += records }
        return all
      }
      response.writers = logs.sorted {
        ($0.lastWriteMicros, $1.nodeID, $1.pipeline, $1.runID) > ($1.lastWriteMicros, $0.nodeID, $0.pipeline, $0.runID)
      }
      return response
    }
  }

  /// The latest last write per group version (`name@version`) over the nodes' reports.
  static func lastWrites(_ reports: [[Strata_V1_GroupWriteStatus]]) -> [String: Timestamp] {
    var out: [String: Timestamp] = [:]
    for groups in reports {
      for g in groups where g.lastWriteMicros != 0 {
        let t = Timestamp(microseconds: g.lastWriteMicros)
        let key = "\(g.group)@\(g.version)"
        if out[key].map({ $0 < t }) ?? true { out[key] = t }
      }
    }
    return out
  }
}

/// What happened to one request of a replicated read (`ClusterCoordinator.readReplicas`).
enum ReplicaReadEvent: Sendable {
  /// Request `r` answered or failed.
  case answer(Int, Result<EncodedVectors, any Error>)
  /// Request `r`'s hedging delay passed.
  case hedge(Int)
}

/// Counts tasks down to zero; `finishOne` is true for exactly the last one.
private final class Countdown: Sendable {
  private let remaining: Atomic<Int>

  init(_ count: Int) { remaining = Atomic(count) }

  func finishOne() -> Bool { remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 }
}
