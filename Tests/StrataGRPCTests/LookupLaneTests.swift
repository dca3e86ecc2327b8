import GRPCCore
import Logging
import NIOCore
import NIOPosix
import StrataCore
import StrataProto
import StrataTestSupport
import SwiftProtobuf
import Synchronization
import Testing

@testable import StrataGRPC

/// The lookup lane's pieces: splicing encoded vectors (against SwiftProtobuf's encoding of the merged
/// answer), the answer frames, and a real lane on loopback (many concurrent lookups answered out of
/// order, epoch refusal, deadlines, cancellation, the owner closing the lane).
@Suite("Lookup lane")
struct LookupLaneTests {
  // MARK: Splicing

  @Test("answers spliced from owners' encoded parts are the bytes of the merged answer, for random splits")
  func splicedAnswers() throws {
    var rng = SplitMix64.forTest("LookupLane.splice")
    for round in 0..<300 {
      let whole = OnlineResponseEncoderTests.randomResponse(&rng)
      let owners = 1 + rng.below(4)
      let owner = whole.vectors.map { _ in rng.below(owners) }
      var parts: [EncodedVectors] = []
      for k in 0..<owners {
        var part = Strata_V1_GetOnlineFeaturesResponse()
        part.vectors = whole.vectors.indices.filter { owner[$0] == k }.map { whole.vectors[$0] }
        // An owner's answer carries no columns; some come through SwiftProtobuf (the gRPC fallback).
        let bytes: [UInt8] = rng.below(2) == 0 ? try OnlineResponseEncoder.encode(part) : try part.serializedBytes()
        // Parts may sit inside a larger buffer (a lane frame): scan a range of it.
        let prefix = [UInt8](repeating: 0xFF, count: rng.below(3))
        let buffer = prefix + bytes + [0xFF]
        let encoded = try EncodedVectors(response: buffer, in: prefix.count..<(prefix.count + bytes.count))
        #expect(encoded.count == part.vectors.count)
        parts.append(encoded)
      }
      let columns: [[UInt8]] = try whole.columns.map { try $0.serializedBytes() }
      let got = EncodedVectors.assemble(columns: columns, parts: parts, owner: owner)
      let want: [UInt8] = try whole.serializedBytes()
      #expect(got == want, "round \(round); \(rng.seedDescription)")
      if got != want { return }
    }
  }

  @Test("a malformed owner answer is INTERNAL, not a crash or a wrong answer")
  func malformedAnswers() throws {
    var response = Strata_V1_GetOnlineFeaturesResponse()
    response.vectors = [.with { $0.entityID = "u1" }, .with { $0.entityID = "u2" }]
    let bytes: [UInt8] = try response.serializedBytes()
    for cut in 1..<bytes.count {
      let truncated = Array(bytes.prefix(cut))
      // Cutting between two whole vectors leaves a valid (shorter) answer: the count check catches it.
      if let scanned = try? EncodedVectors(response: truncated) {
        #expect(scanned.count < 2, "cut at \(cut)")
        continue
      }
      #expect(throws: RPCError.self) { try EncodedVectors(response: truncated) }
    }
    let error = #expect(throws: RPCError.self) { try EncodedVectors(response: [0x18, 0x01]) }  // field 3, varint
    #expect(error?.code == .internalError)
    #expect(error?.message.contains("unexpected field 3") == true)
  }

  @Test("answer frames carry the id and either the vectors or the status code and message")
  func answerFrames() throws {
    var response = Strata_V1_GetOnlineFeaturesResponse()
    response.vectors = [.with { $0.entityID = "u1" }, .with { $0.entityID = "é" }]
    let bytes: [UInt8] = try response.serializedBytes()
    let allocator = ByteBufferAllocator()
    for id: UInt64 in [1, 300, .max] {
      let ok = Self.message(LookupLaneServerHandler.answerFrame(id: id, .success(bytes), allocator: allocator))
      // The frame is a `ShardLookupAnswer` as SwiftProtobuf reads it.
      let decoded = try Strata_V1_ShardLookupAnswer(serializedBytes: ok)
      #expect(decoded.id == id && decoded.code == 0 && decoded.response == response)
      let (gotID, outcome) = try LookupLaneClientHandler.parse(ok)
      #expect(gotID == id)
      #expect(try outcome.get().count == 2)

      let refused = RPCError(code: .failedPrecondition, message: "ring epoch mismatch: é")
      let failed = Self.message(LookupLaneServerHandler.answerFrame(id: id, .failure(refused), allocator: allocator))
      let decodedFailure = try Strata_V1_ShardLookupAnswer(serializedBytes: failed)
      #expect(decodedFailure.code == Int32(RPCError.Code.failedPrecondition.rawValue) && decodedFailure.message == refused.message)
      let (failedID, failure) = try LookupLaneClientHandler.parse(failed)
      #expect(failedID == id)
      #expect(throws: refused) { try failure.get() }
    }
  }

  /// The message bytes of a frame (its 4-byte length checked and removed).
  static func message(_ frame: ByteBuffer) -> [UInt8] {
    var frame = frame
    let length = frame.readInteger(as: UInt32.self)!
    #expect(Int(length) == frame.readableBytes)
    return Array(frame.readableBytesView)
  }

  // MARK: A node's own answers

  @Test("a node's lane answers equal GetOnlineFeatures' vectors: small lookups answered inline, large ones later; errors are GetOnlineFeatures' errors")
  func nodeAnswerer() async throws {
    try await withStrata { api in
      _ = try await api.apply([userStatsSpec(), groupSpec("item_stats", [featureSpec("price", .float)])])
      let users = (0..<3_000).map { "u\($0)" }
      _ = try await api.write(
        "user_stats", features: ["score", "country"],
        rows: users.enumerated().filter { $0.offset % 3 != 0 }.map { i, u in
          writeRow(u, .t0(-60), [.float(Double(i) / 4), .string("c\(i % 7)")])
        })
      _ = try await api.write("item_stats", features: ["price"], rows: users.prefix(500).map { writeRow($0, .t0(-30), [.float(2.5)]) })
      let service = FeatureStoreService(
        store: api.store, node: api.node, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
      let answer = LookupLaneServer.answerer(for: service)
      // 40 x 2 groups is inline; 3000 x 2 groups (over FeatureStore's 4096 inline keys) is answered later.
      for (entities, inline) in [(Array(users.prefix(40)), true), (users, false)] {
        var request = Strata_V1_GetOnlineFeaturesRequest()
        request.entityIds = entities
        request.features = ["user_stats@1:*", "item_stats@1:price"]
        let result: Result<[UInt8], RPCError>
        switch answer(request) {
        case .now(let r):
          #expect(inline, "a lookup of \(entities.count) x 2 groups should not run on the network thread")
          result = r
        case .later(let work):
          #expect(!inline, "a lookup of \(entities.count) x 2 groups should run inline")
          result = await work()
        }
        let got = try Strata_V1_GetOnlineFeaturesResponse(serializedBytes: try result.get())
        let want = try await api.online(entities, request.features)
        #expect(got.columns.isEmpty, "lane answers leave the columns out")
        #expect(got.vectors == want.vectors)
      }
      for (features, code) in [(["nope:*"], RPCError.Code.notFound), (["user_stats@1:*"], .invalidArgument)] {
        var request = Strata_V1_GetOnlineFeaturesRequest()
        request.entityIds = features == ["nope:*"] ? ["u1"] : ["u1", ""]
        request.features = features
        guard case .now(.failure(let error)) = answer(request) else {
          Issue.record("\(features) should be refused at once")
          continue
        }
        let rpcError = await #expect(throws: RPCError.self) { try await api.online(request.entityIds, features) }
        #expect(error.code == code && error == rpcError)
      }
    }
  }

  // MARK: A lane on loopback

  /// Answers each lookup with one vector per entity whose id is the entity id (so a mix-up shows),
  /// after a delay when the first entity id says so ("slow-<ms>"), never when it is "hang".
  static let echo: LookupLaneServer.Answerer = { request in
    let answer: @Sendable () -> Result<[UInt8], RPCError> = {
      var response = Strata_V1_GetOnlineFeaturesResponse()
      response.vectors = request.entityIds.map { id in .with { $0.entityID = id } }
      return .success(try! OnlineResponseEncoder.encode(response))
    }
    let first = request.entityIds.first ?? ""
    if first == "hang" {
      return .later {
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(60)) }
        return answer()
      }
    }
    if first.hasPrefix("bad") { return .now(.failure(RPCError(code: .notFound, message: "no such group: \(first)"))) }
    if first.hasPrefix("slow-"), let ms = Int(first.dropFirst(5)) {
      return .later {
        try? await Task.sleep(for: .milliseconds(ms))
        return answer()
      }
    }
    return .now(answer())
  }

  /// A lane server on 127.0.0.1 (epoch 1) and a coordinator's lanes to it as node "n2" (at
  /// `clientEpoch`), connected.
  static func withLane(
    clientEpoch: UInt64 = 1, _ body: (LookupLaneServer, LookupLanes) async throws -> Void
  ) async throws {
    let server = LookupLaneServer(epoch: 1, answer: echo)
    let port = try await server.start(host: "127.0.0.1", port: 0)
    let lanes = LookupLanes(epoch: clientEpoch, hosts: ["n2": "127.0.0.1"]) { _ in ("", port) }
    let running = Task { await lanes.run() }
    defer { running.cancel() }
    // 60 s, not 10: with the whole suite running in parallel on a loaded 2-core machine, CPU-bound
    // tests can hold both cooperative-pool threads long enough that the lane's connect task is not
    // scheduled within 10 s (seen once, with two compilers running beside the suite).
    let by = ContinuousClock.now + .seconds(60)
    while !lanes.isOpen("n2") && ContinuousClock.now < by { try await Task.sleep(for: .milliseconds(2)) }
    try #require(lanes.isOpen("n2"), "the lane did not connect within 60 s")
    try await body(server, lanes)
    await server.close()
  }

  static func request(_ ids: [String]) -> Strata_V1_GetOnlineFeaturesRequest {
    .with {
      $0.entityIds = ids
      $0.features = ["g@1:f"]
    }
  }

  static func lookup(_ lanes: LookupLanes, _ ids: [String], timeout: Duration = .seconds(10)) async throws -> [String] {
    let pending = try #require(lanes.start(request(ids), on: "n2", deadline: .now + timeout))
    let answer = try await pending.answer()
    let decoded = try Strata_V1_GetOnlineFeaturesResponse(
      serializedBytes: EncodedVectors.assemble(columns: [], parts: [answer], owner: ids.map { _ in 0 }))
    return decoded.vectors.map(\.entityID)
  }

  @Test("300 concurrent lookups on one lane, answered out of order, each get their own answer")
  func concurrentLookups() async throws {
    var rng = SplitMix64.forTest("LookupLane.concurrent")
    let requests = (0..<300).map { i in
      (rng.below(3) == 0 ? ["slow-\(rng.below(20))"] : []) + (0..<(1 + rng.below(50))).map { "e\(i)-\($0)" }
    }
    try await Self.withLane { _, lanes in
      try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
        for (i, ids) in requests.enumerated() { group.addTask { (i, try await Self.lookup(lanes, ids)) } }
        for try await (i, got) in group { #expect(got == requests[i], "lookup \(i); \(rng.seedDescription)") }
      }
      #expect(lanes.pending(on: "n2") == 0)
    }
  }

  @Test("an owner's error comes back with its code and message; the lane goes on")
  func ownerErrors() async throws {
    try await Self.withLane { _, lanes in
      await #expect(throws: RPCError(code: .notFound, message: "no such group: bad-1")) { try await Self.lookup(lanes, ["bad-1"]) }
      let after = try await Self.lookup(lanes, ["u1", "u2"])
      #expect(after == ["u1", "u2"])
    }
  }

  @Test("a lookup made at another ring epoch is refused FAILED_PRECONDITION naming both epochs")
  func epochMismatch() async throws {
    try await Self.withLane(clientEpoch: 7) { _, lanes in
      let error = await #expect(throws: RPCError.self) { try await Self.lookup(lanes, ["u1"]) }
      #expect(error?.code == .failedPrecondition)
      #expect(error?.message.contains("the caller is at epoch 7, this node at epoch 1") == true, "\(String(describing: error))")
    }
  }

  @Test("a lookup without an answer ends DEADLINE_EXCEEDED at its deadline, or when its task is cancelled; none stays pending")
  func deadlineAndCancellation() async throws {
    try await Self.withLane { _, lanes in
      let started = ContinuousClock.now
      let error = await #expect(throws: RPCError.self) { try await Self.lookup(lanes, ["hang"], timeout: .milliseconds(200)) }
      #expect(error?.code == .deadlineExceeded)
      #expect(ContinuousClock.now - started < .seconds(5))
      #expect(lanes.pending(on: "n2") == 0)

      let waiting = Task { try await Self.lookup(lanes, ["hang"]) }
      while lanes.pending(on: "n2") == 0 { try await Task.sleep(for: .milliseconds(2)) }
      waiting.cancel()
      await #expect(throws: CancellationError.self) { try await waiting.value }
      #expect(lanes.pending(on: "n2") == 0)
      // An answer sent before anyone awaits it is kept for the awaiter; an abandoned one is dropped.
      let early = try #require(lanes.start(Self.request(["u9"]), on: "n2", deadline: .now + .seconds(10)))
      try await Task.sleep(for: .milliseconds(100))
      let earlyAnswer = try await early.answer()
      #expect(earlyAnswer.count == 1)
      let abandoned = try #require(lanes.start(Self.request(["u9"]), on: "n2", deadline: .now + .seconds(10)))
      abandoned.abandon()
      #expect(lanes.pending(on: "n2") == 0)
      let after = try await Self.lookup(lanes, ["u1"])
      #expect(after == ["u1"])
    }
  }

  @Test("a connection that sends something other than lane frames is closed; the lane goes on serving others")
  func garbageClosesConnection() async throws {
    try await Self.withLane { server, lanes in
      let port = try #require(server.address?.port)
      let junk: [[UInt8]] = [
        [0, 0, 0, 3, 0xFF, 0xFF, 0xFF],  // a frame that is not a ShardLookup
        [0x7F, 0xFF, 0xFF, 0xFF],  // a length far over the frame limit
        Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8),  // a gRPC client at the wrong port
      ]
      for bytes in junk {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
          .connect(host: "127.0.0.1", port: port).get()
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        try await channel.writeAndFlush(buffer)
        let closed = try await expectFinishes(within: .seconds(10), release: { channel.close(promise: nil) }) {
          try? await channel.closeFuture.get()
          return true
        }
        #expect(closed, "the lane kept a connection that sent \(bytes.prefix(8))")
      }
      let after = try await Self.lookup(lanes, ["u1"])
      #expect(after == ["u1"])
    }
  }

  @Test("when the owner closes its lane, waiting lookups fail UNAVAILABLE and new ones are not sent on it")
  func ownerCloses() async throws {
    try await Self.withLane { server, lanes in
      let waiting = Task { try await Self.lookup(lanes, ["hang"]) }
      while lanes.pending(on: "n2") == 0 { try await Task.sleep(for: .milliseconds(2)) }
      await server.close()
      let error = await #expect(throws: RPCError.self) { try await waiting.value }
      #expect(error?.code == .unavailable)
      #expect(error?.message.contains("the lookup lane to n2 closed") == true, "\(String(describing: error))")
      let by = ContinuousClock.now + .seconds(5)
      while lanes.isOpen("n2") && ContinuousClock.now < by { try await Task.sleep(for: .milliseconds(2)) }
      #expect(lanes.start(Self.request(["u1"]), on: "n2", deadline: .now + .seconds(1)) == nil, "no lane: the caller uses gRPC")
    }
  }
}
