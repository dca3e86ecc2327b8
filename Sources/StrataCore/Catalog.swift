/// The registry of feature groups and their versions, as a value type with no I/O.
///
/// Rules:
/// - Applying a spec for a new name registers version 1 (`.created`).
/// - Applying a spec equal to the group's latest version is a no-op (`.unchanged`), even if that
///   version was deprecated (re-applying does not resurrect or duplicate anything).
/// - Applying a changed spec registers version N+1, ACTIVE (`.newVersion`). Older versions keep their
///   status and stay readable and writable until deprecated/retired.
/// - An unpinned reference resolves to the newest ACTIVE version.
///
/// The catalog also holds the models and the saved training sets that read the groups' versions
/// (`Catalog+Models`, `Catalog+TrainingSets`), so that a status change can see who depends on a version.
///
/// `RegistryStore` persists it; the gRPC layer only ever reads and applies through it.
public struct Catalog: Sendable, Equatable {
  /// Every version of every group, by name; each array ascending by version, without gaps.
  public private(set) var groups: [String: [FeatureGroup]]
  /// The storage id the next registered version gets.
  public private(set) var nextStorageID: UInt32
  /// Every version of every model, by name; each array ascending by version (gaps allowed).
  public internal(set) var models: [String: [RegisteredModel]]
  /// Saved training sets by name.
  public internal(set) var trainingSets: [String: TrainingSet]

  public init() {
    self.groups = [:]
    self.nextStorageID = 1
    self.models = [:]
    self.trainingSets = [:]
  }

  /// Rebuilds a catalog from persisted versions (any order).
  public init(versions: [FeatureGroup]) {
    self.init(entries: versions.map { .group($0) })
  }

  /// Rebuilds a catalog from persisted entries (any order).
  public init(entries: [RegistryEntry]) {
    self.init()
    var versions: [FeatureGroup] = []
    for entry in entries {
      switch entry {
      case .group(let g): versions.append(g)
      case .model(let m): models[m.name, default: []].append(m)
      case .trainingSet(let t): trainingSets[t.name] = t
      }
    }
    for v in versions.sorted(by: { ($0.name, $0.version) < ($1.name, $1.version) }) {
      groups[v.name, default: []].append(v)
      nextStorageID = Swift.max(nextStorageID, v.storageID &+ 1)
    }
    for name in models.keys { models[name]!.sort { $0.version < $1.version } }
  }

  public enum ApplyOutcome: Hashable, Sendable {
    case created
    case newVersion
    case unchanged
  }

  public struct ApplyResult: Hashable, Sendable {
    public var group: FeatureGroup
    public var outcome: ApplyOutcome
  }

  /// Validates every spec, then applies them in order. All or nothing: when any spec is invalid, or two
  /// specs in `specs` share a name, throws INVALID_ARGUMENT and leaves `self` unchanged.
  ///
  /// Returns one result per spec, in order; `registered` lists the versions that are new (to persist).
  public mutating func apply(
    _ specs: [FeatureGroupSpec],
    now: Timestamp
  ) throws(StrataError) -> (results: [ApplyResult], registered: [FeatureGroup]) {
    var names = Set<String>()
    for spec in specs {
      // An aggregate group is validated once its stream resolved (which sets its features' types).
      if spec.source.stream == nil { try spec.validate() }
      guard names.insert(spec.name).inserted else {
        throw .invalidArgument("group '\(spec.name)' is defined more than once in the same apply; keep one definition")
      }
    }
    var copy = self
    var results: [ApplyResult?] = Array(repeating: nil, count: specs.count)
    var registered: [FeatureGroup] = []
    // Streams and row groups first, so that an aggregate group may read a stream of the same apply.
    let order = specs.indices.filter { specs[$0].source.stream == nil } + specs.indices.filter { specs[$0].source.stream != nil }
    for i in order {
      var spec = specs[i]
      if spec.source.stream != nil {
        spec = try copy.resolvingStream(of: spec)
        try spec.validate()
      }
      if let latest = copy.groups[spec.name]?.last {
        if latest.spec == spec {
          results[i] = ApplyResult(group: latest, outcome: .unchanged)
          continue
        }
        if latest.spec.source != spec.source && (latest.spec.source == .events || spec.source == .events) {
          throw .failedPrecondition(
            "'\(spec.name)' is registered as \(latest.spec.source == .events ? "a stream" : "a feature group"); a name cannot change between stream and feature group: pick another name")
        }
        let next = FeatureGroup(
          spec: spec, version: latest.version + 1, status: .active, createdAt: now, storageID: copy.nextStorageID)
        copy.nextStorageID &+= 1
        copy.groups[spec.name]!.append(next)
        registered.append(next)
        results[i] = ApplyResult(group: next, outcome: .newVersion)
      } else {
        let first = FeatureGroup(spec: spec, version: 1, status: .active, createdAt: now, storageID: copy.nextStorageID)
        copy.nextStorageID &+= 1
        copy.groups[spec.name] = [first]
        registered.append(first)
        results[i] = ApplyResult(group: first, outcome: .created)
      }
    }
    // Upstream groups named by a lineage exist now (registered before or in this apply).
    for spec in specs {
      for text in spec.lineage.upstream {
        guard let reference = Lineage.Reference(text) else { continue }  // validate() refused it
        guard let versions = copy.groups[reference.name] else {
          throw .notFound(
            "group '\(spec.name)': lineage upstream '\(text)' is not a registered group or stream; apply it first or in the same call")
        }
        if let v = reference.version, !versions.contains(where: { $0.version == v }) {
          throw .notFound(
            "group '\(spec.name)': lineage upstream '\(text)': \(reference.name) has versions 1 to \(versions.last!.version); name one of them or drop the version")
        }
      }
    }
    self = copy
    return (results.map { $0! }, registered)
  }

  /// `spec` (an aggregate group as written) with its stream resolved: the stream's newest ACTIVE
  /// version recorded in `source`, and each feature's type set to its function's result type over
  /// the field. NOT_FOUND for an unknown stream or field; INVALID_ARGUMENT when the name is not a
  /// stream or a function does not apply to its field's type.
  public func resolvingStream(of spec: FeatureGroupSpec) throws(StrataError) -> FeatureGroupSpec {
    guard let (streamName, _) = spec.source.stream else { return spec }
    guard groups[streamName] != nil else {
      throw .notFound(
        "group '\(spec.name)' reads stream '\(streamName)', which does not exist; declare it (under `streams:`) and apply it first or in the same file")
    }
    let stream = try group(named: streamName)
    guard stream.spec.source == .events else {
      let what = stream.spec.source == .rows ? "a feature group of written rows" : "an aggregate group"
      throw .invalidArgument("group '\(spec.name)' reads '\(streamName)' as a stream, but '\(streamName)' is \(what); name a stream")
    }
    guard stream.spec.entityType == spec.entityType else {
      throw .invalidArgument(
        "group '\(spec.name)' is for \(spec.entityType.rawValue) entities, but stream '\(streamName)' carries \(stream.spec.entityType.rawValue) events; give the group the stream's entity type")
    }
    var resolved = spec
    resolved.source = .aggregates(stream: streamName, streamVersion: stream.version)
    for (i, feature) in spec.features.enumerated() {
      guard let aggregation = feature.aggregation else { continue }  // validate() names it
      guard let field = stream.spec.features.first(where: { $0.name == aggregation.field }),
        let fieldType = AggregateFieldType(field.dtype)
      else {
        let known = stream.spec.features.map(\.name).joined(separator: ", ")
        throw .notFound(
          "group '\(spec.name)': feature '\(feature.name)' reads field '\(aggregation.field)', which stream \(stream.qualifiedName) does not have; its fields are: \(known)")
      }
      if let retention = stream.spec.retentionSeconds, aggregation.window.microseconds > retention * 1_000_000 {
        throw .invalidArgument(
          "group '\(spec.name)': feature '\(feature.name)' has a window of \(aggregation.window), longer than stream \(stream.qualifiedName)'s retention of \(retention) seconds; shorten the window or lengthen the stream's retention")
      }
      guard aggregation.function.accepts(fieldType) else {
        throw .invalidArgument(
          "group '\(spec.name)': feature '\(feature.name)' is \(aggregation.function) of '\(field.name)', a \(fieldType) field; \(aggregation.function) needs FLOAT or INT (count, min, max and last take any field)")
      }
      resolved.features[i].dtype = aggregation.function.resultType(for: fieldType).dtype
    }
    return resolved
  }

  /// Makes this catalog hold `versions` exactly as another node registered them (cluster registry sync:
  /// the leader assigns versions, every node adopts them). Version numbers, specs, statuses and
  /// creation times are taken as given; storage ids stay local (a version this catalog lacks gets the
  /// next local id). Versions this catalog has but `versions` lacks are kept.
  ///
  /// All or nothing: throws FAILED_PRECONDITION, changing nothing, when a version number holds a
  /// different spec here, or when adopting would leave a gap in a group's versions. Returns the
  /// versions added or changed (to persist).
  public mutating func adopt(_ versions: [FeatureGroup]) throws(StrataError) -> [FeatureGroup] {
    var copy = self
    var changed: [FeatureGroup] = []
    for v in versions.sorted(by: { ($0.name, $0.version) < ($1.name, $1.version) }) {
      guard v.version >= 1 else {
        throw .failedPrecondition("registry snapshot has version \(v.version) of '\(v.name)'; versions start at 1")
      }
      var list = copy.groups[v.name] ?? []
      if v.version <= list.count {
        var mine = list[v.version - 1]
        guard mine.spec == v.spec else {
          throw .failedPrecondition(
            "registry diverged: \(v.qualifiedName) has another definition on this node than on the registry leader")
        }
        if mine.status != v.status || mine.createdAt != v.createdAt || mine.statusChanges != v.statusChanges {
          mine.status = v.status
          mine.createdAt = v.createdAt
          mine.statusChanges = v.statusChanges
          list[v.version - 1] = mine
          changed.append(mine)
        }
      } else {
        guard v.version == list.count + 1 else {
          throw .failedPrecondition(
            "registry snapshot skips versions of '\(v.name)': this node has \(list.count), the snapshot starts at \(v.version)")
        }
        let added = FeatureGroup(
          spec: v.spec, version: v.version, status: v.status, createdAt: v.createdAt, storageID: copy.nextStorageID,
          statusChanges: v.statusChanges)
        copy.nextStorageID &+= 1
        list.append(added)
        changed.append(added)
      }
      copy.groups[v.name] = list
    }
    self = copy
    return changed
  }

  /// Changes the status of one version at `at`, recording who asked and why (`note`) in its
  /// `statusChanges`; setting the current status changes and records nothing. Returns the version
  /// (updated: to persist).
  public mutating func setStatus(
    _ status: GroupStatus, group name: String, version: Int, at: Timestamp = .epoch, note: StatusNote = StatusNote()
  ) throws(StrataError) -> FeatureGroup {
    let current = try self.group(named: name, version: version)
    guard current.status != status else { return current }
    if status == .retired {
      let users = activeModels(reading: current)
      if !users.isEmpty {
        let names = users.map(\.qualifiedName).joined(separator: ", ")
        throw .failedPrecondition(
          "feature group \(current.qualifiedName) cannot be RETIRED: \(users.count == 1 ? "model" : "models") \(names) still \(users.count == 1 ? "uses" : "use") it; move \(users.count == 1 ? "it" : "them") to another version and archive \(users.count == 1 ? "it" : "them") first (`strata models archive \(users[0].qualifiedName)`)")
      }
    }
    var versions = groups[name]!
    versions[current.version - 1].status = status
    versions[current.version - 1].statusChanges.append(
      StatusChange(from: current.status, to: status, at: at, by: note.by, reason: note.reason))
    groups[name] = versions
    return versions[current.version - 1]
  }

  /// The group version named by `name` and `version` (`nil` = newest ACTIVE).
  ///
  /// NOT_FOUND for an unknown group or version; FAILED_PRECONDITION when `version` is nil and no
  /// version is ACTIVE.
  public func group(named name: String, version: Int? = nil) throws(StrataError) -> FeatureGroup {
    guard let versions = groups[name], !versions.isEmpty else {
      throw .notFound("feature group '\(name)' does not exist; `strata groups` lists the registered groups")
    }
    if let version {
      guard version >= 1, version <= versions.count else {
        throw .notFound("feature group '\(name)' has no version \(version); its versions are 1...\(versions.count)")
      }
      return versions[version - 1]
    }
    guard let active = versions.last(where: { $0.status == .active }) else {
      throw .failedPrecondition(
        "feature group '\(name)' has no ACTIVE version (all \(versions.count) are deprecated or retired); pin one with \(name)@N")
    }
    return active
  }

  /// New training data may not read a DEPRECATED version: FAILED_PRECONDITION naming the first such
  /// version of `columns` and its group's newest ACTIVE version, unless `force`. (Unpinned references
  /// never resolve to a DEPRECATED version; RETIRED ones are refused by `resolve`.)
  public func checkExport(of columns: [ResolvedFeature], force: Bool) throws(StrataError) {
    guard !force, let old = columns.first(where: { $0.group.status == .deprecated })?.group else { return }
    let newest = groups[old.name]?.last { $0.status == .active }
    let instead =
      newest.map { "export \($0.qualifiedName), its newest ACTIVE version, instead" } ?? "\(old.name) has no ACTIVE version"
    let users = activeModels(reading: old)
    let using =
      users.isEmpty
      ? "" : " (still used by \(users.count == 1 ? "model" : "models") \(users.map(\.qualifiedName).joined(separator: ", ")))"
    throw .failedPrecondition(
      "feature group \(old.qualifiedName) is DEPRECATED\(using): new training exports may not read it; \(instead), or set force (`strata join --force`, force=True in the SDK) to export it anyway")
  }

  /// Every version of every group, ordered by name then version.
  public var allVersions: [FeatureGroup] {
    groups.keys.sorted().flatMap { groups[$0]! }
  }

  public func group(storageID: UInt32) -> FeatureGroup? {
    for versions in groups.values {
      if let g = versions.first(where: { $0.storageID == storageID }) { return g }
    }
    return nil
  }

  /// Resolves references to concrete columns, expanding `group:*` in definition order, keeping request
  /// order otherwise. Duplicate references are kept (the caller asked for them twice).
  ///
  /// Throws NOT_FOUND for an unknown group, version or feature; FAILED_PRECONDITION for a RETIRED
  /// version; INVALID_ARGUMENT when `refs` is empty.
  public func resolve(_ refs: [FeatureRef]) throws(StrataError) -> [ResolvedFeature] {
    guard !refs.isEmpty else { throw .invalidArgument("no features requested; pass at least one group:feature") }
    var out: [ResolvedFeature] = []
    for ref in refs {
      let group = try self.group(named: ref.group, version: ref.version)
      guard group.status != .retired else {
        throw .failedPrecondition("feature group \(group.qualifiedName) is RETIRED and can no longer be read")
      }
      if let name = ref.feature {
        guard let index = group.featureIndex(named: name) else {
          let known = group.spec.features.map(\.name).joined(separator: ", ")
          throw .notFound("feature group \(group.qualifiedName) has no feature '\(name)'; its features are: \(known)")
        }
        out.append(ResolvedFeature(group: group, featureIndex: index))
      } else {
        for index in group.spec.features.indices {
          out.append(ResolvedFeature(group: group, featureIndex: index))
        }
      }
    }
    return out
  }
}

/// One requested column: a feature of a concrete group version.
public struct ResolvedFeature: Hashable, Sendable {
  public var group: FeatureGroup
  /// Index into `group.spec.features` (also the feature's slot in the row encoding).
  public var featureIndex: Int

  public init(group: FeatureGroup, featureIndex: Int) {
    self.group = group
    self.featureIndex = featureIndex
  }

  public var feature: FeatureSpec { group.spec.features[featureIndex] }

  /// `group@version:feature`.
  public var qualifiedName: String { "\(group.qualifiedName):\(feature.name)" }
}

extension ResolvedFeature {
  /// `group@V:feature` as a reference (what a training set or a model records).
  public var pinnedReference: FeatureRef { FeatureRef(group: group.name, version: group.version, feature: feature.name) }
}
