public import GRPCCore
internal import SwiftProtobuf
internal import Logging
internal import StrataCore
internal import StrataCluster
public import StrataProto
internal import StrataStorage

extension ClusterCoordinator {
  // MARK: Models and training sets: changed through etcd (every node follows it) or the registry leader

  public func registerModel(
    request: Strata_V1_RegisterModelRequest, context: ServerContext
  ) async throws -> Strata_V1_RegisterModelResponse {
    if let registry = cluster.registry {
      return try await Self.etcdFailures {
        let registration = try ModelRegistration(proto: request)
        let now = store.now
        let (model, created) = try await registry.change { catalog throws(StrataError) in try catalog.registerModel(registration, at: now) }
        if created { local.logModel(model, "registered model version") }
        return .with {
          $0.model = model.proto
          $0.created = created
        }
      }
    }
    return try await onLeader(
      here: { try await shard.registerModelOnLeader(request: request, context: context) },
      there: { try await $0.registerModelOnLeader(request, metadata: cluster.metadata, options: cluster.options) })
  }

  public func setModelStatus(
    request: Strata_V1_SetModelStatusRequest, context: ServerContext
  ) async throws -> Strata_V1_SetModelStatusResponse {
    if let registry = cluster.registry {
      return try await Self.etcdFailures {
        let (status, note) = try FeatureStoreService.modelStatusChange(request)
        let now = store.now
        let model = try await registry.change { catalog throws(StrataError) in
          try catalog.setModelStatus(status, model: request.name, version: Int(request.version), at: now, note: note)
        }
        local.logModel(model, "model status changed", note: note)
        return .with { $0.model = model.proto }
      }
    }
    return try await onLeader(
      here: { try await shard.setModelStatusOnLeader(request: request, context: context) },
      there: { try await $0.setModelStatusOnLeader(request, metadata: cluster.metadata, options: cluster.options) })
  }

  /// Saves a training set's manifest for the whole cluster (the end of a named export).
  func saveTrainingSet(_ set: TrainingSet) async throws {
    if let registry = cluster.registry {
      try await Self.etcdFailures {
        try await registry.change { catalog throws(StrataError) in try catalog.saveTrainingSet(set) }
      }
      return
    }
    let context = ServerContext(descriptor: Strata_V1_Shard.Method.SaveTrainingSetOnLeader.descriptor, remotePeer: "", localPeer: "", cancellation: .init())
    _ = try await onLeader(
      here: { try await shard.saveTrainingSetOnLeader(request: set.proto, context: context) },
      there: { try await $0.saveTrainingSetOnLeader(set.proto, metadata: cluster.metadata, options: cluster.options) })
  }

  public func listModels(request: Strata_V1_ListModelsRequest, context: ServerContext) async throws -> Strata_V1_ListModelsResponse {
    await catchUpWithLeader()
    return try await rpc { try FeatureStoreService.models(request, catalog: store.catalog) }
  }

  public func getModel(request: Strata_V1_GetModelRequest, context: ServerContext) async throws -> Strata_V1_GetModelResponse {
    await catchUpWithLeader()
    return try await rpc { try FeatureStoreService.model(request, catalog: store.catalog) }
  }

  public func listTrainingSets(
    request: Strata_V1_ListTrainingSetsRequest, context: ServerContext
  ) async throws -> Strata_V1_ListTrainingSetsResponse {
    await catchUpWithLeader()
    return try await rpc { try FeatureStoreService.trainingSets(request, catalog: store.catalog) }
  }
}
