internal import GRPCCore
internal import Logging
internal import Synchronization

extension EtcdClient {
  /// Whether a call may be sent to the next endpoint after it failed on one.
  enum Retry {
    /// Reads: on any endpoint failure (unavailable, deadline exceeded).
    case always
    /// Writes: only when gRPC reports the request never left this process.
    case ifNotSent
  }

  /// Call options of one unary call: the configured deadline, and fail at once (no waiting for a
  /// connection that is down: the next endpoint may answer).
  var unaryOptions: CallOptions {
    var options = CallOptions.defaults
    options.timeout = configuration.requestTimeout
    options.waitForReady = false
    return options
  }

  /// Options of a long-lived stream (watch, keep-alive): no deadline.
  var streamOptions: CallOptions {
    var options = CallOptions.defaults
    options.timeout = nil
    options.waitForReady = false
    return options
  }

  /// Runs `body` against the preferred endpoint and then the others in order until one answers (see
  /// `Retry`); an endpoint that answered becomes the preferred one. When every endpoint failed in a way
  /// that allows another try, the round is repeated after a pause (`retryDelay`), up to `maxRounds`
  /// rounds and while less than `requestTimeout` has passed: a connection that just closed (etcd
  /// restarting, a connection replaced) is open again within about 100 ms. `what` names the operation
  /// in errors.
  func unary<R: Sendable>(
    _ what: String, retry: Retry,
    _ body: (UnaryStubs, CallOptions) async throws -> R
  ) async throws(EtcdError) -> R {
    let options = unaryOptions
    let started = ContinuousClock.now
    var failures: [String] = []
    for round in 0..<Self.maxRounds {
      if round > 0 {
        guard ContinuousClock.now - started < configuration.requestTimeout else { break }
        do {
          try await Task.sleep(for: retryDelay(failures: round))
        } catch {
          throw EtcdError(.cancelled, "\(what) was cancelled")
        }
      }
      let start = preferred.withLock { $0 }
      for step in 0..<connections.count {
        let index = (start + step) % connections.count
        let connection = connections[index]
        do {
          let result = try await body(connection.unaryStubs(), options)
          if !failures.isEmpty {
            preferred.withLock { $0 = index }
            logger.info(
              "etcd endpoint answered after others failed",
              metadata: ["strata.etcd.endpoint": "\(connection.endpoint)", "strata.etcd.failed": "\(failures)"])
          }
          return result
        } catch {
          if Task.isCancelled || error is CancellationError {
            throw EtcdError(.cancelled, "\(what) was cancelled")
          }
          if let rpc = error as? RPCError, Self.isEndpointFailure(rpc),
            retry == .always || Self.neverSent(rpc)
          {
            failures.append("\(connection.endpoint): \(Self.describe(rpc))")
            continue
          }
          throw Self.etcdError(error, doing: what, at: "\(connection.endpoint)", mayHaveApplied: retry == .ifNotSent)
        }
      }
    }
    throw EtcdError(
      .unavailable,
      "no etcd endpoint answered \(what): \(failures.joined(separator: "; ")); check that etcd runs at "
        + "\(endpointList) and that these are its client URLs")
  }

  /// Rounds over the endpoints a unary call makes at most.
  static let maxRounds = 3

  /// The next endpoint after `index`, for streams that broke.
  func nextIndex(after index: Int) -> Int { (index + 1) % connections.count }

  /// Pause before the `failures`-th consecutive attempt to reopen a stream: doubling from
  /// `initialRetryDelay`, capped at `maxRetryDelay`; the first attempt on another endpoint is immediate.
  func retryDelay(failures: Int) -> Duration {
    guard failures > 0 else { return .zero }
    var delay = configuration.initialRetryDelay
    for _ in 1..<min(failures, 30) where delay < configuration.maxRetryDelay { delay *= 2 }
    return min(delay, configuration.maxRetryDelay)
  }

  /// Failures that say "this endpoint cannot serve now" rather than "this request is wrong".
  static func isEndpointFailure(_ error: RPCError) -> Bool {
    error.code == .unavailable || error.code == .deadlineExceeded
  }

  /// Failures where etcd answered and refused the request itself (auth, a malformed request, an unknown
  /// method): reopening a stream would be refused again, so a watch or keep-alive ends with them.
  static func isRefusal(_ error: RPCError) -> Bool {
    switch error.code {
    case .permissionDenied, .unauthenticated, .invalidArgument, .failedPrecondition, .unimplemented, .outOfRange,
      .notFound:
      true
    default:
      false
    }
  }

  /// Whether `error` is one that grpc-swift-nio-transport raises before a request's stream exists (no
  /// connection, channel shutting down, name resolution failed), so the request never reached etcd.
  ///
  /// grpc-swift-2 has no typed signal for this, so the messages of grpc-swift-nio-transport 2.9.2
  /// (GRPCChannel.swift, Connection.swift) are matched. An unknown message counts as "maybe sent": a
  /// write then fails with `.unavailable` instead of being sent to another endpoint twice.
  static func neverSent(_ error: RPCError) -> Bool {
    guard error.code == .unavailable else { return false }
    let markers = [
      "Channel is in a transient failure state", "Channel isn't ready", "channel is shutdown",
      "channel is closed", "Channel is shutting down", "Failed to resolve server name", "Subchannel shutdown",
      "subchannel isn't ready", "subchannel is unavailable", "Could not establish a connection",
      "closed the connection before completing the HTTP/2 connection preface",
    ]
    return markers.contains { error.message.contains($0) }
  }

  /// An RPCError's message with its cause's, for humans.
  static func describe(_ error: RPCError) -> String {
    var text = error.message
    if let cause = error.cause { text += " (\(cause))" }
    return text
  }

  /// Maps a failed call to an `EtcdError` naming the operation and the endpoint.
  static func etcdError(_ error: any Error, doing what: String, at endpoint: String, mayHaveApplied: Bool) -> EtcdError {
    if let error = error as? EtcdError { return error }
    if error is CancellationError { return EtcdError(.cancelled, "\(what) was cancelled") }
    guard let rpc = error as? RPCError else {
      return EtcdError(.internalError, "\(what) at etcd \(endpoint) failed", cause: error)
    }
    let maybe = mayHaveApplied ? "; the write may or may not have been applied: read it back before retrying" : ""
    let server = rpc.message
    switch rpc.code {
    case .unavailable:
      return EtcdError(.unavailable, "etcd at \(endpoint) did not answer \(what): \(describe(rpc))\(maybe)")
    case .deadlineExceeded:
      return EtcdError(.deadlineExceeded, "etcd at \(endpoint) did not answer \(what) in time\(maybe)", cause: rpc)
    case .outOfRange where server.contains("compacted"):
      return EtcdError(.compacted, "\(what): the revision asked for is compacted at etcd \(endpoint) (\(server))")
    case .outOfRange where server.contains("future revision"):
      return EtcdError(.futureRevision, "\(what): the revision asked for is newer than etcd's at \(endpoint) (\(server))")
    case .notFound:
      return EtcdError(.notFound, "\(what): \(server) (etcd at \(endpoint))")
    case .invalidArgument, .outOfRange:
      return EtcdError(.invalidArgument, "\(what) was refused by etcd at \(endpoint): \(server)")
    case .failedPrecondition, .resourceExhausted:
      return EtcdError(.failedPrecondition, "\(what) was refused by etcd at \(endpoint): \(server)")
    case .permissionDenied, .unauthenticated:
      return EtcdError(
        .permissionDenied, "\(what) was refused by etcd at \(endpoint) (authentication is not supported): \(server)")
    case .cancelled:
      return EtcdError(.cancelled, "\(what) was cancelled")
    default:
      return EtcdError(.internalError, "\(what) failed at etcd \(endpoint)", cause: rpc)
    }
  }
}
