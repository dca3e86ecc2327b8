extension Catalog {
  /// Every entry: group versions (by name, version), then model versions, then training sets (by name).
  public var entries: [RegistryEntry] {
    allVersions.map { .group($0) } + allModels.map { .model($0) } + allTrainingSets.map { .trainingSet($0) }
  }

  /// The entries of `self` that `old` lacks or holds differently (what a change made of `old` must
  /// persist). Entries are never removed.
  public func changes(since old: Catalog) -> [RegistryEntry] {
    var out: [RegistryEntry] = []
    for g in allVersions {
      let before = old.groups[g.name].flatMap { $0.indices.contains(g.version - 1) ? $0[g.version - 1] : nil }
      if before != g { out.append(.group(g)) }
    }
    for m in allModels where old.models[m.name]?.first(where: { $0.version == m.version }) != m { out.append(.model(m)) }
    for t in allTrainingSets where old.trainingSets[t.name] != t { out.append(.trainingSet(t)) }
    return out
  }

  /// `adopt(_:)` for every kind of entry: group versions by its rules; a model version or a training
  /// set is taken as given (status and history included), unless this catalog holds another definition
  /// under its name: FAILED_PRECONDITION, changing nothing. Returns the entries added or changed.
  public mutating func adopt(entries: [RegistryEntry]) throws(StrataError) -> [RegistryEntry] {
    var copy = self
    var versions: [FeatureGroup] = []
    var changed: [RegistryEntry] = []
    for entry in entries {
      switch entry {
      case .group(let g): versions.append(g)
      case .model(let m):
        var list = copy.models[m.name] ?? []
        if let i = list.firstIndex(where: { $0.version == m.version }) {
          guard list[i].sameDefinition(as: m) else {
            throw .failedPrecondition("registry diverged: model \(m.qualifiedName) has another definition on this node than in the registry")
          }
          guard list[i] != m else { continue }
          list[i] = m
        } else {
          list.append(m)
          list.sort { $0.version < $1.version }
        }
        copy.models[m.name] = list
        changed.append(entry)
      case .trainingSet(let t):
        if let mine = copy.trainingSets[t.name] {
          guard mine == t else {
            throw .failedPrecondition("registry diverged: training set \(t.name) has another manifest on this node than in the registry")
          }
          continue
        }
        copy.trainingSets[t.name] = t
        changed.append(entry)
      }
    }
    let groupChanges = try copy.adopt(versions)
    self = copy
    return groupChanges.map { .group($0) } + changed
  }
}
