public import StrataStorage
public import StrataCore

/// Everything a node needs to start, parsed and validated once at the edge (CLI flags).
public struct ServerConfig: Sendable, Equatable {
  public enum Engine: String, Sendable, CaseIterable {
    /// Durable, embedded RocksDB in `dataDirectory`.
    case rocksdb
    /// In memory, lost on exit (for experiments and tests).
    case memory
  }

  /// Address to bind; 127.0.0.1 by default (loopback only).
  public var host: String
  /// TCP port; 0 picks a free port (the chosen one is logged and printed).
  public var port: Int
  public var dataDirectory: String
  public var engine: Engine
  /// fsync the write-ahead log on every write batch (machine-crash safety at a throughput cost).
  /// Off by default: an acknowledged write then survives a crash of the process, not of the machine.
  public var syncWrites: Bool
  public var limits: StoreLimits
  /// Largest request message the transport accepts; larger ones fail with RESOURCE_EXHAUSTED.
  public var maxRequestBytes: Int
  /// HTTP/2 streams (concurrent RPCs) per connection.
  public var maxConcurrentStreams: Int
  /// Connections idle for longer are closed (seconds).
  public var maxIdleSeconds: Int
  /// Name reported by `status`; defaults to host:port.
  public var nodeID: String?
  /// In-memory history images for exports (`--history-image-mb`).
  public var imagePolicy: HistoryImagePolicy
  /// The cluster this node belongs to (`--cluster FILE --node ID`); nil = a single node.
  public var cluster: ClusterSettings?
  /// Where freshness alerts are POSTed as JSON (`--alert-webhook`, http:// only); nil = log only.
  public var alertWebhook: String?
  /// OpenLineage events appended to this file, one JSON event per line (`--openlineage-file`).
  public var openLineageFile: String?
  /// OpenLineage events POSTed to this http:// URL, e.g. Marquez's `/api/v1/lineage` (`--openlineage-url`).
  public var openLineageURL: String?
  /// The namespace of the node's OpenLineage jobs and datasets (`--openlineage-namespace`).
  public var openLineageNamespace = "strata"
  /// How often the node checks its groups' freshness (`--freshness-check-seconds`).
  public var freshnessCheckSeconds: Double = 5
  /// How long a stop (SIGTERM, SIGINT) waits for open calls to finish before it cancels them
  /// (`--shutdown-grace`): a producer's push session or a long export would otherwise keep the node
  /// running until its client closes it.
  public var shutdownGraceSeconds: Double = 30
  /// How often streams' old events are deleted (`--retention-check-seconds`).
  public var retentionCheckSeconds: Double = 600
  /// Online aggregate rows cached (`--aggregate-row-cache`, `AggregateRowCache`); 0 = no cache.
  public var aggregateRowCache = ServerConfig.defaultAggregateRowCache
  public static let defaultAggregateRowCache = AggregateRowCache.defaultCapacity

  public static let defaultPort = 7400

  public init(
    host: String = "127.0.0.1",
    port: Int = ServerConfig.defaultPort,
    dataDirectory: String = "./strata-data",
    engine: Engine = .rocksdb,
    syncWrites: Bool = false,
    limits: StoreLimits = .defaults,
    maxRequestBytes: Int = 16 * 1024 * 1024,
    maxConcurrentStreams: Int = 256,
    maxIdleSeconds: Int = 30 * 60,
    nodeID: String? = nil,
    imagePolicy: HistoryImagePolicy = .defaults,
    cluster: ClusterSettings? = nil
  ) {
    self.imagePolicy = imagePolicy
    self.cluster = cluster
    self.host = host
    self.port = port
    self.dataDirectory = dataDirectory
    self.engine = engine
    self.syncWrites = syncWrites
    self.limits = limits
    self.maxRequestBytes = maxRequestBytes
    self.maxConcurrentStreams = maxConcurrentStreams
    self.maxIdleSeconds = maxIdleSeconds
    self.nodeID = nodeID
  }

  public static let defaults = ServerConfig()

  /// Rejects values that cannot work, with a message naming the flag.
  public func validate() throws(StrataError) {
    guard (0...65_535).contains(port) else { throw .invalidArgument("--port must be between 0 and 65535, got \(port)") }
    guard !host.isEmpty else { throw .invalidArgument("--host must not be empty") }
    guard engine == .memory || !dataDirectory.isEmpty else { throw .invalidArgument("--data-dir must not be empty") }
    guard limits.maxRowsPerBatch >= 1 else { throw .invalidArgument("--max-rows-per-batch must be at least 1") }
    guard limits.maxEntitiesPerLookup >= 1 else { throw .invalidArgument("--max-entities-per-lookup must be at least 1") }
    guard limits.maxLabelsPerMessage >= 1 else { throw .invalidArgument("--max-labels-per-message must be at least 1") }
    guard maxRequestBytes >= 64 * 1024 else {
      throw .invalidArgument("--max-request-bytes must be at least 65536, got \(maxRequestBytes)")
    }
    guard maxConcurrentStreams >= 1 else { throw .invalidArgument("--max-concurrent-streams must be at least 1") }
    guard maxIdleSeconds >= 1 else { throw .invalidArgument("--max-idle-seconds must be at least 1") }
    guard freshnessCheckSeconds > 0, freshnessCheckSeconds <= 86_400 else {
      throw .invalidArgument("--freshness-check-seconds must be positive and at most 86400 (1 day), got \(freshnessCheckSeconds)")
    }
    if let alertWebhook { _ = try AlertWebhook.parse(alertWebhook) }
    if let openLineageURL { _ = try AlertWebhook.parse(openLineageURL, flag: "--openlineage-url") }
    guard !openLineageNamespace.isEmpty, openLineageNamespace.utf8.count <= 256 else {
      throw .invalidArgument("--openlineage-namespace must be 1 to 256 bytes long")
    }
    guard shutdownGraceSeconds > 0, shutdownGraceSeconds <= 86_400 else {
      throw .invalidArgument("--shutdown-grace must be positive and at most 86400 (1 day), got \(shutdownGraceSeconds)")
    }
    guard retentionCheckSeconds > 0, retentionCheckSeconds <= 7 * 86_400 else {
      throw .invalidArgument("--retention-check-seconds must be positive and at most 604800 (7 days), got \(retentionCheckSeconds)")
    }
  }
}
