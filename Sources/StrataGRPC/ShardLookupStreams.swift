public import GRPCCore
public import StrataProto
internal import Synchronization
internal import SwiftProtobuf

/// One long-lived `Shard.LookupStream` per peer, on which a coordinator multiplexes its online
/// lookups: a lookup is one message out and one answer back, matched by id, instead of a unary call
/// (an HTTP/2 stream, a handler and their tasks set up per lookup).
///
/// - `run()` keeps a stream open to every peer: when one ends (the peer went down, restarted, or
///   answered the opening with an error such as a ring epoch mismatch), every lookup waiting on it
///   fails UNAVAILABLE, and the stream is reopened after a backoff (100 ms, growing to 1 s).
/// - `lookup` answers nil while the stream to that peer is not open: the caller then makes a unary
///   `GetOnline` call, which fails at once when the peer is unreachable. So a lookup never waits for
///   a stream to open.
/// - A lookup ends at its timeout (checked every 10 ms), or when its task is cancelled; its answer, if
///   it comes later, is dropped.
public final class ShardLookupStreams<Transport: ClientTransport>: Sendable {
  private let peers: [String: Strata_V1_Shard.Client<Transport>]
  private let metadata: Metadata
  private let channels: [String: Channel]

  /// - Parameters:
  ///   - peers: the internode client of every node this coordinator looks up on (not itself).
  ///   - metadata: sent when a stream opens (the ring epoch, checked by the owner).
  public init(peers: [String: Strata_V1_Shard.Client<Transport>], metadata: Metadata) {
    self.peers = peers
    self.metadata = metadata
    self.channels = peers.mapValues { _ in Channel() }
  }

  /// The lookup answered on `node`'s stream: nil if that stream is not open now. Throws the lookup's
  /// own error (an `RPCError` with the owner's status), UNAVAILABLE if the stream broke before the
  /// answer came, DEADLINE_EXCEEDED after `timeout`, or `CancellationError`.
  public func lookup(
    _ request: Strata_V1_GetOnlineFeaturesRequest, on node: String, timeout: Duration
  ) async throws -> Strata_V1_GetOnlineFeaturesResponse? {
    guard let channel = channels[node] else { return nil }
    return try await channel.lookup(request, deadline: .now + timeout, node: node)
  }

  /// Lookups waiting for an answer on `node`'s stream (for tests and status).
  public func pending(on node: String) -> Int {
    channels[node]?.pendingCount ?? 0
  }

  /// True when the stream to `node` is open.
  public func isOpen(_ node: String) -> Bool {
    channels[node]?.isOpen ?? false
  }

  /// Keeps every peer's stream open until cancelled (graceful shutdown cancels it), and expires
  /// lookups past their deadline.
  public func run() async {
    await withDiscardingTaskGroup { group in
      for (node, client) in peers {
        let channel = channels[node]!
        let metadata = self.metadata
        group.addTask {
          var backoff = Duration.milliseconds(100)
          while !Task.isCancelled {
            let opened = await channel.serve(client: client, metadata: metadata, node: node)
            backoff = opened ? .milliseconds(100) : min(backoff * 1.6, .seconds(1))
            try? await Task.sleep(for: backoff)
          }
        }
      }
      group.addTask { [channels] in
        while !Task.isCancelled {
          try? await Task.sleep(for: .milliseconds(10))
          let now = ContinuousClock.now
          for channel in channels.values { channel.expire(now: now) }
        }
      }
    }
  }
}

/// One peer's stream: lookups waiting for answers, and the way to send while it is open.
private final class Channel: Sendable {
  typealias Answer = Result<Strata_V1_GetOnlineFeaturesResponse, any Error>

  private struct Waiter {
    let continuation: CheckedContinuation<Strata_V1_GetOnlineFeaturesResponse, any Error>
    let deadline: ContinuousClock.Instant
  }

  private struct State {
    /// Set while a stream is open: sends to its request writer.
    var outbound: AsyncStream<Strata_V1_ShardLookup>.Continuation?
    var waiters: [UInt64: Waiter] = [:]
    var nextID: UInt64 = 1
  }

  private let state = Mutex(State())

  var pendingCount: Int { state.withLock { $0.waiters.count } }
  var isOpen: Bool { state.withLock { $0.outbound != nil } }

  func lookup(
    _ request: Strata_V1_GetOnlineFeaturesRequest, deadline: ContinuousClock.Instant, node: String
  ) async throws -> Strata_V1_GetOnlineFeaturesResponse? {
    // The id is taken first so that cancellation can name the lookup; nil when not open.
    guard let id = state.withLock({ s -> UInt64? in
      guard s.outbound != nil else { return nil }
      defer { s.nextID += 1 }
      return s.nextID
    }) else { return nil }
    return try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { continuation in
        let sent = state.withLock { s -> Bool in
          guard let outbound = s.outbound, !Task.isCancelled else { return false }
          s.waiters[id] = Waiter(continuation: continuation, deadline: deadline)
          outbound.yield(.with {
            $0.id = id
            $0.request = request
          })
          return true
        }
        if !sent {
          continuation.resume(
            throwing: Task.isCancelled
              ? CancellationError() : RPCError(code: .unavailable, message: "the lookup stream to \(node) closed"))
        }
      }
    } onCancel: {
      state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
    }
  }

  /// Fails lookups whose deadline passed.
  func expire(now: ContinuousClock.Instant) {
    let expired = state.withLock { s -> [Waiter] in
      let ids = s.waiters.filter { $0.value.deadline <= now }.map(\.key)
      return ids.compactMap { s.waiters.removeValue(forKey: $0) }
    }
    for waiter in expired {
      waiter.continuation.resume(throwing: RPCError(code: .deadlineExceeded, message: "no answer in time on the lookup stream"))
    }
  }

  /// Opens the stream and serves it until it ends; true if it was open at some point.
  func serve<Transport: ClientTransport>(
    client: Strata_V1_Shard.Client<Transport>, metadata: Metadata, node: String
  ) async -> Bool {
    let (outgoing, outbound) = AsyncStream.makeStream(of: Strata_V1_ShardLookup.self)
    let opened = Mutex(false)
    var options = CallOptions.defaults
    options.waitForReady = false
    options.timeout = nil  // the stream lives as long as the node
    var reason = "the lookup stream to \(node) closed"
    do {
      try await client.lookupStream(
        request: StreamingClientRequest(metadata: metadata) { writer in
          // Called once the call is under way: from here lookups may use this stream.
          opened.withLock { $0 = true }
          self.state.withLock { $0.outbound = outbound }
          for await message in outgoing { try await writer.write(message) }
        },
        options: options
      ) { response in
        // However the answers end, the request side must end too, or the call never returns.
        defer { self.close(outbound) }
        for try await answer in response.messages { self.deliver(answer) }
      }
    } catch {
      reason = "the lookup stream to \(node) broke: \(error)"
    }
    // Closed: no new lookups on it; the waiting ones fail (the caller reports the node UNAVAILABLE).
    close(outbound)
    let waiting = state.withLock { s -> [Waiter] in
      defer { s.waiters.removeAll() }
      return Array(s.waiters.values)
    }
    for waiter in waiting { waiter.continuation.resume(throwing: RPCError(code: .unavailable, message: reason)) }
    return opened.withLock { $0 }
  }

  /// Stops new lookups from using the stream of `outbound` and ends its request side.
  private func close(_ outbound: AsyncStream<Strata_V1_ShardLookup>.Continuation) {
    state.withLock { $0.outbound = nil }
    outbound.finish()
  }

  private func deliver(_ answer: Strata_V1_ShardLookupAnswer) {
    guard let waiter = state.withLock({ $0.waiters.removeValue(forKey: answer.id) }) else { return }  // expired
    if answer.code == 0 {
      waiter.continuation.resume(returning: answer.response)
    } else {
      let code = RPCError.Code(Status.Code(rawValue: Int(answer.code)) ?? .unknown) ?? .unknown
      waiter.continuation.resume(throwing: RPCError(code: code, message: answer.message))
    }
  }
}
