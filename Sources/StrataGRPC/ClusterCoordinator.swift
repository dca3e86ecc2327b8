public import GRPCCore
internal import SwiftProtobuf
internal import StrataCore
internal import StrataCluster
public import StrataProto
internal import StrataStorage
internal import Foundation
public import Logging

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
  let cluster: ClusterView<Transport>
  let logger: Logger

  public init(local: FeatureStoreService, cluster: ClusterView<Transport>, logger: Logger) {
    self.local = local
    self.cluster = cluster
    self.logger = logger
  }

  var store: FeatureStore { local.store }
  /// This node's side of the internode service (used when this node is the registry leader).
  var shard: ShardService<Transport> { ShardService(local: local, cluster: cluster, logger: logger) }

  // MARK: Registry

  public func applyFeatureGroups(
    request: Strata_V1_ApplyFeatureGroupsRequest, context: ServerContext
  ) async throws -> Strata_V1_ApplyFeatureGroupsResponse {
    let leader = cluster.leaderID
    do {
      // The leader applies its own requests directly: its client to itself may still be connecting.
      let response =
        leader == cluster.selfID
        ? try await shard.applyOnLeader(request: request, context: context)
        : try await cluster.peer(leader).applyOnLeader(request, metadata: cluster.metadata, options: cluster.options)
      try await refreshRegistry(from: leader)
      return response
    } catch let error as RPCError where error.code == .invalidArgument {
      throw error
    } catch let error as RPCError where error.code == .failedPrecondition {
      throw RPCError(code: error.code, message: "\(error.message) (from the registry leader \(cluster.describe(leader)))")
    } catch {
      throw cluster.failure(error, node: leader)
    }
  }

  public func setFeatureGroupStatus(
    request: Strata_V1_SetFeatureGroupStatusRequest, context: ServerContext
  ) async throws -> Strata_V1_SetFeatureGroupStatusResponse {
    let leader = cluster.leaderID
    do {
      let response =
        leader == cluster.selfID
        ? try await shard.setStatusOnLeader(request: request, context: context)
        : try await cluster.peer(leader).setStatusOnLeader(request, metadata: cluster.metadata, options: cluster.options)
      try await refreshRegistry(from: leader)
      return response
    } catch let error as RPCError where error.code != .unavailable && error.code != .deadlineExceeded {
      throw error
    } catch {
      throw cluster.failure(error, node: leader)
    }
  }

  /// Makes sure this node holds the leader's registry now (the leader's push may race the answer).
  private func refreshRegistry(from leader: String, timeout: Duration? = nil) async throws {
    guard leader != cluster.selfID else { return }
    var options = cluster.options
    if let timeout { options.timeout = min(timeout, cluster.timeout) }
    let snapshot = try await cluster.peer(leader).getRegistry(.init(), metadata: cluster.metadata, options: options)
    _ = try await store.adoptRegistry(try snapshot.groups.map { try FeatureGroup(proto: $0) }, generation: snapshot.generation)
  }

  /// Before resolving what a write or a catalog read means: adopts the leader's registry if it is newer
  /// (one small call), so a node that missed a push does not write to, or describe, an old version.
  /// When the leader does not answer within 2 s, this node's registry is used as it is.
  private func catchUpWithLeader() async {
    guard cluster.leaderID != cluster.selfID else { return }
    do {
      // Bounded: a hanging leader must not stall writes for the whole call timeout.
      try await refreshRegistry(from: cluster.leaderID, timeout: .seconds(2))
    } catch {
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
    await catchUpWithLeader()
    for try await message in request {
      do {
        try await writeBatch(message, into: &response, context: context)
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

  private func writeBatch(
    _ message: Strata_V1_WriteFeaturesRequest, into response: inout Strata_V1_WriteFeaturesResponse, context: ServerContext
  ) async throws {
    try local.sizeLimit.check(message, estimate: FeatureStoreService.estimate(message), what: "write batch \(response.batches + 1)")
    // Validate the whole batch here (every rule the owners apply), so a bad row writes nothing anywhere.
    let now = store.now
    let group = try await rpc { try store.validate(WriteRequest(proto: message), now: now).0 }
    // This node accepts the rows: it gives each its write id, which every node that stores it keeps.
    let writeIDs = store.assignWriteIDs(message.rows.count, now: now)
    let plan = RoutingPlan(entityIDs: message.rows.lazy.map(\.entityID), ring: cluster.ring)
    var parts: [String: Strata_V1_WriteFeaturesRequest] = [:]
    var indexes: [String: [Int]] = [:]
    for (k, owner) in plan.nodes.enumerated() {
      indexes[owner] = plan.parts[k]
      parts[owner] = .with {
        $0.group = message.group
        $0.version = UInt32(group.version)
        $0.features = message.features
        $0.rows = plan.parts[k].map { i in
          var row = message.rows[i]
          // Every owner stores the same created time for rows that had none: the coordinator's clock.
          if !row.hasCreatedTimestampMicros { row.createdTimestampMicros = now.microseconds }
          row.writeID = writeIDs[i].rawValue
          return row
        }
      }
    }
    let byOwner = parts
    let results = try await cancelledWithRPC { await withTaskGroup(of: (String, Result<Strata_V1_WriteFeaturesResponse, any Error>).self) { tasks in
      for (owner, part) in byOwner {
        tasks.addTask {
          do {
            // This node's own rows: the same write an owner does, without a round trip to itself.
            if owner == cluster.selfID { return (owner, .success(try await shard.writeBatch(request: part, context: context))) }
            return (owner, .success(try await cluster.peer(owner).writeBatch(part, metadata: cluster.metadata, options: cluster.options)))
          } catch {
            return (owner, .failure(error))
          }
        }
      }
      var all: [(String, Result<Strata_V1_WriteFeaturesResponse, any Error>)] = []
      for await r in tasks { all.append(r) }
      return all
    } }
    var failed: [(String, any Error)] = []
    var written: [String] = []
    var batchRows: UInt64 = 0
    var batchLate: UInt64 = 0
    for (owner, result) in results.sorted(by: { $0.0 < $1.0 }) {
      switch result {
      case .success(let r):
        batchRows += r.rowsWritten
        batchLate += r.lateRows
        written.append(owner)
      case .failure(let e): failed.append((owner, e))
      }
    }
    guard failed.isEmpty else {
      let (node, error) = failed[0]
      let first = cluster.failure(error, node: node)
      let notWritten = failed.map { n, e in
        // No answer in time: the owner may have committed its part before the deadline passed.
        let code = (e as? RPCError)?.code
        return code == .deadlineExceeded || code == .cancelled
          ? "\(cluster.describe(n)): rows \(Self.ranges(indexes[n]!)) may or may not have been written (no answer in time)"
          : "\(cluster.describe(n)): rows \(Self.ranges(indexes[n]!)) not written"
      }
      let done = written.map { "\(cluster.describe($0)): \(indexes[$0]!.count) rows written" }
      // The details (the node that failed) stay; the message adds which rows were and were not written.
      throw RPCError(
        code: first.code,
        message: "\(first.message); \(notWritten.joined(separator: "; "))" + (done.isEmpty ? "" : "; \(done.joined(separator: "; "))"),
        metadata: first.metadata)
    }
    response.rowsWritten += batchRows
    response.lateRows += batchLate
    response.batches += 1
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

  /// The encoded answer to a lookup (what `getOnlineFeatures` returns, as bytes): the request is
  /// split by owner; lookups on lanes are sent first, then this node's own part is answered, then the
  /// owners' answers are awaited, and their encoded vectors spliced together in request order.
  func onlineAnswer(_ request: Strata_V1_GetOnlineFeaturesRequest) async throws -> [UInt8] {
    try local.sizeLimit.check(
      request, estimate: request.entityIds.reduce(0) { $0 + $1.utf8.count + 2 }, what: "the lookup request")
    let columns = try await rpc { () async throws -> [ResolvedFeature] in
      let columns = try store.resolve(try [FeatureRef](parsing: request.features))
      try store.checkLookup(entityIDs: request.entityIds)
      return columns
    }
    // owners[k] answers parts[k]; owner[i] is the k of entity i.
    let plan = RoutingPlan(entityIDs: request.entityIds, ring: cluster.ring)
    let owners = plan.nodes
    let owner = plan.part
    // Owners read exactly the versions the coordinator resolved (their registries may lag or lead).
    let pinned = columns.map(\.qualifiedName)
    let parts = plan.parts.map { indexes in
      Strata_V1_GetOnlineFeaturesRequest.with {
        $0.features = pinned
        $0.entityIds = indexes.map { request.entityIds[$0] }
      }
    }
    let encodedColumns: [[UInt8]] = try columns.map { try $0.proto.serializedBytes() }
    let answers = try await answerParts(parts, owners: owners, columns: columns)
    for (k, answer) in answers.enumerated() where answer.count != parts[k].entityIds.count {
      throw RPCError(
        code: .internalError,
        message: "cluster node \(cluster.describe(owners[k])) answered \(answer.count) of \(parts[k].entityIds.count) entities")
    }
    return EncodedVectors.assemble(columns: encodedColumns, parts: answers, owner: owner)
  }

  /// The encoded vectors of `parts[k]` from `owners[k]`, for every k. Ends (with CancellationError)
  /// when gRPC cancels the call being served.
  private func answerParts(
    _ parts: [Strata_V1_GetOnlineFeaturesRequest], owners: [String], columns: [ResolvedFeature]
  ) async throws -> [EncodedVectors] {
    let deadline = ContinuousClock.now + cluster.timeout
    // Lane lookups first: they are on their way while this node answers its own part.
    var sent: [Int: PendingLaneLookup] = [:]
    if let lanes = cluster.lookupLanes {
      for (k, node) in owners.enumerated() where node != cluster.selfID {
        sent[k] = lanes.start(parts[k], on: node, deadline: deadline)
        if sent[k] != nil { cluster.lookupCounters.countLane() }
      }
    }
    let onLane = sent
    defer { for pending in onLane.values { pending.abandon() } }
    let mine = owners.firstIndex(of: cluster.selfID)
    let others = owners.indices.filter { owners[$0] != cluster.selfID && onLane[$0] == nil }
    guard !others.isEmpty else {
      // Only this node and lanes: everything on this task, no child tasks. A cancelled call abandons
      // the lane lookups, which ends the wait for them.
      return try await withRPCCancellationHandler {
        var answers = [EncodedVectors?](repeating: nil, count: parts.count)
        if let k = mine { answers[k] = try await ownPart(parts[k], columns: columns) }
        try await collect(onLane, owners: owners, into: &answers)
        return answers.map { $0! }
      } onCancelRPC: {
        for pending in onLane.values { pending.abandon() }
      }
    }
    // Some owners over gRPC: their calls and this node's part run as child tasks of a task that gRPC's
    // cancellation of the call cancels.
    return try await cancelledWithRPC {
      var answers = [EncodedVectors?](repeating: nil, count: parts.count)
      try await withThrowingTaskGroup(of: (Int, EncodedVectors).self) { tasks in
        if let k = mine { tasks.addTask { (k, try await ownPart(parts[k], columns: columns)) } }
        for k in others { tasks.addTask { (k, try await grpcPart(parts[k], on: owners[k])) } }
        for try await (k, answer) in tasks { answers[k] = answer }
      }
      try await collect(onLane, owners: owners, into: &answers)
      return answers.map { $0! }
    }
  }

  /// Awaits the lane lookups' answers into `answers`.
  private func collect(
    _ onLane: [Int: PendingLaneLookup], owners: [String], into answers: inout [EncodedVectors?]
  ) async throws {
    for (k, pending) in onLane.sorted(by: { $0.key < $1.key }) {
      do {
        answers[k] = try await pending.answer()
      } catch {
        throw cluster.failure(error, node: owners[k])
      }
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
    try await cancelledWithRPC { try await export.run(request: request, response: response) }
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
      for node in cluster.ring.nodes {
        tasks.addTask {
          var n = Strata_V1_ClusterNodeStatus()
          n.nodeID = node
          n.address = cluster.addresses[node] ?? ""
          n.ringShare = cluster.ring.share(of: node)
          do {
            let s = try await cluster.peer(node).getNodeStatus(.init(), metadata: cluster.metadata, options: cluster.options)
            n.reachable = true
            n.rowsTotal = s.groups.reduce(0) { $0 + $1.rowsTotal }
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
    status.internodeLookupsOnLanes = cluster.lookupCounters.onLanes
    status.internodeLookupsOverGrpc = cluster.lookupCounters.overGRPC
    status.laneLookupsAnswered = cluster.laneServer?.answered ?? 0
    status.clusterNodes = cluster.ring.nodes.compactMap { id in nodes.first { $0.nodeID == id } }
    return status
  }
}
