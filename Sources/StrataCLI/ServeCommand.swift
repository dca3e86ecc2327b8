internal import ArgumentParser
internal import Foundation
internal import Logging
internal import StrataServer
internal import StrataGRPC
internal import StrataStorage
internal import StrataCore
internal import StrataEtcd
internal import StrataMetadata

struct ServeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Run a Strata node (SIGTERM or Ctrl-C stops it gracefully).")

  @Option(help: "Address to bind.") var host = "127.0.0.1"
  @Option(help: "gRPC port (0 picks a free one and prints it).") var port = ServerConfig.defaultPort
  @Option(name: .customLong("data-dir"), help: "Data directory (created if missing).") var dataDir = "./strata-data"
  @Option(help: "Storage engine: rocksdb (durable) or memory (lost on exit).") var engine = "rocksdb"
  @Flag(name: .customLong("sync-writes"), help: "fsync the write-ahead log on every write batch: acknowledged writes survive a machine crash, not only a process crash.")
  var syncWrites = false
  @Option(name: .customLong("max-rows-per-batch"), help: "Rows per write batch.") var maxRowsPerBatch = StoreLimits.defaults.maxRowsPerBatch
  @Option(name: .customLong("max-entities-per-lookup"), help: "Entities per online lookup.")
  var maxEntitiesPerLookup = StoreLimits.defaults.maxEntitiesPerLookup
  @Option(name: .customLong("max-labels-per-message"), help: "Label rows in one historical request message.")
  var maxLabelsPerMessage = StoreLimits.defaults.maxLabelsPerMessage
  @Option(name: .customLong("max-request-bytes"), help: "Largest accepted request message, bytes.")
  var maxRequestBytes = ServerConfig.defaults.maxRequestBytes
  @Option(name: .customLong("max-clock-skew"), help: "Seconds an event/created timestamp may be ahead of the server clock.")
  var maxClockSkew: Int64 = StoreLimits.defaults.maxClockSkewMicros / 1_000_000
  @Option(
    name: .customLong("history-image-mb"),
    help: "Memory for in-memory columnar copies of group histories, which make exports several times faster (0 = off; a group that does not fit is read from disk).")
  var historyImageMB = HistoryImagePolicy.defaults.budgetBytes >> 20
  @Option(help: "Cluster file (YAML: epoch and nodes with id, address and internode_port); with --node, this process is that node of the cluster: it serves clients on its address and other nodes on its internode port.")
  var cluster: String?
  @Option(help: "This node's id in the cluster file.") var node: String?
  @Option(
    name: .customLong("internode-lookups"),
    help: "How a coordinator sends online lookups to other nodes: lane (each node's lookup lane, a plain TCP connection; the fastest), stream (one long-lived multiplexed gRPC stream per node) or unary (one gRPC call per lookup and node). The last two are for comparison.")
  var internodeLookups = "lane"
  @Option(
    name: .customLong("lane-port"),
    help: "TCP port of this node's lookup lane, on the host it listens on (0 = any free port; other nodes ask for it over gRPC).")
  var lanePort = 0
  @Option(name: .customLong("node-id"), help: "Name reported by `strata status` (default host:port).") var nodeID: String?
  @Option(
    help: ArgumentHelp(
      "etcd endpoints (host:port, comma-separated) holding the cluster's metadata; with --node, this process joins that cluster (the first node of an empty cluster creates it).",
      valueName: "ENDPOINTS"))
  var etcd: String?
  @Option(help: "With --etcd: the host:port this node serves clients on, as other nodes and clients reach it (default --host:--port).")
  var address: String?
  @Option(name: .customLong("internode-port"), help: "With --etcd: the port of the internode service on the same host (default: the client port + 100).")
  var internodePort: Int?
  @Option(help: "With --etcd: this node's zone (rack, availability zone); replicas go to distinct zones first.") var zone = ""
  @Option(name: .customLong("cluster-name"), help: "With --etcd: the cluster's name: its metadata lives under /strata/NAME/ in etcd.")
  var clusterName = "strata"
  @Option(
    name: .customLong("initial-nodes"),
    help: "With --etcd, when the cluster is created: how many nodes it forms with (it serves once they all joined; default 1).")
  var initialNodes: Int?
  @Option(
    name: .customLong("replication-factor"),
    help: "With --etcd, when the cluster is created: nodes per entity (default 3, or every node when there are fewer).")
  var replicationFactor: Int?
  @Option(name: .customLong("join-timeout"), help: "With --etcd: seconds to wait for the cluster to form.") var joinTimeout = 300
  @Flag(
    help: "With --etcd: when this node is not a member of the running cluster, add it (the cluster streams the ranges it gains to it while serving; docs/scale-out.md).")
  var join = false
  @Option(
    name: .customLong("stream-mb-per-s"),
    help: "With --etcd: megabytes per second (of row payload) this node receives at most while it takes over token ranges in a membership change (0 = unlimited). The default keeps lookups' p99 within about 2x on a small shared machine; raise it on dedicated ones.")
  var streamMBPerS = 0.5
  @Option(
    name: .customLong("cleanup-grace"),
    help: "With --etcd: seconds the old copies of moved ranges stay after a membership change switched, before they are deleted (`strata cluster cleanup` deletes them at once).")
  var cleanupGrace = 300
  @Option(
    name: .customLong("hedge-delay-ms"),
    help: "Cluster reads: milliseconds to wait for a replica before asking the next one as well (default: that replica's recent p99 answer time, between 2 and 250 ms).")
  var hedgeDelayMs: Int?
  @Option(
    name: .customLong("repair-interval"),
    help: "Cluster: seconds between background anti-entropy repairs of this node with its peers (±10%; 0 = only `strata repair`).")
  var repairInterval = 21_600
  @Flag(
    name: .customLong("repair-after-crash"), inversion: .prefixedNo,
    help: "Cluster: when the previous process of this data directory did not stop cleanly (kill -9, crash), repair this node with its peers a few seconds after the start (it may hold rows it never sent to the other replicas).")
  var repairAfterCrash = true
  @Option(name: .customLong("repair-rate"), help: "Cluster: rows per second a background repair moves at most.")
  var repairRate = 20_000
  @Option(
    name: .customLong("shutdown-grace"),
    help: ArgumentHelp("On SIGTERM or SIGINT, how long open calls (a producer's push session, an export) may run on before they are cancelled (new calls are refused at once).", valueName: "SECONDS"))
  var shutdownGrace: Double = 30
  @Option(
    name: .customLong("alert-webhook"),
    help: "POST a JSON document to this http:// URL whenever a group enters or leaves freshness ALERT (retried; never blocks serving). Alerts are logged either way.")
  var alertWebhook: String?
  @Option(
    name: .customLong("openlineage-file"),
    help: ArgumentHelp("Append an OpenLineage run event (JSON, one per line) to this file for every apply, writer run and export.", valueName: "PATH"))
  var openLineageFile: String?
  @Option(
    name: .customLong("openlineage-url"),
    help: ArgumentHelp("POST the OpenLineage events to this http:// URL, e.g. Marquez's http://host:5000/api/v1/lineage (retried; never blocks serving).", valueName: "URL"))
  var openLineageURL: String?
  @Option(name: .customLong("openlineage-namespace"), help: "The namespace of this node's OpenLineage jobs and datasets.")
  var openLineageNamespace = "strata"
  @Option(
    name: .customLong("freshness-check-seconds"),
    help: "Seconds between checks of every group's freshness against its refresh interval.")
  var freshnessCheckSeconds: Double = 5
  @Option(
    name: .customLong("retention-check-seconds"),
    help: "Seconds between deletions of streams' events older than their retention.")
  var retentionCheckSeconds: Double = 600
  @Option(
    name: .customLong("aggregate-row-cache"),
    help: "Online rows of aggregate groups kept with the interval they stay exact (0 turns the cache off; every lookup then reads tiles and events).")
  var aggregateRowCache = ServerConfig.defaultAggregateRowCache

  func run() async throws {
    guard let engine = ServerConfig.Engine(rawValue: engine) else {
      throw ValidationError("--engine must be rocksdb or memory, got '\(engine)'")
    }
    guard maxClockSkew >= 0 else { throw ValidationError("--max-clock-skew must be >= 0") }
    guard historyImageMB >= 0 else { throw ValidationError("--history-image-mb must be >= 0") }
    var imagePolicy = HistoryImagePolicy.defaults
    imagePolicy.budgetBytes = historyImageMB << 20
    var limits = StoreLimits.defaults
    limits.maxRowsPerBatch = maxRowsPerBatch
    limits.maxEntitiesPerLookup = maxEntitiesPerLookup
    limits.maxLabelsPerMessage = maxLabelsPerMessage
    limits.maxClockSkewMicros = maxClockSkew * 1_000_000
    var host = self.host
    var port = self.port
    var nodeID = self.nodeID
    var settings: ClusterSettings?
    var metadata: EtcdMetadata?
    var etcdRun: (EtcdClient, Task<Void, any Error>)?
    defer { etcdRun?.0.shutdown() }
    if let cluster, etcd != nil {
      _ = cluster
      throw ValidationError("--cluster and --etcd are two ways to describe a cluster; give one of them")
    }
    if let cluster {
      guard let node else { throw ValidationError("--cluster needs --node, the id of this node in the cluster file") }
      let loaded = try ClusterFile.load(path: cluster, node: node)
      guard let me = loaded.me else {
        throw ValidationError("--node \(node) is not in \(cluster); its nodes are: \(loaded.nodes.map(\.id).joined(separator: ", "))")
      }
      host = me.host
      port = me.port
      nodeID = nodeID ?? node
      settings = loaded
      guard let lookups = InternodeLookups(rawValue: internodeLookups) else {
        throw ValidationError("--internode-lookups must be lane, stream or unary, got '\(internodeLookups)'")
      }
      guard (0...65_535).contains(lanePort) else { throw ValidationError("--lane-port must be 0...65535, got \(lanePort)") }
      settings?.lookups = lookups
      settings?.lanePort = lanePort
    } else if let etcd {
      guard let node else { throw ValidationError("--etcd needs --node, this node's id in the cluster") }
      if let problem = MetadataKeys.check(clusterName: clusterName) { throw ValidationError(problem) }
      var me = (host: host, port: port)
      if let address {
        guard let colon = address.lastIndex(of: ":"), let p = Int(address[address.index(after: colon)...]), (1...65_535).contains(p),
          colon > address.startIndex
        else { throw ValidationError("--address must be host:port, e.g. 127.0.0.1:7401; got '\(address)'") }
        me = (String(address[..<colon]), p)
      }
      guard me.port != 0 else { throw ValidationError("--etcd needs a fixed client port (--address or --port), not 0") }
      let internode = internodePort ?? min(me.port + 100, 65_535)
      guard (1...65_535).contains(internode), internode != me.port else {
        throw ValidationError("--internode-port must be 1...65535 and differ from the client port, got \(internode)")
      }
      if let n = initialNodes, n < 1 { throw ValidationError("--initial-nodes must be at least 1, got \(n)") }
      guard let lookups = InternodeLookups(rawValue: internodeLookups) else {
        throw ValidationError("--internode-lookups must be lane, stream or unary, got '\(internodeLookups)'")
      }
      let logger = Logger(label: "strata")
      let client: EtcdClient
      do {
        client = try EtcdClient(endpoints: etcd, logger: logger)
      } catch {
        throw ValidationError("--etcd '\(etcd)': \(error)")
      }
      let running = Task { try await client.run() }
      etcdRun = (client, running)
      let source = EtcdMetadata(etcd: client, keys: MetadataKeys(clusterName: clusterName))
      do {
        settings = try await source.join(
          .init(
            me: .init(id: node, host: me.host, port: me.port, internodePort: internode, zone: zone), expectedNodes: initialNodes,
            replicationFactor: replicationFactor, virtualNodes: HashRing.defaultVirtualNodes, join: join),
          lookups: lookups, lanePort: lanePort, timeout: .seconds(joinTimeout), logger: logger)
      } catch let error as StrataError {
        client.shutdown()
        throw CLIError(error)
      }
      metadata = source
      host = me.host
      port = me.port
      nodeID = nodeID ?? node
    } else if node != nil {
      throw ValidationError("--node needs --cluster or --etcd")
    }
    if let hedgeDelayMs {
      guard (1...60_000).contains(hedgeDelayMs) else { throw ValidationError("--hedge-delay-ms must be 1...60000, got \(hedgeDelayMs)") }
      guard settings != nil else { throw ValidationError("--hedge-delay-ms needs a cluster (--etcd or --cluster)") }
      settings?.hedgeDelay = .milliseconds(hedgeDelayMs)
    }
    guard repairInterval >= 0, repairRate >= 1 else {
      throw ValidationError("--repair-interval must be >= 0 and --repair-rate >= 1")
    }
    if repairInterval > 0 { settings?.repairInterval = .seconds(repairInterval) }
    guard streamMBPerS >= 0, cleanupGrace >= 0 else { throw ValidationError("--stream-mb-per-s and --cleanup-grace must be >= 0") }
    settings?.streamBytesPerSecond = streamMBPerS == 0 ? nil : max(1, Int(streamMBPerS * 1_048_576))
    settings?.cleanupGrace = .seconds(cleanupGrace)
    settings?.repairRowsPerSecond = repairRate
    settings?.repairAfterCrash = repairAfterCrash
    var config = ServerConfig(
      host: host, port: port, dataDirectory: dataDir, engine: engine, syncWrites: syncWrites, limits: limits,
      maxRequestBytes: maxRequestBytes, nodeID: nodeID, imagePolicy: imagePolicy, cluster: settings)
    config.alertWebhook = alertWebhook
    config.openLineageFile = openLineageFile
    config.openLineageURL = openLineageURL
    config.openLineageNamespace = openLineageNamespace
    config.freshnessCheckSeconds = freshnessCheckSeconds
    config.retentionCheckSeconds = retentionCheckSeconds
    config.shutdownGraceSeconds = shutdownGrace
    guard aggregateRowCache >= 0 else { throw ValidationError("--aggregate-row-cache must be >= 0") }
    config.aggregateRowCache = aggregateRowCache
    let logger = Logger(label: "strata")
    let node: StrataNode
    do {
      node = try StrataNode(config: config, logger: logger)
    } catch let error as StrataError {
      throw CLIError(error)
    }
    let where_ = engine == .memory ? "in memory" : "data in \(dataDir)"
    try await node.run(metadata: metadata) { address in
      // The line scripts and tests wait for; stdout is flushed so a pipe sees it at once.
      print("strata node listening on \(address) (\(where_), engine \(engine.rawValue))")
      fflush(nil)
    }
  }
}
