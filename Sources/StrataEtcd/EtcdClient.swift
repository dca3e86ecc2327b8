internal import EtcdProto
internal import GRPCCore
internal import GRPCNIOTransportHTTP2
public import Logging
internal import Synchronization

/// A typed async client for etcd's v3 API (KV, transactions, watches, leases) over one or more
/// endpoints, failing over between them.
///
/// Semantics in brief (etcd's own, stated here because callers build on them):
/// - **Revisions.** etcd has one store-wide revision counter; every write (put, delete, a transaction
///   that writes) increments it by one, and all changes of one transaction share one revision. Reads
///   return the revision they saw (`EtcdRangeResult.revision`), writes the revision they created.
/// - **Linearizable reads and writes.** Every call here goes through etcd's leader (no serializable
///   reads), so a read sees every write acknowledged before it started, whichever endpoint served it.
/// - **Watches** (`watch(_:fromRevision:_:)`) deliver every change in a range from a start revision,
///   in revision order, each exactly once, also across connection drops and endpoint failover; a start
///   revision older than etcd's compaction point fails with `.compacted`.
/// - **Leases** expire `ttl` after their last keep-alive and take their keys with them.
///
/// Endpoints and failover: calls go to the endpoint that answered last; when it fails with
/// "unavailable" (refused, unreachable, no leader, connection closed) the next endpoint is tried, in
/// order; after a round over all of them, another round follows after a short pause (at most three
/// rounds, none begun after `Configuration.requestTimeout`). A read is retried on every endpoint. A
/// write (put, delete, a writing transaction, lease grant and revoke) moves on only when gRPC reports
/// that the request never left this process (no connection to that endpoint); otherwise it fails with
/// `.unavailable` or `.deadlineExceeded` and a message that says it may have been applied, so that a
/// compare-and-swap is never silently sent twice. Every unary call has a deadline,
/// `Configuration.requestTimeout`, per endpoint tried.
///
/// Connections: unary calls and long-lived streams use separate HTTP/2 connections per endpoint, and
/// the unary calls' connection is replaced after a share of calls (`EtcdCallConnection` says why:
/// etcd's PINGs would otherwise make swift-nio-http2 close it every 30 s under steady traffic).
///
/// Lifecycle: like `GRPCClient`, the client's connections run inside `run()` until `shutdown()`;
/// `withClient(endpoints:configuration:logger:_:)` and `running(_:)` do both around a body.
///
/// ```swift
/// try await EtcdClient.withClient(endpoints: "127.0.0.1:2379,127.0.0.1:22379", logger: logger) { etcd in
///   let revision = try await etcd.put("/strata/ring", encodedRing)
///   let swapped = try await etcd.transaction(
///     if: [.modRevision("/strata/ring", .equal, revision)],
///     then: [.put(key: "/strata/ring", value: newRing)])
///   try await etcd.watch(.prefix("/strata/"), fromRevision: revision + 1) { events in
///     for try await event in events { print(event.kind, event.keyValue.key, event.revision) }
///   }
/// }
/// ```
public final class EtcdClient: Sendable {
  /// Timeouts and retry pacing. `.defaults` suits a LAN.
  public struct Configuration: Sendable {
    /// Deadline of each unary call on each endpoint tried.
    public var requestTimeout: Duration
    /// First pause before a watch or keep-alive stream is opened again after it broke; doubles per
    /// consecutive failure up to `maxRetryDelay`.
    public var initialRetryDelay: Duration
    public var maxRetryDelay: Duration

    public init(requestTimeout: Duration, initialRetryDelay: Duration, maxRetryDelay: Duration) {
      self.requestTimeout = requestTimeout
      self.initialRetryDelay = initialRetryDelay
      self.maxRetryDelay = maxRetryDelay
    }

    /// 5 s per call; stream retries from 100 ms up to 2 s.
    public static var defaults: Configuration {
      Configuration(requestTimeout: .seconds(5), initialRetryDelay: .milliseconds(100), maxRetryDelay: .seconds(2))
    }
  }

  /// The endpoints in the order they are tried.
  public let endpoints: [EtcdEndpoint]
  let configuration: Configuration
  let logger: Logger
  let connections: [Connection]
  /// Index into `connections` of the endpoint that answered last: calls start there.
  let preferred = Mutex(0)

  /// One endpoint's connections and the etcd service stubs over them: unary calls on a connection that
  /// is replaced after a share of calls (`EtcdCallConnection`), long-lived streams on their own.
  struct Connection: Sendable {
    let endpoint: EtcdEndpoint
    let calls: EtcdCallConnection
    let streams: GRPCClient<HTTP2ClientTransport.Posix>

    /// Stubs for one unary call.
    func unaryStubs() -> UnaryStubs { UnaryStubs(client: calls.client()) }
    var watch: Etcdserverpb_Watch.Client<HTTP2ClientTransport.Posix> { .init(wrapping: streams) }
    var leaseStreams: Etcdserverpb_Lease.Client<HTTP2ClientTransport.Posix> { .init(wrapping: streams) }
  }

  /// The etcd services over the client one unary call uses.
  struct UnaryStubs: Sendable {
    let client: GRPCClient<HTTP2ClientTransport.Posix>
    var kv: Etcdserverpb_KV.Client<HTTP2ClientTransport.Posix> { .init(wrapping: client) }
    var lease: Etcdserverpb_Lease.Client<HTTP2ClientTransport.Posix> { .init(wrapping: client) }
  }

  /// A client for `endpoints` (tried in this order). Nothing connects until `run()` runs.
  public init(endpoints: [EtcdEndpoint], configuration: Configuration = .defaults, logger: Logger) throws(EtcdError) {
    guard !endpoints.isEmpty else {
      throw EtcdError(.invalidArgument, "no etcd endpoint given: expected host:port[,host:port...]")
    }
    self.endpoints = endpoints
    self.configuration = configuration
    self.logger = logger
    var connections: [Connection] = []
    for endpoint in endpoints {
      do {
        let makeClient = { @Sendable () throws -> GRPCClient<HTTP2ClientTransport.Posix> in
          let transport = try HTTP2ClientTransport.Posix(
            target: .dns(host: endpoint.host, port: endpoint.port),
            transportSecurity: .plaintext,
            config: .defaults {
              $0.connection.maxIdleTime = nil  // watches and keep-alives may be quiet for long
              // Notice a dead peer under a quiet watch. etcd refuses pings more often than every 5 s
              // (--grpc-keepalive-min-time) or without an open stream.
              $0.connection.keepalive = .init(time: .seconds(10), timeout: .seconds(5), allowWithoutCalls: false)
              // After an endpoint comes back, reconnect within about a second (gRPC's default backoff grows to
              // two minutes, and calls to that endpoint fail at once until the next attempt).
              $0.backoff = .init(initial: .milliseconds(100), max: .seconds(1), multiplier: 1.6, jitter: 0.2)
            })
          return GRPCClient(transport: transport)
        }
        connections.append(
          Connection(endpoint: endpoint, calls: try EtcdCallConnection(makeClient), streams: try makeClient()))
      } catch {
        throw EtcdError(.invalidArgument, "cannot create a gRPC transport to etcd at \(endpoint)", cause: error)
      }
    }
    self.connections = connections
  }

  /// A client for a comma-separated `host:port[,host:port...]` list.
  public convenience init(endpoints: String, configuration: Configuration = .defaults, logger: Logger) throws(EtcdError) {
    try self.init(endpoints: EtcdEndpoint.parseList(endpoints), configuration: configuration, logger: logger)
  }

  /// Runs the connections to every endpoint; returns after `shutdown()` once open calls have finished.
  /// Call it once (e.g. from a `Service`'s `run()`); calls made before it runs wait for it.
  public func run() async throws {
    try await withThrowingDiscardingTaskGroup { group in
      for connection in connections {
        group.addTask { await connection.calls.run() }
        group.addTask { try await connection.streams.runConnections() }
      }
    }
  }

  /// Stops accepting new calls; `run()` returns once the open ones have finished.
  public func shutdown() {
    for connection in connections {
      connection.calls.shutdown()
      connection.streams.beginGracefulShutdown()
    }
  }

  /// Runs `body` with a connected client, then shuts it down (also when `body` throws).
  public static func withClient<Result: Sendable>(
    endpoints: String, configuration: Configuration = .defaults, logger: Logger,
    _ body: (EtcdClient) async throws -> Result
  ) async throws -> Result {
    let client = try EtcdClient(endpoints: endpoints, configuration: configuration, logger: logger)
    return try await client.running(body)
  }

  /// Runs `body` while this client's connections run (`run()` in a child task), then shuts it down.
  public func running<Result: Sendable>(_ body: (EtcdClient) async throws -> Result) async throws -> Result {
    try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
      group.addTask { try await self.run() }
      defer { self.shutdown() }
      return try await body(self)
    }
  }

  /// The endpoints as a readable list for error messages.
  var endpointList: String { endpoints.map(\.description).joined(separator: ", ") }
}
