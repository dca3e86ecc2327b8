extension Catalog {
  /// Every version of every model, by name then version.
  public var allModels: [RegisteredModel] {
    models.keys.sorted().flatMap { models[$0]! }
  }

  /// The ACTIVE model versions that read `group` (the versions a status change must not break).
  public func activeModels(reading group: FeatureGroup) -> [RegisteredModel] {
    allModels.filter { $0.status == .active && $0.reads(group: group.name, version: group.version) }
  }

  /// Registers a model version. Its features resolve now (`resolve`: NOT_FOUND for an unknown group,
  /// version or feature, FAILED_PRECONDITION for a RETIRED version) and are recorded pinned, one column
  /// each; a DEPRECATED version is refused (FAILED_PRECONDITION) unless `force`. With a training set,
  /// every feature must be one of its columns (INVALID_ARGUMENT), and no features means all of them.
  ///
  /// Registering what is already registered changes nothing (`created` false): the same definition
  /// under the same version, or, with no version asked for, the same as the newest version. Another
  /// definition under a taken version is ALREADY_EXISTS.
  public mutating func registerModel(
    _ r: ModelRegistration, at now: Timestamp
  ) throws(StrataError) -> (model: RegisteredModel, created: Bool) {
    try r.validate()
    let set = r.trainingSet.isEmpty ? nil : try trainingSet(named: r.trainingSet)
    let refs = r.features.isEmpty ? set?.features ?? [] : r.features
    let columns: [ResolvedFeature]
    do {
      columns = try resolve(refs)
    } catch {
      throw StrataError(error.code, "model '\(r.name)': \(error.message)")
    }
    if !r.force, let old = columns.first(where: { $0.group.status == .deprecated })?.group {
      let newest = groups[old.name]?.last { $0.status == .active }
      throw .failedPrecondition(
        "model '\(r.name)': feature group \(old.qualifiedName) is DEPRECATED: new models may not be registered on it; \(newest.map { "use \($0.qualifiedName), its newest ACTIVE version, instead" } ?? "\(old.name) has no ACTIVE version"), or set force (`strata models register --force`, force=True in the SDK)")
    }
    let pinned = columns.map { FeatureRef(group: $0.group.name, version: $0.group.version, feature: $0.feature.name) }
    var seen = Set<FeatureRef>()
    for p in pinned where !seen.insert(p).inserted {
      throw .invalidArgument("model '\(r.name)' names \(p) more than once; name each feature once")
    }
    if let set {
      for p in pinned where !set.features.contains(p) {
        throw .invalidArgument(
          "model '\(r.name)' reads \(p), which training set '\(set.name)' does not have; a model is served with what it was trained on (the set's columns: \(set.features.map(\.description).joined(separator: ", ")))")
      }
    }
    let versions = models[r.name] ?? []
    var model = RegisteredModel(
      name: r.name, version: r.version ?? (versions.last?.version ?? 0) + 1, features: pinned, trainingSet: r.trainingSet,
      description: r.description, registeredAt: now, registeredBy: r.registeredBy)
    if r.version == nil, let newest = versions.last {
      model.version = newest.version
      if newest.sameDefinition(as: model) { return (newest, false) }
      model.version = newest.version + 1
    }
    if let existing = versions.first(where: { $0.version == model.version }) {
      if existing.sameDefinition(as: model) { return (existing, false) }
      throw .alreadyExists(
        "model \(model.qualifiedName) is already registered with another definition (features \(existing.features.map(\.description).joined(separator: ", "))\(existing.trainingSet.isEmpty ? "" : ", training set \(existing.trainingSet)")); register version \((versions.last?.version ?? 0) + 1), or leave the version unset")
    }
    models[r.name] = (versions + [model]).sorted { $0.version < $1.version }
    return (model, true)
  }

  /// The model version named (`version` nil: the newest ACTIVE one). NOT_FOUND for an unknown model or
  /// version; FAILED_PRECONDITION when no version is ACTIVE.
  public func model(named name: String, version: Int? = nil) throws(StrataError) -> RegisteredModel {
    guard let versions = models[name], !versions.isEmpty else {
      throw .notFound("model '\(name)' is not registered; `strata models` lists the registered models")
    }
    if let version {
      guard let m = versions.first(where: { $0.version == version }) else {
        throw .notFound("model '\(name)' has no version \(version); its versions are \(versions.map { String($0.version) }.joined(separator: ", "))")
      }
      return m
    }
    guard let active = versions.last(where: { $0.status == .active }) else {
      throw .failedPrecondition("model '\(name)' has no ACTIVE version (all \(versions.count) are archived); name one with \(name)@V")
    }
    return active
  }

  /// The columns serving by `reference` reads: exactly the model's pinned features, in its order.
  /// FAILED_PRECONDITION for an ARCHIVED model (its versions may be retired by now).
  public func resolve(model reference: ModelReference) throws(StrataError) -> (model: RegisteredModel, columns: [ResolvedFeature]) {
    let m = try model(named: reference.name, version: reference.version)
    guard m.status == .active else {
      let newest = models[m.name]?.last { $0.status == .active }
      throw .failedPrecondition(
        "model \(m.qualifiedName) is ARCHIVED and is no longer served; \(newest.map { "serve \($0.qualifiedName), its newest ACTIVE version" } ?? "register a new version"), or set it ACTIVE again")
    }
    return (m, try resolve(m.features))
  }

  /// Changes one model version's status at `at`, recording `note`; setting the current status changes
  /// nothing. Making an ARCHIVED version ACTIVE again is FAILED_PRECONDITION when one of its feature
  /// versions was RETIRED meanwhile.
  public mutating func setModelStatus(
    _ status: ModelStatus, model name: String, version: Int, at: Timestamp, note: StatusNote = StatusNote()
  ) throws(StrataError) -> RegisteredModel {
    try note.validate()
    let current = try model(named: name, version: version)
    guard current.status != status else { return current }
    if status == .active {
      for f in current.features {
        if let g = try? group(named: f.group, version: f.version), g.status == .retired {
          throw .failedPrecondition(
            "model \(current.qualifiedName) cannot be ACTIVE again: it reads \(g.qualifiedName), which is RETIRED; register a new version on an ACTIVE one")
        }
      }
    }
    var updated = current
    updated.status = status
    updated.statusChanges.append(ModelStatusChange(from: current.status, to: status, at: at, by: note.by, reason: note.reason))
    models[name] = models[name]!.map { $0.version == version ? updated : $0 }
    return updated
  }
}
