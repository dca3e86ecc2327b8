public import GRPCCore
internal import SwiftProtobuf
internal import StrataCore
public import StrataProto
internal import StrataStorage
public import Logging
internal import ServiceLifecycle

/// The internode `Shard` service of a cluster node: runs forwarded calls on this node's store only
/// (never fanning out) and keeps the registry in step with the leader. Ring epochs are checked by
/// `RingEpochInterceptor` before any method runs.
public struct ShardService<Transport: ClientTransport>: Strata_V1_Shard.SimpleServiceProtocol {
  let local: FeatureStoreService
  let topology: ClusterTopology<Transport>
  let logger: Logger

  public init(local: FeatureStoreService, topology: ClusterTopology<Transport>, logger: Logger) {
    self.local = local
    self.topology = topology
    self.logger = logger
  }

  /// A shard of a cluster whose membership never changes.
  public init(local: FeatureStoreService, cluster: ClusterView<Transport>, logger: Logger) {
    self.init(local: local, topology: ClusterTopology(cluster), logger: logger)
  }

  /// The node's current view.
  var cluster: ClusterView<Transport> { topology.current }

  var store: FeatureStore { local.store }

  public func writeBatch(
    request: Strata_V1_WriteFeaturesRequest, context: ServerContext
  ) async throws -> Strata_V1_WriteFeaturesResponse {
    try await rpc {
      // Rows a coordinator accepted carry the write ids it gave them: every copy stores the same ids.
      let outcome = try await store.write(WriteRequest(proto: request), writeIDs: .accept)
      return .with {
        $0.rowsWritten = UInt64(outcome.rowsWritten)
        $0.lateRows = UInt64(outcome.lateRows)
        $0.batches = 1
      }
    }
  }

  /// `writeBatch` of a message still encoded: decoded on the store's writer thread.
  func writeBatch(raw bytes: [UInt8]) async throws -> Strata_V1_WriteFeaturesResponse {
    try await rpc {
      let outcome = try await store.write(writeIDs: .accept) {
        let message: Strata_V1_WriteFeaturesRequest
        do {
          message = try Strata_V1_WriteFeaturesRequest(serializedBytes: bytes)
        } catch {
          throw StrataError.invalidArgument("the write batch is not a valid WriteFeaturesRequest message: \(error)")
        }
        return WriteRequest(proto: message)
      }
      return .with {
        $0.rowsWritten = UInt64(outcome.rowsWritten)
        $0.lateRows = UInt64(outcome.lateRows)
        $0.batches = 1
      }
    }
  }

  public func getOnline(
    request: Strata_V1_GetOnlineFeaturesRequest, context: ServerContext
  ) async throws -> Strata_V1_GetOnlineFeaturesResponse {
    try await local.getOnlineFeatures(request: request, context: context)
  }

  /// Where this node's lookup lane listens; UNAVAILABLE when it has none (yet).
  public func getLookupLane(
    request: Strata_V1_GetLookupLaneRequest, context: ServerContext
  ) async throws -> Strata_V1_LookupLane {
    guard let address = cluster.laneServer?.address else {
      throw RPCError(code: .unavailable, message: "cluster node \(cluster.describe(cluster.selfID)) serves no lookup lane")
    }
    return .with {
      $0.port = UInt32(address.port)
      // Listening on every interface: the caller connects to the host it knows this node by.
      $0.host = ["0.0.0.0", "::", ""].contains(address.host) ? "" : address.host
    }
  }

  /// Lookups multiplexed on one stream: each runs as soon as it arrives (concurrently with the
  /// others) and its answer is sent when ready, tagged with its id; a failed lookup is answered with
  /// its status, and the stream goes on. The stream ends when the caller ends it, or when this node
  /// shuts down gracefully (it would otherwise keep the server's drain waiting forever); the caller
  /// then fails the lookups still waiting and reopens.
  public func lookupStream(
    request: RPCAsyncSequence<Strata_V1_ShardLookup, any Error>,
    response: RPCWriter<Strata_V1_ShardLookupAnswer>,
    context: ServerContext
  ) async throws {
    try await cancelWhenGracefulShutdown {
      try await serveLookups(request: request, response: response, context: context)
    }
  }

  private func serveLookups(
    request: RPCAsyncSequence<Strata_V1_ShardLookup, any Error>,
    response: RPCWriter<Strata_V1_ShardLookupAnswer>,
    context: ServerContext
  ) async throws {
    let (answers, sink) = AsyncStream.makeStream(of: Strata_V1_ShardLookupAnswer.self)
    try await withThrowingDiscardingTaskGroup { group in
      group.addTask {
        for await answer in answers { try await response.write(answer) }
      }
      defer { sink.finish() }
      try await withThrowingDiscardingTaskGroup { lookups in
        for try await lookup in request {
          lookups.addTask {
            var answer = Strata_V1_ShardLookupAnswer()
            answer.id = lookup.id
            do {
              answer.response = try await local.getOnlineFeatures(request: lookup.request, context: context)
            } catch {
              let status = (error as? RPCError) ?? RPCError(code: .internalError, message: "internal error: \(error)")
              answer.code = Int32(status.code.rawValue)
              answer.message = status.message
            }
            sink.yield(answer)
          }
        }
      }
    }
  }

  public func getHistorical(
    request: RPCAsyncSequence<Strata_V1_GetHistoricalFeaturesRequest, any Error>,
    response: RPCWriter<Strata_V1_GetHistoricalFeaturesResponse>,
    context: ServerContext
  ) async throws {
    // An owner joins its labels; only the coordinator saves a named training set (through the
    // cluster's registry), so a part that names one is refused rather than saved on this node alone.
    let parts = request.map { message throws -> Strata_V1_GetHistoricalFeaturesRequest in
      guard message.trainingSet.isEmpty else {
        throw RPCError(
          code: .invalidArgument,
          message: "an internode export part names training set '\(message.trainingSet)'; the coordinator saves training sets, owners only join")
      }
      return message
    }
    try await local.getHistoricalFeatures(request: RPCAsyncSequence(wrapping: parts), response: response, context: context)
  }

  // MARK: Registry

  public func applyOnLeader(
    request: Strata_V1_ApplyFeatureGroupsRequest, context: ServerContext
  ) async throws -> Strata_V1_ApplyFeatureGroupsResponse {
    try requireLeader()
    let response = try await local.applyFeatureGroups(request: request, context: context)
    await pushRegistry()
    return response
  }

  public func setStatusOnLeader(
    request: Strata_V1_SetFeatureGroupStatusRequest, context: ServerContext
  ) async throws -> Strata_V1_SetFeatureGroupStatusResponse {
    try requireLeader()
    let response = try await local.setFeatureGroupStatus(request: request, context: context)
    await pushRegistry()
    return response
  }

  public func registerModelOnLeader(
    request: Strata_V1_RegisterModelRequest, context: ServerContext
  ) async throws -> Strata_V1_RegisterModelResponse {
    try requireLeader()
    let response = try await local.registerModel(request: request, context: context)
    if response.created { await pushRegistry() }
    return response
  }

  public func setModelStatusOnLeader(
    request: Strata_V1_SetModelStatusRequest, context: ServerContext
  ) async throws -> Strata_V1_SetModelStatusResponse {
    try requireLeader()
    let response = try await local.setModelStatus(request: request, context: context)
    await pushRegistry()
    return response
  }

  public func saveTrainingSetOnLeader(request: Strata_V1_TrainingSet, context: ServerContext) async throws -> Strata_V1_TrainingSet {
    try requireLeader()
    return try await rpc {
      let set = try TrainingSet(proto: request)
      try await store.saveTrainingSet(set)
      await pushRegistry()
      return set.proto
    }
  }

  public func putRegistry(
    request: Strata_V1_RegistrySnapshot, context: ServerContext
  ) async throws -> Strata_V1_PutRegistryResponse {
    try refuseWithEtcd("PutRegistry")
    // The snapshot sent is not trusted: any process that reaches the internode port can send one (a
    // snapshot with a huge generation used to make a node ignore every later change). It only says
    // that the registry changed: this node pulls the registry from the leader itself, once.
    guard cluster.selfID != cluster.leaderID, let leader = try? cluster.peer(cluster.leaderID) else {
      return .with { $0.added = 0 }
    }
    do {
      let snapshot = try await leader.getRegistry(.init(), metadata: cluster.metadata, options: cluster.options)
      return try await rpc {
        let changed = try await store.adoptRegistry(entries: try Self.entries(of: snapshot), generation: snapshot.generation)
        return .with { $0.added = UInt32(changed) }
      }
    } catch {
      throw cluster.failure(error, node: cluster.leaderID)
    }
  }

  public func getRegistry(
    request: Strata_V1_GetRegistryRequest, context: ServerContext
  ) async throws -> Strata_V1_RegistrySnapshot {
    Self.snapshot(store)
  }

  public func getNodeStatus(
    request: Strata_V1_GetStatusRequest, context: ServerContext
  ) async throws -> Strata_V1_GetStatusResponse {
    local.status(context: context, mergingOtherNodes: false)
  }

  public func getNodeWriteLog(
    request: Strata_V1_GetLineageRequest, context: ServerContext
  ) async throws -> Strata_V1_GetLineageResponse {
    try await rpc {
      let group = try FeatureStoreService.version(request, catalog: store.catalog)
      return .with { $0.writers = FeatureStoreService.writeRecords(store, storageID: group.storageID, nodeID: cluster.selfID) }
    }
  }

  static func snapshot(_ store: FeatureStore) -> Strata_V1_RegistrySnapshot {
    .with {
      // The generation first: a change landing in between makes the snapshot look older, never newer.
      $0.generation = store.registry.generation
      let catalog = store.catalog
      $0.groups = catalog.allVersions.map(\.proto)
      $0.models = catalog.allModels.map(\.proto)
      $0.trainingSets = catalog.allTrainingSets.map(\.proto)
    }
  }

  /// Every entry of a leader's snapshot.
  static func entries(of snapshot: Strata_V1_RegistrySnapshot) throws(StrataError) -> [RegistryEntry] {
    var out: [RegistryEntry] = []
    for g in snapshot.groups { out.append(.group(try FeatureGroup(proto: g))) }
    for m in snapshot.models { out.append(.model(try RegisteredModel(proto: m))) }
    for t in snapshot.trainingSets { out.append(.trainingSet(try TrainingSet(proto: t))) }
    return out
  }

  /// A cluster whose registry is in etcd takes no registry pushes or leader calls: every node follows
  /// etcd.
  private func refuseWithEtcd(_ method: String) throws {
    guard cluster.registry == nil else {
      throw RPCError(
        code: .failedPrecondition,
        message: "\(method) is not used by this cluster: its registry is kept in etcd, and every node follows it there")
    }
  }

  private func requireLeader() throws {
    try refuseWithEtcd("registry changes through a leader")
    guard cluster.selfID == cluster.leaderID else {
      throw RPCError(
        code: .failedPrecondition,
        message: "registry changes go to the leader \(cluster.describe(cluster.leaderID)), not \(cluster.describe(cluster.selfID))")
    }
  }

  /// Sends this node's registry to every other node, in parallel. A node that does not answer learns
  /// it when it starts again (`pullRegistry`).
  func pushRegistry() async {
    let snapshot = Self.snapshot(store)
    await withTaskGroup(of: Void.self) { group in
      for (node, client) in cluster.peers where node != cluster.selfID {
        let peer = Strata_V1_Shard.Client(wrapping: client)
        group.addTask {
          do {
            _ = try await peer.putRegistry(snapshot, metadata: cluster.metadata, options: cluster.options)
          } catch {
            logger.warning("registry push failed", metadata: ["strata.node": "\(cluster.describe(node))", "error": "\(error)"])
          }
        }
      }
    }
  }

  /// Follows the leader's registry until cancelled: pulls it at start (a node that was down learns
  /// what changed meanwhile), then every `interval`, which also repairs a push this node missed while
  /// unreachable. Snapshots that are not newer are ignored. Returns at once on the leader itself.
  public func followRegistry(every interval: Duration = .seconds(2)) async {
    while !Task.isCancelled {
      await pullRegistry()
      try? await Task.sleep(for: interval)
    }
  }

  /// Adopts the leader's registry once, retrying every second until the leader answers.
  public func pullRegistry() async {
    guard cluster.selfID != cluster.leaderID, let leader = try? cluster.peer(cluster.leaderID) else { return }
    while !Task.isCancelled {
      do {
        let snapshot = try await leader.getRegistry(.init(), metadata: cluster.metadata, options: cluster.options)
        let changed = try await store.adoptRegistry(entries: try Self.entries(of: snapshot), generation: snapshot.generation)
        if changed > 0 { logger.info("registry pulled from the leader", metadata: ["strata.changed": "\(changed)"]) }
        return
      } catch {
        logger.info("registry leader not reachable yet", metadata: ["error": "\(error)"])
        try? await Task.sleep(for: .seconds(1))
      }
    }
  }
}
