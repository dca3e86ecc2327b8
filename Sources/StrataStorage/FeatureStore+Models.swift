public import StrataCore

extension FeatureStore {
  // MARK: Models and training sets (single node; a cluster changes its registry through etcd or its leader)

  /// Registers a model version (`Catalog.registerModel`) at this node's clock and persists it.
  public func registerModel(_ registration: ModelRegistration) async throws -> (model: RegisteredModel, created: Bool) {
    let now = clock()
    return try await executor.write {
      try self.registry.change { catalog throws(StrataError) in try catalog.registerModel(registration, at: now) }
    }
  }

  /// Changes one model version's status (`Catalog.setModelStatus`) and persists it.
  public func setModelStatus(_ status: ModelStatus, model: String, version: Int, note: StatusNote) async throws -> RegisteredModel {
    let now = clock()
    return try await executor.write {
      try self.registry.change { catalog throws(StrataError) in
        try catalog.setModelStatus(status, model: model, version: version, at: now, note: note)
      }
    }
  }

  /// Saves a training set's manifest (`Catalog.saveTrainingSet`).
  public func saveTrainingSet(_ set: TrainingSet) async throws {
    try await executor.write {
      try self.registry.change { catalog throws(StrataError) in try catalog.saveTrainingSet(set) }
    }
  }

  /// Adopts registry entries (`RegistryStore.adopt(entries:)`); returns how many were added or changed.
  public func adoptRegistry(entries: [RegistryEntry], generation: UInt64, onlyIfNewer: Bool = true) async throws -> Int {
    try await executor.write { try self.registry.adopt(entries: entries, generation: generation, onlyIfNewer: onlyIfNewer).count }
  }

  /// The columns and model of an online lookup by model (`Catalog.resolve(model:)`).
  public func resolve(model reference: ModelReference) throws(StrataError) -> (model: RegisteredModel, columns: [ResolvedFeature]) {
    try catalog.resolve(model: reference)
  }
}

extension LabelDigest {
  public mutating func add(_ label: LabelRow) {
    add(entityID: label.entityID, time: label.time, knownAt: label.knownAt)
  }
}
