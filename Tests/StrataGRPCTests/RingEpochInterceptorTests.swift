import GRPCCore
import StrataGRPC
import StrataProto
import Testing

/// The epoch check of internode calls, and the count of calls in progress per epoch that a node's
/// cleanup waits on before it deletes the copies it no longer replicates.
@Suite("ring epoch interceptor")
struct RingEpochInterceptorTests {
  static func request(epoch: String?) -> StreamingServerRequest<String> {
    var metadata: Metadata = [:]
    if let epoch { metadata.addString(epoch, forKey: RingEpochInterceptor.header) }
    return StreamingServerRequest(metadata: metadata, messages: RPCAsyncSequence(wrapping: AsyncThrowingStream<String, any Error> { $0.finish() }))
  }

  static let context = ServerContext(
    descriptor: Strata_V1_Shard.Method.WriteBatch.descriptor, remotePeer: "test",
    localPeer: "test", cancellation: .init())

  @Test("a writing call accepted at an epoch counts until its handler returned; drain waits for it")
  func callsInProgressAreCounted() async throws {
    let window = EpochWindow(epoch: 2, alsoAccepting: 1)
    let interceptor = RingEpochInterceptor(window: window)
    let (release, released) = AsyncStream.makeStream(of: Void.self)
    let (entered, enter) = AsyncStream.makeStream(of: Void.self)
    // A write accepted at the old epoch, still applying its rows.
    let call = Task {
      try await interceptor.intercept(request: Self.request(epoch: "1"), context: Self.context) { _, _ in
        enter.yield()
        for await _ in release { break }
        return StreamingServerResponse<String>(of: String.self, metadata: [:]) { _ in [:] }
      }
    }
    for await _ in entered { break }
    #expect(window.inFlight(at: 1) == 1)
    #expect(window.inFlight(at: 2) == 0)
    // The cleanup phase: the old epoch is refused from now on; the call accepted before still counts.
    window.set(epoch: 2, alsoAccepting: nil)
    let refused = try await interceptor.intercept(request: Self.request(epoch: "1"), context: Self.context) {
      _, _ in
      Issue.record("a call at a refused epoch reached the handler")
      return StreamingServerResponse<String>(of: String.self, error: RPCError(code: .internalError, message: "unreachable"))
    }
    guard case .failure(let error) = refused.accepted else {
      Issue.record("a call at the refused epoch 1 was accepted")
      return
    }
    #expect(error.code == .failedPrecondition)
    #expect(window.inFlight(at: 1) == 1)
    #expect(await window.drain(epoch: 1, timeout: .milliseconds(100)) == false)
    // The write ends: the drain returns.
    async let drained = window.drain(epoch: 1, timeout: .seconds(10))
    released.yield()
    let response = try await call.value
    if case .failure = response.accepted { Issue.record("the accepted write failed") }
    #expect(await drained)
    #expect(window.inFlight(at: 1) == 0)
  }

  @Test("a call whose handler throws, or answers with an error, stops counting at once")
  func failedCallsAreNotCounted() async throws {
    let window = EpochWindow(epoch: 3)
    let interceptor = RingEpochInterceptor(window: window)
    struct Failure: Error {}
    await #expect(throws: Failure.self) {
      _ = try await interceptor.intercept(request: Self.request(epoch: "3"), context: Self.context) {
        _, _ -> StreamingServerResponse<String> in
        throw Failure()
      }
    }
    #expect(window.inFlight(at: 3) == 0)
    let failed = try await interceptor.intercept(request: Self.request(epoch: "3"), context: Self.context) { _, _ in
      StreamingServerResponse<String>(of: String.self, error: RPCError(code: .unavailable, message: "busy"))
    }
    if case .success = failed.accepted { Issue.record("the handler's error was lost") }
    #expect(window.inFlight(at: 3) == 0)
    #expect(await window.drain(epoch: 3, timeout: .zero))
    // A call without an epoch, or at another one, never counts.
    for epoch in [nil, "4", "x"] {
      let response = try await interceptor.intercept(request: Self.request(epoch: epoch), context: Self.context) {
        _, _ in
        Issue.record("a call at epoch \(epoch ?? "none") reached the handler")
        return StreamingServerResponse<String>(of: String.self, error: RPCError(code: .internalError, message: "unreachable"))
      }
      guard case .failure(let error) = response.accepted else {
        Issue.record("a call at epoch \(epoch ?? "none") was accepted")
        continue
      }
      #expect(error.code == .failedPrecondition)
    }
    #expect(window.inFlight(at: 3) == 0 && window.inFlight(at: 4) == 0)
  }

  @Test("calls of methods that do not write (lookup streams) are checked but not counted")
  func readsAreNotCounted() async throws {
    let window = EpochWindow(epoch: 5, alsoAccepting: 4)
    let interceptor = RingEpochInterceptor(window: window)
    let lookups = ServerContext(
      descriptor: Strata_V1_Shard.Method.LookupStream.descriptor, remotePeer: "test",
      localPeer: "test", cancellation: .init())
    let response = try await interceptor.intercept(request: Self.request(epoch: "4"), context: lookups) { _, _ in
      StreamingServerResponse<String>(of: String.self, metadata: [:]) { _ in [:] }
    }
    guard case .success = response.accepted else {
      Issue.record("a lookup stream at an accepted epoch was refused")
      return
    }
    #expect(window.inFlight(at: 4) == 0)
    window.set(epoch: 5, alsoAccepting: nil)
    let refused = try await interceptor.intercept(request: Self.request(epoch: "4"), context: lookups) { _, _ in
      StreamingServerResponse<String>(of: String.self, metadata: [:]) { _ in [:] }
    }
    if case .success = refused.accepted { Issue.record("a lookup stream at a refused epoch was accepted") }
  }
}
