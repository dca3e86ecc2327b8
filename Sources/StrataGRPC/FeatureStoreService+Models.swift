public import GRPCCore
internal import SwiftProtobuf
internal import Logging
public import StrataCore
public import StrataProto
internal import StrataStorage

extension FeatureStoreService {
  // MARK: Models and training sets on a single node (a cluster coordinator changes them through its registry)

  public func registerModel(
    request: Strata_V1_RegisterModelRequest, context: ServerContext
  ) async throws -> Strata_V1_RegisterModelResponse {
    try await rpc {
      let (model, created) = try await store.registerModel(try ModelRegistration(proto: request))
      if created { logModel(model, "registered model version") }
      return .with {
        $0.model = model.proto
        $0.created = created
      }
    }
  }

  public func listModels(
    request: Strata_V1_ListModelsRequest, context: ServerContext
  ) async throws -> Strata_V1_ListModelsResponse {
    try await rpc { try Self.models(request, catalog: store.catalog) }
  }

  public func getModel(request: Strata_V1_GetModelRequest, context: ServerContext) async throws -> Strata_V1_GetModelResponse {
    try await rpc { try Self.model(request, catalog: store.catalog) }
  }

  public func setModelStatus(
    request: Strata_V1_SetModelStatusRequest, context: ServerContext
  ) async throws -> Strata_V1_SetModelStatusResponse {
    try await rpc {
      let (status, note) = try Self.modelStatusChange(request)
      let model = try await store.setModelStatus(status, model: request.name, version: Int(request.version), note: note)
      logModel(model, "model status changed", note: note)
      return .with { $0.model = model.proto }
    }
  }

  public func listTrainingSets(
    request: Strata_V1_ListTrainingSetsRequest, context: ServerContext
  ) async throws -> Strata_V1_ListTrainingSetsResponse {
    try await rpc { try Self.trainingSets(request, catalog: store.catalog) }
  }

  func logModel(_ model: RegisteredModel, _ what: Logger.Message, note: StatusNote? = nil) {
    var metadata: Logger.Metadata = ["strata.model": "\(model.qualifiedName)", "strata.model.status": "\(model.status.rawValue)"]
    if let note {
      metadata["strata.changed_by"] = "\(note.by)"
      metadata["strata.reason"] = "\(note.reason)"
    }
    logger.info(what, metadata: metadata)
  }

  // MARK: Answers from a catalog (shared with the cluster coordinator)

  static func models(_ request: Strata_V1_ListModelsRequest, catalog: Catalog) throws(StrataError) -> Strata_V1_ListModelsResponse {
    if !request.name.isEmpty, catalog.models[request.name] == nil {
      throw .notFound("model '\(request.name)' is not registered; `strata models` lists the registered models")
    }
    return .with {
      $0.models = catalog.allModels.filter { request.name.isEmpty || $0.name == request.name }.map(\.proto)
    }
  }

  static func model(_ request: Strata_V1_GetModelRequest, catalog: Catalog) throws(StrataError) -> Strata_V1_GetModelResponse {
    let model = try catalog.model(named: request.name, version: request.version == 0 ? nil : Int(request.version))
    return .with {
      $0.model = model.proto
      if let set = catalog.trainingSets[model.trainingSet] { $0.trainingSet = set.proto }
    }
  }

  static func trainingSets(
    _ request: Strata_V1_ListTrainingSetsRequest, catalog: Catalog
  ) throws(StrataError) -> Strata_V1_ListTrainingSetsResponse {
    if !request.name.isEmpty { _ = try catalog.trainingSet(named: request.name) }
    return .with {
      $0.trainingSets = catalog.allTrainingSets.filter { request.name.isEmpty || $0.name == request.name }.map(\.proto)
    }
  }

  /// The status a model status change asks for and its note; INVALID_ARGUMENT without a version or a
  /// status, or with a note over its limits.
  static func modelStatusChange(_ request: Strata_V1_SetModelStatusRequest) throws(StrataError) -> (ModelStatus, StatusNote) {
    guard request.version >= 1 else {
      throw .invalidArgument("set a version (>= 1): the status of one model version is changed at a time")
    }
    guard let status = ModelStatus(proto: request.status) else {
      throw .invalidArgument("set a status: ACTIVE or ARCHIVED")
    }
    let note = StatusNote(by: request.changedBy, reason: request.reason)
    try note.validate()
    return (status, note)
  }

  /// A lookup by model rewritten as the lookup of its pinned features, and the model served (nil when
  /// the request names features). INVALID_ARGUMENT when it names both; FAILED_PRECONDITION for an
  /// ARCHIVED model. A lookup of features (the hot path) touches nothing: the registry is read only
  /// for a lookup by model.
  static func byModel(
    _ request: Strata_V1_GetOnlineFeaturesRequest, store: FeatureStore
  ) throws(StrataError) -> (request: Strata_V1_GetOnlineFeaturesRequest, model: RegisteredModel?) {
    guard !request.model.isEmpty else { return (request, nil) }
    let catalog = store.catalog
    guard request.features.isEmpty else {
      throw .invalidArgument(
        "the lookup names model '\(request.model)' and \(request.features.count) features; a lookup by model reads exactly the model's features: leave features empty")
    }
    let (model, _) = try catalog.resolve(model: try ModelReference(parsing: request.model))
    var rewritten = request
    rewritten.model = ""
    rewritten.features = model.features.map(\.description)
    return (rewritten, model)
  }

  /// A new training set's manifest, checked before its export starts: INVALID_ARGUMENT for a bad name
  /// or an over-long creator or description, ALREADY_EXISTS for a taken name. nil when the first
  /// message names no training set.
  static func plannedTrainingSet(
    _ first: Strata_V1_GetHistoricalFeaturesRequest, catalog: Catalog
  ) throws(StrataError) -> TrainingSet? {
    guard !first.trainingSet.isEmpty else {
      guard first.createdBy.isEmpty, first.trainingSetDescription.isEmpty else {
        throw .invalidArgument("created_by and training_set_description describe a training set: name it (training_set) or leave them empty")
      }
      return nil
    }
    try catalog.checkNewTrainingSet(named: first.trainingSet)
    let planned = TrainingSet(
      name: first.trainingSet, features: [], labels: LabelDigest().summary(), createdAt: .epoch, createdBy: first.createdBy,
      description: first.trainingSetDescription)
    try planned.validate()
    return planned
  }
}
