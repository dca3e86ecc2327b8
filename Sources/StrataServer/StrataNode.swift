public import Logging
internal import StrataCore
public import StrataStorage
internal import Foundation
internal import Glibc
internal import GRPCCore
internal import GRPCNIOTransportHTTP2
internal import ServiceLifecycle
internal import UnixSignals
internal import StrataGRPC
internal import StrataRocksDB
internal import StrataProto
internal import StrataMetadata

/// One Strata node: opens the storage engine, builds the feature store and serves gRPC until SIGTERM or
/// SIGINT, then shuts down gracefully (in-flight RPCs finish, the engine is closed).
public struct StrataNode: Sendable {
  public static let version = "0.1.0"

  public let config: ServerConfig
  public let store: FeatureStore
  /// Writes this node coordinated that a replica did not acknowledge, kept until it does.
  public let hints: HintStore
  let logger: Logger

  /// Opens the engine named by `config` (creating the data directory if needed). Throws a StrataError
  /// with an actionable message, e.g. when another process holds the data directory.
  public init(config: ServerConfig, logger: Logger) throws {
    try config.validate()
    self.config = config
    self.logger = logger
    let engine: any StorageEngine
    switch config.engine {
    case .rocksdb:
      engine = try RocksDBEngine(path: config.dataDirectory, syncWrites: config.syncWrites)
    case .memory:
      engine = InMemoryEngine()
    }
    let start = ContinuousClock.now
    self.hints = try HintStore(engine: engine)
    self.store = try FeatureStore(
      engine: engine, limits: config.limits, imagePolicy: config.imagePolicy,
      writeIDSlot: config.cluster?.writeIDSlot ?? 0, aggregateRowCache: config.aggregateRowCache)
    logger.info(
      "storage opened",
      metadata: [
        "strata.online_rows": "\(store.shard.onlineRowsInMemory)",
        "strata.online_arena_mib": "\(store.shard.onlineBytesInMemory >> 20)",
        "strata.open_seconds": "\((ContinuousClock.now - start).formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 2))))",
      ])
  }

  /// The cluster's layout and its revision read from etcd now; `joined` (read when the node joined) if
  /// etcd does not answer. FAILED_PRECONDITION when the node is no longer a participant (it was removed
  /// or replaced while it started).
  static func currentLayout(_ metadata: EtcdMetadata, joined: ClusterLayout, revision: Int64, node: String) async throws -> (ClusterLayout, Int64) {
    let membership = EtcdMembership(etcd: metadata.etcd, keys: metadata.keys, logger: Logger(label: "strata"))
    guard let (layout, current) = try? await membership.read(), current >= revision else { return (joined, revision) }
    guard layout.participant(node) != nil else {
      throw StrataError.failedPrecondition("node \(node) is no longer a member of this cluster (removed or replaced while it started)")
    }
    return (layout, current)
  }

  /// Serves until a shutdown signal arrives (or, in tests, until the surrounding task is cancelled).
  /// `onListening` receives the bound "host:port" once the socket is listening.
  ///
  /// `metadata`: the etcd the cluster keeps its registry in (`config.cluster` then comes from the
  /// layout the node joined); nil for a single node or a cluster file.
  public func run(
    handleSignals: Bool = true,
    metadata: EtcdMetadata? = nil,
    onListening: @escaping @Sendable (String) -> Void = { _ in }
  ) async throws {
    let config = self.config
    let transport = Self.serverTransport(host: config.host, port: config.port, config: config)
    // No --node-id: status reports the address the server listens on (the bound port with --port 0).
    let nodeID = config.nodeID ?? ""
    let dataDirectory = URL(fileURLWithPath: config.dataDirectory).standardizedFileURL.path
    let service = FeatureStoreService(
      store: store,
      node: .init(
        nodeID: nodeID, version: Self.version,
        dataDirectory: config.engine == .memory ? "(memory)" : dataDirectory, startedAt: .now()),
      logger: logger,
      sizeLimit: RequestSizeLimit(maxBytes: config.maxRequestBytes),
      freshnessBoard: FreshnessBoard())
    let logger = self.logger
    let webhook = try config.alertWebhook.map { url throws(StrataError) in try AlertWebhook(url: url, logger: logger) }
    if config.openLineageFile != nil || config.openLineageURL != nil {
      store.lineageObserver = try OpenLineageEmitter(
        namespace: config.openLineageNamespace, filePath: config.openLineageFile, url: config.openLineageURL, logger: logger)
    }
    /// The freshness monitor, with the other members' last writes in a cluster.
    func freshnessMonitor(
      peers: (@Sendable () async -> (lastWrites: [String: Timestamp], reachable: [String]))?
    ) -> UntilShutdownService {
      let monitor = FreshnessMonitor(
        store: store, board: service.freshnessBoard, interval: .milliseconds(Int(config.freshnessCheckSeconds * 1000)),
        webhook: webhook, logger: logger, nodeID: config.nodeID ?? "\(config.host):\(config.port)", peers: peers)
      return UntilShutdownService { await monitor.run() }
    }
    // Whether the previous process of this data directory was killed (no clean-shutdown marker).
    let uncleanStop = try store.startRun()
    let replay = store.tileJournalReplay
    if replay.records > 0 {
      logger.info(
        "stream tiles: rebuilt the tiles of the days whose journaled events a stopped process had not written to them",
        metadata: ["strata.records": "\(replay.records)", "strata.events": "\(replay.events)"])
    }
    if replay.skipped > 0 {
      logger.warning(
        "stream tiles: journal records of stream versions this node's registry does not hold were left for a later start",
        metadata: ["strata.records": "\(replay.skipped)"])
    }
    // Streams' events in memory (history images) for aggregate lookups and exports, built in the background.
    let imageBuilds = store.prebuildStreamImages()
    if imageBuilds > 0 {
      logger.info("history images: building the images of the streams in the background", metadata: ["strata.streams": "\(imageBuilds)"])
    }
    var services: [any Service] = []
    // Stream tiles written behind: a node that stops receiving events writes its dirty tiles when due.
    let tileStore = store
    services.append(
      UntilShutdownService {
        while !Task.isCancelled {
          do { try await Task.sleep(for: .seconds(1)) } catch { break }
          do {
            try await tileStore.writeDueStreamTiles()
          } catch {
            logger.error("writing stream tiles failed; retrying in a second", metadata: ["strata.error": "\(error)"])
          }
        }
      })
    // Streams' retention: old events (and their tiles) deleted every --retention-check-seconds.
    let (retentionStore, retentionEvery) = (store, config.retentionCheckSeconds)
    services.append(
      UntilShutdownService {
        while !Task.isCancelled {
          do { try await Task.sleep(for: .seconds(retentionEvery)) } catch { break }  // shutting down: no last pass
          do {
            let deleted = try await retentionStore.expireStreamEvents()
            for (stream, n) in deleted.sorted(by: { $0.key < $1.key }) {
              logger.info("stream retention: deleted old events", metadata: ["strata.stream": "\(stream)", "strata.events": "\(n)"])
            }
          } catch {
            logger.error("stream retention failed; retrying at the next check", metadata: ["strata.error": "\(error)"])
          }
        }
      })
    let server: GRPCServer<HTTP2ServerTransport.Posix>
    if let settings = config.cluster {
      // The epochs this node accepts: moved by membership changes (etcd), fixed with a cluster file.
      let window = EpochWindow(epoch: settings.epoch)
      // Every node serves a lookup lane (whatever its own coordinator uses), on the host of its gRPC
      // server and the port of --lane-port (0: any free port; peers ask for it with GetLookupLane).
      let laneServer = LookupLaneServer(window: window, answer: LookupLaneServer.answerer(for: service))
      // Bound before anything else starts, so a taken --lane-port fails the start cleanly.
      do {
        let bound = try await laneServer.start(host: config.host, port: settings.lanePort)
        logger.info("lookup lane listening", metadata: ["strata.lane": "\(config.host):\(bound)"])
      } catch {
        throw StrataError.failedPrecondition(
          "the lookup lane could not listen on \(config.host):\(settings.lanePort) (--lane-port; 0 picks a free port): \(error)")
      }
      let handoff = HintedHandoff(store: hints, logger: logger)
      // Writes the previous process was sending when it stopped: hints now, replayed like any other.
      try await handoff.recoverIntents()
      let topology: ClusterTopology<HTTP2ClientTransport.Posix>
      var worker: MembershipWorker?
      var registry: EtcdRegistry?
      if let metadata, let joined = settings.layout {
        // The layout again, now that the storage is open (which can take long after a crash): the node
        // serves by the layout current when it starts serving, not by the one it joined with, which a
        // membership change may have left meanwhile (the driver takes a node without `layout-applied`
        // for down after its grace, so it may have moved on more than one phase).
        let (layout, revision) = try await Self.currentLayout(metadata, joined: joined, revision: settings.layoutRevision, node: settings.selfID)
        // A registry in etcd: loaded before the node serves, then followed with a watch.
        let r = EtcdRegistry(
          etcd: metadata.etcd, keys: metadata.keys, store: store, nodeID: settings.selfID,
          members: layout.participants.map(\.id), logger: logger)
        do {
          // A single node's data directory becoming a cluster's first node keeps its feature groups.
          if layout.nodes.count == 1, layout.nodes[0].id == settings.selfID { try await r.seedFromStoreIfEmpty() }
          try await r.load()
        } catch {
          throw StrataError.unavailable("could not load the registry from etcd before serving: \(error)")
        }
        registry = r
        let peers = PeerClients()
        services.append(PeerClientsService(peers: peers))
        let factory = ClusterViewFactory(
          selfID: settings.selfID, lookups: settings.lookups, laneServer: laneServer, health: settings.peerHealth(),
          hints: handoff, registry: r, peers: peers,
          membership: EtcdMembershipControl(etcd: metadata.etcd, keys: metadata.keys, logger: logger),
          idempotency: EtcdIdempotencyKeys(
            etcd: metadata.etcd, keys: metadata.keys, nowSeconds: { Timestamp.now().microseconds / 1_000_000 },
            reserve: { [store] count in try await store.reserveIdempotencyStamp(count: count) },
            fallback: StoreIdempotencyKeys(store: store), logger: logger))
        let (view, other) = try factory.view(for: layout)
        window.set(epoch: view.ring.epoch, alsoAccepting: other)
        topology = ClusterTopology(view, window: window)
        topology.startConnections()
        let removed = RemovalSignal()
        let w = MembershipWorker(
          factory: factory, topology: topology, store: store, etcd: metadata.etcd, keys: metadata.keys, registry: r,
          logger: logger, bytesPerSecond: settings.streamBytesPerSecond, onRemoved: { removed.fire() })
        worker = w
        let follower = EtcdLayoutFollower(etcd: metadata.etcd, keys: metadata.keys, nodeID: settings.selfID, logger: logger)
        services.append(
          UntilShutdownService {
            // The layout the node started with: its own part of a change in progress starts now.
            await w.apply(layout)
            await follower.follow(from: revision) { layout, _ in await w.apply(layout) }
          })
        let driver = MembershipDriver(
          etcd: metadata.etcd, keys: metadata.keys, nodeID: settings.selfID, logger: logger, cleanupGrace: settings.cleanupGrace)
        services.append(UntilShutdownService { await driver.run() })
        services.append(RemovalService(signal: removed, worker: w, topology: topology))
      } else {
        let ring = try settings.ring()
        let placement = try settings.placement()
        var peers: [String: GRPCClient<HTTP2ClientTransport.Posix>] = [:]
        for node in settings.nodes {
          let client = GRPCClient(
            transport: try .http2NIOPosix(
              target: .ipv4(address: node.host, port: node.internodePort),
              transportSecurity: .plaintext,
              config: .defaults {
                $0.connection.flushCoalescing = nil
                $0.http2.maxFrameSize = 1 << 20
                // Peers on a LAN: after a node comes back, reconnect within about a second (the default
                // backoff grows to two minutes, and calls fail at once until the next attempt).
                $0.backoff = .init(initial: .milliseconds(100), max: .seconds(1), multiplier: 1.6, jitter: 0.2)
              }))
          peers[node.id] = client
          services.append(GRPCClientService(client: client))
        }
        let view = ClusterView(
          ring: ring, selfID: settings.selfID, leaderID: settings.nodes[0].id, peers: peers,
          addresses: Dictionary(uniqueKeysWithValues: settings.nodes.map { ($0.id, $0.address) }),
          lookups: settings.lookups, laneServer: laneServer,
          hosts: Dictionary(uniqueKeysWithValues: settings.nodes.map { ($0.id, $0.host) }), placement: placement,
          health: settings.peerHealth(), hints: handoff, registry: nil)
        topology = ClusterTopology(view, window: window)
        if let streams = view.lookupStreams { services.append(LookupStreamsService(streams: streams)) }
        if let lanes = view.lookupLanes { services.append(LookupLanesService(lanes: lanes)) }
      }
      _ = worker
      let shard = ShardService(local: service, topology: topology, logger: logger)
      // Clients reach only the FeatureStore service; the Shard service listens on the internode port.
      server = GRPCServer(
        transport: transport, services: [ClusterFastPaths(local: service, topology: topology, logger: logger)],
        interceptorPipeline: [
          .apply(ForwardedErrorInterceptor(), to: .all),
          .apply(CallerDeadlineInterceptor(), to: .services([Strata_V1_FeatureStore.descriptor])),
        ])
      guard let me = settings.me else { throw StrataError.invalidArgument("--node \(settings.selfID) is not a node of the cluster") }
      try Self.checkPortIsFree(host: config.host, port: me.internodePort, what: "the internode service (internode_port of \(me.id) in the cluster file)")
      let internode = GRPCServer(
        transport: Self.serverTransport(host: config.host, port: me.internodePort, config: config),
        services: [ShardFastPaths(shard)],
        interceptorPipeline: [
          .apply(ForwardedErrorInterceptor(), to: .all),
          .apply(RingEpochInterceptor(window: window), to: .services([Strata_V1_Shard.descriptor])),
        ])
      services.insert(
        GRPCServerService(server: internode) { address in
          logger.info("internode service listening", metadata: ["strata.internode": "\(address)"])
        }, at: 0)
      if let registry {
        let from = registry.revision
        services.append(UntilShutdownService { await registry.follow(from: from) })
      } else {
        services.append(RegistryPullService(shard: shard))
      }
      services.append(UntilShutdownService { await handoff.replay(through: topology) })
      // A node without rows has nothing only it could hold (a new node, or a new cluster forming).
      if uncleanStop, settings.repairAfterCrash, store.shard.writeStats.values.contains(where: { $0.rowsTotal > 0 }) {
        let (store, rate) = (self.store, settings.repairRowsPerSecond)
        services.append(
          UntilShutdownService {
            await CrashRecoveryRepair(logger: logger) {
              try await ReplicaRepair(store: store, cluster: topology.current, logger: logger, rowsPerSecond: rate).run()
            }.run()
          })
      }
      if let interval = settings.repairInterval {
        let (store, rate) = (self.store, settings.repairRowsPerSecond)
        services.append(
          UntilShutdownService {
            await BackgroundRepair(interval: interval, logger: logger) {
              try await ReplicaRepair(store: store, cluster: topology.current, logger: logger, rowsPerSecond: rate).run()
            }.run()
          })
      }
      services.insert(LookupLaneServerService(server: laneServer), at: 0)
      services.append(freshnessMonitor { await topology.peersLastWrites() })
    } else {
      server = GRPCServer(transport: transport, services: [FeatureStoreFastPaths(service)])
      services.append(freshnessMonitor(peers: nil))
    }
    let serverService = GRPCServerService(server: server) { address in
      logger.info(
        "strata node listening",
        metadata: [
          "strata.address": "\(address)", "strata.engine": "\(config.engine.rawValue)",
          "strata.data_dir": "\(config.dataDirectory)",
        ])
      onListening(address)
    }
    var groupConfiguration = ServiceGroupConfiguration(
      services: ([serverService] + services).map {
        // A node removed from its cluster stops by itself: the removal service returns, and the
        // node shuts down as on SIGTERM.
        $0 is RemovalService ? .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) : .init(service: $0)
      },
      gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
      logger: logger)
    // Open calls get `shutdownGraceSeconds` to finish; then they are cancelled (a push session would
    // otherwise keep the node up until its producer closes it).
    groupConfiguration.maximumGracefulShutdownDuration = .milliseconds(Int64(config.shutdownGraceSeconds * 1000))
    let group = ServiceGroup(configuration: groupConfiguration)
    do {
      try await group.run()
    } catch is CancellationError {
      logger.warning("open calls were cancelled after the shutdown grace", metadata: ["strata.grace_seconds": "\(config.shutdownGraceSeconds)"])
    }
    try store.endRunCleanly()
    logger.info("strata node stopped")
  }

  /// The HTTP/2 transport of the public and the internode server (the same limits on both).
  static func serverTransport(host: String, port: Int, config: ServerConfig) -> HTTP2ServerTransport.Posix {
    HTTP2ServerTransport.Posix(
      address: .ipv4(host: host, port: port),
      transportSecurity: .plaintext,
      config: .defaults { c in
        // The service enforces maxRequestBytes with a proper RESOURCE_EXHAUSTED status; the transport
        // (which can only reset the stream) gets headroom above it. See RequestSizeLimit.
        c.rpc.maxRequestPayloadSize = RequestSizeLimit(maxBytes: config.maxRequestBytes).transportLimit
        c.http2.maxConcurrentStreams = config.maxConcurrentStreams
        // Uploads (ingest batches, label chunks of ~0.5 MiB) would otherwise crawl through the default
        // 64 KiB flow-control window, one round trip per window; larger frames cut per-frame work.
        c.http2.targetWindowSize = 8 << 20
        c.http2.maxFrameSize = 1 << 20
        c.connection.maxIdleTime = .seconds(config.maxIdleSeconds)
        c.connection.flushCoalescing = nil
      })
  }

  /// Fails the start with an error naming the port when it is taken, before any service starts (a
  /// service that fails mid-start can crash grpc's teardown of the others; see LookupLaneServer).
  static func checkPortIsFree(host: String, port: Int, what: String) throws {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return }
    defer { close(fd) }
    var yes: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return }
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    if bound != 0 {
      throw StrataError.failedPrecondition(
        "\(what) could not listen on \(host):\(port): \(String(cString: strerror(errno))); pick a free port or stop the process that holds it")
    }
  }
}

/// Runs a `GRPCServer` as a `Service`: graceful shutdown stops accepting new RPCs and lets in-flight
/// ones finish.
struct GRPCServerService: Service {
  let server: GRPCServer<HTTP2ServerTransport.Posix>
  let onListening: @Sendable (String) -> Void

  func run() async throws {
    try await withGracefulShutdownHandler {
      try await withThrowingDiscardingTaskGroup { group in
        group.addTask { try await server.serve() }
        group.addTask {
          guard let address = try await server.transport.listeningAddress.ipv4 else { return }
          onListening("\(address.host):\(address.port)")
        }
      }
    } onGracefulShutdown: {
      server.beginGracefulShutdown()
    }
  }
}

/// Keeps a `GRPCClient`'s connections running for the node's lifetime (internode clients).
struct GRPCClientService: Service {
  let client: GRPCClient<HTTP2ClientTransport.Posix>

  func run() async throws {
    try await withGracefulShutdownHandler {
      try await client.runConnections()
    } onGracefulShutdown: {
      client.beginGracefulShutdown()
    }
  }
}

/// Follows the leader's registry: pulls it at start and every 2 s (see `ShardService.followRegistry`).
/// Keeps this node's lookup streams to its peers open until shutdown (the first service to stop:
/// services stop in reverse order, so the internode clients are still up while it closes them).
struct LookupStreamsService: Service {
  let streams: ShardLookupStreams<HTTP2ClientTransport.Posix>

  func run() async throws {
    await cancelWhenGracefulShutdown { await streams.run() }
  }
}

/// Keeps this node's lookup lanes to its peers connected until shutdown.
struct LookupLanesService: Service {
  let lanes: LookupLanes

  func run() async throws {
    await cancelWhenGracefulShutdown { await lanes.run() }
  }
}

/// Keeps this node's lookup lane (started before the services) open until shutdown, then closes it:
/// coordinators fall back to gRPC.
struct LookupLaneServerService: Service {
  let server: LookupLaneServer

  func run() async throws {
    try? await gracefulShutdown()
    await server.close()
  }
}

/// Runs `body` until the node shuts down (then cancels it), and stays up until then.
struct UntilShutdownService: Service {
  let body: @Sendable () async -> Void

  func run() async throws {
    await cancelWhenGracefulShutdown { await body() }
    try? await gracefulShutdown()
  }
}

struct RegistryPullService: Service {
  let shard: ShardService<HTTP2ClientTransport.Posix>

  func run() async throws {
    await cancelWhenGracefulShutdown { await shard.followRegistry() }
    // Stay up until shutdown: a service that returns early ends the whole group.
    try? await gracefulShutdown()
  }
}
