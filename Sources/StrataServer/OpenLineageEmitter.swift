import Foundation
import Logging
import StrataCore
import StrataStorage
import Synchronization

/// Emits OpenLineage run events (spec 2-0-2) for what a node does, so that Strata shows up in the
/// lineage tools users run (Marquez, DataHub, OpenMetadata): to a file (one JSON event per line,
/// appended) and/or POSTed to an HTTP endpoint (`AlertWebhook`: queued, retried, never blocking).
///
/// - An apply that registers versions: job `strata.apply`, a run of its own (START and COMPLETE), the
///   new versions as outputs (dataset `NAME@VERSION` in the node's namespace, with schema and
///   documentation facets) and what they are derived from as inputs (upstream versions, and the
///   lineage's `source`).
/// - Client writes, per group version and writer, coalesced (emitted once no batch came for
///   `quiet`, or every `longest` while batches keep coming): a named writer's run gets an OTHER event
///   (its pipeline is the job, its run id the run: the pipeline's own integration reports START and
///   COMPLETE) with the version as output and the rows written (`outputStatistics`); batches without
///   a writer are a run of job `strata.write` (START and COMPLETE).
/// - An export: job `strata.export`, a run of its own (START and COMPLETE), the versions it read as
///   inputs.
///
/// Run ids are UUIDs: a writer's run id when it is one, else a UUID derived from the pipeline and the
/// run id (the same writer run always gets the same one).
final class OpenLineageEmitter: LineageObserver, Sendable {
  let namespace: String
  private let file: FileHandle?
  private let poster: AlertWebhook?
  private let logger: Logger
  /// The producer URI of every event and facet.
  private let producer = "urn:strata:\(StrataNode.version)"
  private let pending = Mutex<[WriteKey: PendingWrites]>([:])
  private let fileLock = Mutex(())
  static let quiet: Double = 1
  static let longest: Double = 30

  private struct WriteKey: Hashable {
    var group: String
    var version: Int
    var writer: WriterIdentity
  }

  private struct PendingWrites {
    var group: FeatureGroup
    var rows: Int
    var batches: Int
    var first: Date
    var last: Date
    var started: Timestamp
    var ended: Timestamp
  }

  /// Throws INVALID_ARGUMENT for a URL `AlertWebhook` refuses, or a file that cannot be opened.
  init(namespace: String, filePath: String?, url: String?, logger: Logger) throws {
    self.namespace = namespace
    self.logger = logger
    if let filePath {
      if !FileManager.default.fileExists(atPath: filePath) {
        guard FileManager.default.createFile(atPath: filePath, contents: nil) else {
          throw StrataError.invalidArgument("--openlineage-file '\(filePath)' cannot be created")
        }
      }
      guard let handle = FileHandle(forWritingAtPath: filePath) else {
        throw StrataError.invalidArgument("--openlineage-file '\(filePath)' cannot be opened for writing")
      }
      handle.seekToEndOfFile()
      file = handle
    } else {
      file = nil
    }
    poster = try url.map { url throws(StrataError) in
      try AlertWebhook(url: url, logger: logger, flag: "--openlineage-url", what: "OpenLineage endpoint")
    }
    let thread = Thread { [self] in self.flushLoop() }
    thread.name = "strata-openlineage"
    thread.start()
  }

  // MARK: LineageObserver

  func registered(_ versions: [FeatureGroup], catalog: Catalog) {
    let now = Timestamp.now()
    var inputs: [[String: Any]] = []
    var seen = Set<String>()
    for v in versions {
      for parent in LineageGraph.parents(of: v, in: catalog) where seen.insert(parent.qualifiedName).inserted {
        inputs.append(dataset(parent))
      }
      if !v.spec.lineage.source.isEmpty, seen.insert("source:" + v.spec.lineage.source).inserted {
        inputs.append(Self.sourceDataset(v.spec.lineage.source))
      }
    }
    let outputs = versions.map { dataset($0) }
    emitRun(job: "strata.apply", runID: UUID().uuidString.lowercased(), started: now, ended: now, inputs: inputs, outputs: outputs)
  }

  func wrote(_ group: FeatureGroup, writer: WriterIdentity, rows: Int, events: ClosedRange<Timestamp>?, at: Timestamp) {
    let key = WriteKey(group: group.name, version: group.version, writer: writer)
    let now = Date()
    pending.withLock { all in
      if var p = all[key] {
        p.rows += rows
        p.batches += 1
        p.last = now
        p.ended = at
        all[key] = p
      } else {
        all[key] = PendingWrites(group: group, rows: rows, batches: 1, first: now, last: now, started: at, ended: at)
      }
    }
  }

  func exported(_ columns: [ResolvedFeature], labels: Int, trainingSet: TrainingSet?, started: Timestamp, ended: Timestamp) {
    var seen = Set<String>()
    let inputs = columns.compactMap { c in seen.insert(c.group.qualifiedName).inserted ? dataset(c.group) : nil }
    let outputs = trainingSet.map { [dataset($0, columns: columns)] } ?? []
    emitRun(job: "strata.export", runID: UUID().uuidString.lowercased(), started: started, ended: ended, inputs: inputs, outputs: outputs)
  }

  /// A saved training set as a dataset: `training-set/NAME`, its columns (`group@V:feature`) as the
  /// schema, its description, and its label rows as the output's row count.
  private func dataset(_ set: TrainingSet, columns: [ResolvedFeature]) -> [String: Any] {
    var facets: [String: Any] = [
      "schema": facet(
        "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
        ["fields": columns.map { c -> [String: Any] in ["name": c.qualifiedName, "type": c.feature.dtype.description] }])
    ]
    if !set.description.isEmpty {
      facets["documentation"] = facet(
        "https://openlineage.io/spec/facets/1-1-0/DocumentationDatasetFacet.json#/$defs/DocumentationDatasetFacet",
        ["description": set.description])
    }
    return [
      "namespace": namespace, "name": "training-set/\(set.name)", "facets": facets,
      "outputFacets": [
        "outputStatistics": facet(
          "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet",
          ["rowCount": set.labels.rows])
      ],
    ]
  }

  // MARK: Events

  /// The coalesced writes whose writer has been quiet for `quiet` (or that are `longest` old).
  private func flushLoop() {
    while true {
      Thread.sleep(forTimeInterval: 0.25)
      let now = Date()
      let due = pending.withLock { all -> [(WriteKey, PendingWrites)] in
        let ready = all.filter { now.timeIntervalSince($0.value.last) >= Self.quiet || now.timeIntervalSince($0.value.first) >= Self.longest }
        for (key, _) in ready { all[key] = nil }
        return ready.map { ($0.key, $0.value) }
      }
      for (key, writes) in due.sorted(by: { $0.1.first < $1.1.first }) {
        var output = dataset(writes.group)
        output["outputFacets"] = [
          "outputStatistics": facet("https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet", ["rowCount": writes.rows])
        ]
        if key.writer.pipeline.isEmpty && key.writer.runID.isEmpty {
          emitRun(job: "strata.write", runID: UUID().uuidString.lowercased(), started: writes.started, ended: writes.ended, inputs: [], outputs: [output])
        } else {
          let job = key.writer.pipeline.isEmpty ? "strata.write" : key.writer.pipeline
          emit(event(type: "OTHER", at: writes.ended, job: job, runID: Self.runID(key.writer), inputs: [], outputs: [output]))
        }
      }
    }
  }

  private func emitRun(job: String, runID: String, started: Timestamp, ended: Timestamp, inputs: [[String: Any]], outputs: [[String: Any]]) {
    emit(event(type: "START", at: started, job: job, runID: runID, inputs: inputs, outputs: outputs))
    emit(event(type: "COMPLETE", at: ended, job: job, runID: runID, inputs: inputs, outputs: outputs))
  }

  private func event(type: String, at: Timestamp, job: String, runID: String, inputs: [[String: Any]], outputs: [[String: Any]]) -> [String: Any] {
    [
      "eventType": type,
      "eventTime": at.description,
      "producer": producer,
      "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
      "run": ["runId": runID],
      "job": ["namespace": namespace, "name": job],
      "inputs": inputs,
      "outputs": outputs,
    ]
  }

  private func facet(_ schemaURL: String, _ fields: [String: Any]) -> [String: Any] {
    fields.merging(["_producer": producer, "_schemaURL": schemaURL]) { a, _ in a }
  }

  /// A group version as a dataset: `NAME@VERSION` in the node's namespace, with its fields (schema)
  /// and description (documentation).
  private func dataset(_ g: FeatureGroup) -> [String: Any] {
    var facets: [String: Any] = [
      "schema": facet(
        "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
        ["fields": g.spec.features.map { f -> [String: Any] in
          var field: [String: Any] = ["name": f.name, "type": f.dtype.description]
          if !f.description.isEmpty { field["description"] = f.description }
          return field
        }])
    ]
    if !g.spec.description.isEmpty {
      facets["documentation"] = facet(
        "https://openlineage.io/spec/facets/1-1-0/DocumentationDatasetFacet.json#/$defs/DocumentationDatasetFacet",
        ["description": g.spec.description])
    }
    return ["namespace": namespace, "name": g.qualifiedName, "facets": facets]
  }

  /// A lineage `source` as a dataset, named as OpenLineage's conventions name them: a URI is the
  /// namespace `scheme://authority` and the path without its leading `/` (`kafka://broker:9092/orders`
  /// is topic `orders`, `s3://bucket/a/b` object `a/b`); other text (a table name) is itself, in
  /// namespace `source`.
  static func sourceDataset(_ source: String) -> [String: Any] {
    if let range = source.range(of: "://") {
      let rest = source[range.upperBound...]
      let authority = rest.prefix { $0 != "/" }
      let path = rest.dropFirst(authority.count).drop { $0 == "/" }
      return ["namespace": String(source[..<range.upperBound]) + authority, "name": path.isEmpty ? "/" : String(path)]
    }
    return ["namespace": "source", "name": source]
  }

  /// A writer's run id when it is a UUID, else a UUID (version 8) derived from pipeline and run id.
  static func runID(_ writer: WriterIdentity) -> String {
    if let uuid = UUID(uuidString: writer.runID) { return uuid.uuidString.lowercased() }
    func fnv(_ seed: UInt64) -> UInt64 {
      var h = seed
      for b in "strata:\(writer.pipeline):\(writer.runID)".utf8 {
        h ^= UInt64(b)
        h = h &* 0x100_0000_01b3
      }
      return h
    }
    var bytes = withUnsafeBytes(of: fnv(0xcbf2_9ce4_8422_2325).bigEndian, Array.init) + withUnsafeBytes(of: fnv(0x84222325cbf29ce4).bigEndian, Array.init)
    bytes[6] = (bytes[6] & 0x0f) | 0x80
    bytes[8] = (bytes[8] & 0x3f) | 0x80
    let hex = bytes.map { String(format: "%02x", $0) }.joined()
    let parts = [hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4), hex.dropFirst(20)]
    return parts.joined(separator: "-")
  }

  private func emit(_ event: [String: Any]) {
    guard let data = try? JSONSerialization.data(withJSONObject: event, options: [.sortedKeys, .withoutEscapingSlashes]) else {
      logger.error("an OpenLineage event did not encode as JSON")
      return
    }
    if let file {
      fileLock.withLock { _ in
        file.write(data + Data([0x0a]))
      }
    }
    poster?.post(Array(data))
  }
}
