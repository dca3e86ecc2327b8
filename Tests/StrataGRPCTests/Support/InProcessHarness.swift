import GRPCCore
import GRPCInProcessTransport
import Logging
import StrataCore
import StrataGRPC
import StrataProto
import StrataStorage
import Synchronization
import Testing

typealias StrataClient = Strata_V1_FeatureStore.Client<InProcessTransport.Client>

/// A clock the test controls: every `FeatureStore` call reads `now` from here.
final class TestClock: Sendable {
  /// 2023-11-14T22:13:20Z: every test starts here unless it says otherwise.
  static let start = Timestamp.seconds(1_700_000_000)

  private let current: Mutex<Timestamp>

  init(_ start: Timestamp = TestClock.start) {
    current = Mutex(start)
  }

  var now: Timestamp { current.withLock { $0 } }

  func advance(seconds: Int64) { advance(microseconds: seconds * 1_000_000) }

  func advance(microseconds: Int64) {
    current.withLock { $0 = $0.adding(microseconds: microseconds) }
  }

  func set(_ time: Timestamp) { current.withLock { $0 = time } }

  /// The closure handed to `FeatureStore(clock:)`.
  var function: @Sendable () -> Timestamp { { self.now } }
}

/// One running in-process Strata node: the generated client talking to `FeatureStoreService` over
/// grpc-swift's in-process transport, plus the `FeatureStore` behind it (for operations the public
/// service does not offer, such as retiring a version) and its clock.
struct StrataHarness: Sendable {
  let client: StrataClient
  let store: FeatureStore
  let clock: TestClock
  let node: FeatureStoreService.NodeInfo
  /// The client under `client`, for calls with hand-made message bytes (`withStrata` sets it).
  var grpc: GRPCClient<InProcessTransport.Client>? = nil

  // MARK: Registry

  func apply(_ specs: [Strata_V1_FeatureGroupSpec]) async throws -> [Strata_V1_ApplyFeatureGroupsResponse.Result] {
    var request = Strata_V1_ApplyFeatureGroupsRequest()
    request.groups = specs
    return try await client.applyFeatureGroups(request).results
  }

  func apply(_ spec: Strata_V1_FeatureGroupSpec) async throws -> Strata_V1_ApplyFeatureGroupsResponse.Result {
    let results = try await apply([spec])
    try #require(results.count == 1)
    return results[0]
  }

  func listGroups() async throws -> [Strata_V1_FeatureGroup] {
    try await client.listFeatureGroups(Strata_V1_ListFeatureGroupsRequest()).groups
  }

  func getGroup(_ name: String, version: UInt32 = 0) async throws -> Strata_V1_GetFeatureGroupResponse {
    var request = Strata_V1_GetFeatureGroupRequest()
    request.name = name
    request.version = version
    return try await client.getFeatureGroup(request)
  }

  func setStatus(_ name: String, version: UInt32, _ status: Strata_V1_GroupStatus) async throws -> Strata_V1_FeatureGroup {
    var request = Strata_V1_SetFeatureGroupStatusRequest()
    request.name = name
    request.version = version
    request.status = status
    return try await client.setFeatureGroupStatus(request).group
  }

  // MARK: Writes

  /// One WriteFeatures call sending `batches` as the messages of the client stream, in order.
  func write(_ batches: [Strata_V1_WriteFeaturesRequest]) async throws -> Strata_V1_WriteFeaturesResponse {
    try await client.writeFeatures(requestProducer: { writer in
      for batch in batches { try await writer.write(batch) }
    })
  }

  /// One WriteFeatures call with a single batch.
  func write(
    _ group: String, version: UInt32 = 0, features: [String], rows: [Strata_V1_WriteRow]
  ) async throws -> Strata_V1_WriteFeaturesResponse {
    try await write([writeBatch(group, version: version, features: features, rows: rows)])
  }

  // MARK: Reads

  func online(_ entityIDs: [String], _ features: [String]) async throws -> Strata_V1_GetOnlineFeaturesResponse {
    var request = Strata_V1_GetOnlineFeaturesRequest()
    request.entityIds = entityIDs
    request.features = features
    return try await client.getOnlineFeatures(request)
  }

  /// One GetHistoricalFeatures call sending `messages` in order; returns every response message.
  func historical(_ messages: [Strata_V1_GetHistoricalFeaturesRequest]) async throws
    -> [Strata_V1_GetHistoricalFeaturesResponse]
  {
    try await client.getHistoricalFeatures(
      requestProducer: { writer in
        for message in messages { try await writer.write(message) }
      },
      onResponse: { response in
        var out: [Strata_V1_GetHistoricalFeaturesResponse] = []
        for try await message in response.messages { out.append(message) }
        return out
      })
  }

  /// A historical join of `labels` in one message; returns the joined rows (all responses flattened).
  func historicalRows(_ features: [String], _ labels: [Strata_V1_LabelRow]) async throws -> [Strata_V1_JoinedRow] {
    let responses = try await historical([historicalRequest(features: features, labels: labels)])
    return responses.flatMap(\.rows)
  }

  func status() async throws -> Strata_V1_GetStatusResponse {
    try await client.getStatus(Strata_V1_GetStatusRequest())
  }
}

/// Starts a store (in-memory engine, `limits`, `imagePolicy`, `clock`), the service (with `sizeLimit`, else its default), an in-process server and a
/// client; runs `body`; then shuts client and server down gracefully (also when `body` throws).
/// `fastPaths`: the server registers `FeatureStoreFastPaths` (as a node does); false: the service's
/// own generated registrations (the decoded entry points).
func withStrata(
  limits: StoreLimits = .defaults,
  clock: TestClock = TestClock(),
  sizeLimit: RequestSizeLimit? = nil,
  imagePolicy: HistoryImagePolicy = .defaults,
  fastPaths: Bool = true,
  _ body: (StrataHarness) async throws -> Void
) async throws {
  let store = try FeatureStore(engine: InMemoryEngine(), limits: limits, imagePolicy: imagePolicy, clock: clock.function)
  let node = FeatureStoreService.NodeInfo(
    nodeID: "test-node", version: "0.0.0-test", dataDirectory: "/nonexistent/test", startedAt: clock.now)
  let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
  let service =
    if let sizeLimit {
      FeatureStoreService(store: store, node: node, logger: logger, sizeLimit: sizeLimit)
    } else {
      FeatureStoreService(store: store, node: node, logger: logger)
    }
  let transport = InProcessTransport()
  let services: [any RegistrableRPCService] = fastPaths ? [FeatureStoreFastPaths(service)] : [service]
  let server = GRPCServer(transport: transport.server, services: services)
  let client = GRPCClient(transport: transport.client)
  try await withThrowingDiscardingTaskGroup { group in
    group.addTask { try await server.serve() }
    group.addTask { try await client.runConnections() }
    defer {
      client.beginGracefulShutdown()
      server.beginGracefulShutdown()
    }
    try await body(
      StrataHarness(client: Strata_V1_FeatureStore.Client(wrapping: client), store: store, clock: clock, node: node, grpc: client))
  }
}

/// Runs `body` and expects it to fail with an `RPCError` of `code` whose message contains every string in
/// `fragments`. Returns the error (nil after recording an issue when the call succeeded).
@discardableResult
func expectRPCError<R>(
  _ code: RPCError.Code,
  mentioning fragments: [String] = [],
  sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () async throws -> R
) async -> RPCError? {
  do {
    let value = try await body()
    Issue.record("expected \(code), but the call succeeded with \(value)", sourceLocation: sourceLocation)
    return nil
  } catch let error as RPCError {
    #expect(error.code == code, "wrong code; message: \(error.message)", sourceLocation: sourceLocation)
    for fragment in fragments {
      #expect(
        error.message.contains(fragment), "message \"\(error.message)\" should mention \"\(fragment)\"",
        sourceLocation: sourceLocation)
    }
    return error
  } catch {
    Issue.record("expected an RPCError \(code), got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    return nil
  }
}
