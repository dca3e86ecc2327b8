public import StrataCore
internal import Foundation
internal import Synchronization

/// The `Catalog`, persisted in the engine's catalog keyspace (one JSON document per entry: a group
/// version under `registry/<name>/<version:u32be>`, a model version under `models/<name>/<version:u32be>`,
/// a training set under `training-sets/<name>`), loaded at open.
///
/// Applies are serialized and persisted before they become visible: a reader never sees a version that
/// is not on disk, and an apply that returned survives a restart.
public final class RegistryStore: Sendable {
  private let engine: any StorageEngine
  private let current: Mutex<Catalog>
  private let applyLock = Mutex(())
  /// Counts registry changes (applies that registered something, status changes), persisted with them.
  /// A cluster node adopts a leader's snapshot only if it is newer than what it holds.
  private let generationValue: Mutex<UInt64>

  static let prefix = Array("registry/".utf8)
  static let generationKey = Array("meta/registry_generation".utf8)

  static let modelPrefix = Array("models/".utf8)
  static let trainingSetPrefix = Array("training-sets/".utf8)

  public init(engine: any StorageEngine) throws {
    self.engine = engine
    var entries: [RegistryEntry] = []
    let cursor = try engine.makeCursor(in: .catalog)
    for prefix in [Self.prefix, Self.modelPrefix, Self.trainingSetPrefix] {
      cursor.seek(prefix)
      while cursor.isValid, cursor.key.starts(with: prefix) {
        do {
          entries.append(try Self.decodeEntry(cursor.value))
        } catch {
          throw StrataError.internalError(
            "registry entry '\(String(decoding: cursor.key, as: UTF8.self))' does not decode", cause: error)
        }
        cursor.next()
      }
    }
    current = Mutex(Catalog(entries: entries))
    var generation: UInt64 = 0
    if let bytes = try engine.get(Self.generationKey, in: .catalog) {
      var r = ByteReader(bytes)
      guard let g = try? r.u64BE() else { throw StrataError.internalError("corrupt registry generation in the catalog") }
      generation = g
    }
    generationValue = Mutex(generation)
  }

  /// The number of registry changes this store has made or adopted.
  public var generation: UInt64 { generationValue.withLock { $0 } }

  private static func encodeGeneration(_ g: UInt64) -> [UInt8] {
    var w = ByteWriter(capacity: 8)
    w.u64BE(g)
    return w.bytes
  }

  /// The catalog as of now (a value: later applies do not change it).
  public var catalog: Catalog { current.withLock { $0 } }

  /// Applies `specs` all-or-nothing (see `Catalog.apply`) and persists the new versions in one batch.
  public func apply(_ specs: [FeatureGroupSpec], now: Timestamp) throws -> [Catalog.ApplyResult] {
    try change { catalog throws(StrataError) in try catalog.apply(specs, now: now).results }
  }

  /// Runs `body` on the catalog and persists, in one batch with a new generation, every entry it
  /// added or changed (`Catalog.changes(since:)`); nothing is written when it changed nothing. All or
  /// nothing: when `body` throws, nothing changes. Changes are serialized.
  public func change<Result>(_ body: (inout Catalog) throws(StrataError) -> Result) throws -> Result {
    try applyLock.withLock { _ in
      let before = catalog
      var next = before
      let result = try body(&next)
      let changed = next.changes(since: before)
      guard !changed.isEmpty else { return result }
      let generation = self.generation + 1
      var batch = WriteBatch()
      for entry in changed { batch.put(Self.key(entry), try Self.encodeEntry(entry), in: .catalog) }
      batch.put(Self.generationKey, Self.encodeGeneration(generation), in: .catalog)
      try engine.write(batch)
      generationValue.withLock { $0 = generation }
      current.withLock { $0 = next }
      return result
    }
  }

  /// Adopts another node's versions (see `Catalog.adopt`) and persists what changed. Returns the
  /// versions added or changed.
  @discardableResult
  public func adopt(_ versions: [FeatureGroup], generation: UInt64, onlyIfNewer: Bool = true) throws -> [FeatureGroup] {
    try adopt(entries: versions.map { .group($0) }, generation: generation, onlyIfNewer: onlyIfNewer).compactMap {
      if case .group(let g) = $0 { return g }
      return nil
    }
  }

  /// Adopts another node's entries (`Catalog.adopt(entries:)`) and persists what changed. Returns the
  /// entries added or changed. A snapshot whose `generation` is not newer than this store's is ignored
  /// (pushes can arrive out of order): nothing changes. With `onlyIfNewer` false the snapshot is
  /// adopted whatever its generation (a registry kept in etcd, whose revision is the generation, is
  /// authoritative even after etcd was recreated).
  @discardableResult
  public func adopt(entries: [RegistryEntry], generation: UInt64, onlyIfNewer: Bool = true) throws -> [RegistryEntry] {
    try applyLock.withLock { _ in
      guard !onlyIfNewer || generation > self.generation else { return [] }
      var next = catalog
      let changed = try next.adopt(entries: entries)
      var batch = WriteBatch()
      for entry in changed { batch.put(Self.key(entry), try Self.encodeEntry(entry), in: .catalog) }
      batch.put(Self.generationKey, Self.encodeGeneration(generation), in: .catalog)
      try engine.write(batch)
      generationValue.withLock { $0 = generation }
      current.withLock { $0 = next }
      return changed
    }
  }

  /// Changes one version's status and persists it.
  public func setStatus(
    _ status: GroupStatus, group name: String, version: Int, at: Timestamp = .epoch, note: StatusNote = StatusNote()
  ) throws -> FeatureGroup {
    try change { catalog throws(StrataError) in try catalog.setStatus(status, group: name, version: version, at: at, note: note) }
  }

  static func key(_ entry: RegistryEntry) -> [UInt8] {
    switch entry {
    case .group(let g): return key(g)
    case .model(let m):
      var w = ByteWriter(capacity: modelPrefix.count + m.name.utf8.count + 5)
      w.append(contentsOf: modelPrefix)
      w.append(contentsOf: m.name.utf8)
      w.u8(UInt8(ascii: "/"))
      w.u32BE(UInt32(m.version))
      return w.bytes
    case .trainingSet(let t): return trainingSetPrefix + Array(t.name.utf8)
    }
  }

  static func key(_ group: FeatureGroup) -> [UInt8] {
    var w = ByteWriter(capacity: prefix.count + group.name.utf8.count + 5)
    w.append(contentsOf: prefix)
    w.append(contentsOf: group.name.utf8)
    w.u8(UInt8(ascii: "/"))
    w.u32BE(UInt32(group.version))
    return w.bytes
  }

  /// The JSON form of an entry (the on-disk form; a group version's storage id is this node's own).
  /// Model versions and training sets carry a `kind`; group versions, the first kind, carry none.
  public static func encodeEntry(_ entry: RegistryEntry) throws -> [UInt8] {
    switch entry {
    case .group(let g): return try encode(g)
    case .model(let m): return try encodeJSON(StoredModel(m))
    case .trainingSet(let t): return try encodeJSON(StoredTrainingSet(t))
    }
  }

  /// An entry from its JSON form (`encodeEntry`).
  public static func decodeEntry(_ bytes: [UInt8]) throws -> RegistryEntry {
    do {
      let decoder = JSONDecoder()
      let data = Data(bytes)
      switch try decoder.decode(EntryKind.self, from: data).kind {
      case nil: return .group(try decoder.decode(StoredGroup.self, from: data).model())
      case StoredModel.kind: return .model(try decoder.decode(StoredModel.self, from: data).model())
      case StoredTrainingSet.kind: return .trainingSet(try decoder.decode(StoredTrainingSet.self, from: data).model())
      case let other?: throw StrataError.internalError("a registry entry has the unknown kind '\(other)'")
      }
    } catch let error as StrataError {
      throw error
    } catch {
      throw StrataError.internalError("a registry entry does not decode", cause: error)
    }
  }

  static func encodeJSON<T: Encodable>(_ value: T) throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return Array(try encoder.encode(value))
  }

  static func encode(_ group: FeatureGroup) throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return Array(try encoder.encode(StoredGroup(group)))
  }
}

private struct EntryKind: Decodable {
  var kind: String?
}

/// The persisted JSON form of a group version. Field names are part of the on-disk format.
private struct StoredGroup: Codable {
  var name: String
  var version: Int
  var status: String
  var createdAtMicros: Int64
  var storageID: UInt32
  var entityType: String
  var description: String
  var owner: String
  var refreshIntervalSeconds: Int64?
  var maxAgeSeconds: Int64?
  var features: [StoredFeature]
  /// nil (older entries) = rows; "events"; "aggregates" with `stream` and `streamVersion`.
  var source: String?
  var stream: String?
  var streamVersion: Int?
  var retentionSeconds: Int64?
  /// nil (older entries, and versions whose status never changed) = none.
  var statusChanges: [StoredStatusChange]?
  /// nil (older entries, and definitions that declare none) = no lineage.
  var lineage: StoredLineage?

  struct StoredLineage: Codable {
    var source: String
    var transformation: String
    var upstream: [String]
    var pipeline: String
  }

  struct StoredFeature: Codable {
    var name: String
    var dtype: String
    var description: String
    var defaultValue: StoredValue?
    var aggregation: StoredAggregation?
  }

  struct StoredAggregation: Codable {
    var field: String
    var function: String
    var windowMicros: Int64
  }

  struct StoredValue: Codable {
    var float: Double?
    var int: Int64?
    var string: String?
    var embedding: [Float]?
  }

  init(_ g: FeatureGroup) {
    name = g.name
    version = g.version
    status = g.status.rawValue
    createdAtMicros = g.createdAt.microseconds
    storageID = g.storageID
    entityType = g.spec.entityType.rawValue
    description = g.spec.description
    owner = g.spec.owner
    refreshIntervalSeconds = g.spec.refreshIntervalSeconds
    maxAgeSeconds = g.spec.maxAgeSeconds
    features = g.spec.features.map { f in
      var v: StoredValue?
      switch f.defaultValue {
      case nil: v = nil
      case .float(let d)?: v = StoredValue(float: d)
      case .int(let i)?: v = StoredValue(int: i)
      case .string(let s)?: v = StoredValue(string: s)
      case .embedding(let e)?: v = StoredValue(embedding: e)
      }
      return StoredFeature(
        name: f.name, dtype: f.dtype.description, description: f.description, defaultValue: v,
        aggregation: f.aggregation.map {
          StoredAggregation(field: $0.field, function: $0.function.rawValue, windowMicros: $0.window.microseconds)
        })
    }
    retentionSeconds = g.spec.retentionSeconds
    statusChanges =
      g.statusChanges.isEmpty
      ? nil
      : g.statusChanges.map {
        StoredStatusChange(from: $0.from.rawValue, to: $0.to.rawValue, atMicros: $0.at.microseconds, by: $0.by, reason: $0.reason)
      }
    let l = g.spec.lineage
    lineage = l.isEmpty ? nil : StoredLineage(source: l.source, transformation: l.transformation, upstream: l.upstream, pipeline: l.pipeline)
    switch g.spec.source {
    case .rows: source = nil
    case .events: source = "events"
    case .aggregates(let name, let version):
      source = "aggregates"
      stream = name
      streamVersion = version
    }
  }

  func model() throws -> FeatureGroup {
    guard let status = GroupStatus(rawValue: status), let entityType = EntityType(rawValue: entityType) else {
      throw StrataError.internalError("unknown status or entity type in registry entry for \(name)@\(version)")
    }
    let features = try features.map { f throws -> FeatureSpec in
      guard let dtype = DType(parsing: f.dtype) else {
        throw StrataError.internalError("unknown dtype '\(f.dtype)' in registry entry for \(name)@\(version)")
      }
      var value: FeatureValue?
      if let d = f.defaultValue {
        if let x = d.float { value = .float(x) }
        else if let x = d.int { value = .int(x) }
        else if let x = d.string { value = .string(x) }
        else if let x = d.embedding { value = .embedding(x) }
      }
      var aggregation: FeatureAggregation?
      if let a = f.aggregation {
        guard let function = AggregateFunction(name: a.function), let window = try? AggregationWindow(microseconds: a.windowMicros) else {
          throw StrataError.internalError("unknown aggregation of feature \(f.name) in registry entry for \(name)@\(version)")
        }
        aggregation = FeatureAggregation(field: a.field, function: function, window: window)
      }
      return FeatureSpec(name: f.name, dtype: dtype, defaultValue: value, description: f.description, aggregation: aggregation)
    }
    let groupSource: GroupSource
    switch source {
    case nil: groupSource = .rows
    case "events": groupSource = .events
    case "aggregates":
      guard let stream, let streamVersion else {
        throw StrataError.internalError("registry entry for \(name)@\(version) is an aggregate group without its stream")
      }
      groupSource = .aggregates(stream: stream, streamVersion: streamVersion)
    case let other?: throw StrataError.internalError("unknown source '\(other)' in registry entry for \(name)@\(version)")
    }
    let spec = FeatureGroupSpec(
      name: name, entityType: entityType, description: description, owner: owner,
      refreshIntervalSeconds: refreshIntervalSeconds, maxAgeSeconds: maxAgeSeconds, features: features,
      source: groupSource, retentionSeconds: retentionSeconds,
      lineage: lineage.map { Lineage(source: $0.source, transformation: $0.transformation, upstream: $0.upstream, pipeline: $0.pipeline) } ?? Lineage())
    let changes = try (statusChanges ?? []).map { c throws -> StatusChange in
      guard let from = GroupStatus(rawValue: c.from), let to = GroupStatus(rawValue: c.to) else {
        throw StrataError.internalError("unknown status in the status history of registry entry \(name)@\(version)")
      }
      return StatusChange(from: from, to: to, at: Timestamp(microseconds: c.atMicros), by: c.by, reason: c.reason)
    }
    return FeatureGroup(
      spec: spec, version: version, status: status, createdAt: Timestamp(microseconds: createdAtMicros), storageID: storageID,
      statusChanges: changes)
  }
}
