public import GRPCCore

/// The deadline of the client call a coordinator is serving, so that internode calls made on its
/// behalf end when the client stops waiting, not at the (longer) internode call timeout.
///
/// Set by `CallerDeadlineInterceptor` from the `grpc-timeout` header the client sent, for the
/// duration of the handler. Child tasks (the fan-out's task group) inherit it. Unary and
/// client-streaming methods run inside the interceptor, so they see it; the body of a server- or
/// bidi-streaming method runs after the interceptor returns and does not (exports end through
/// cancellation instead: `cancelledWithRPC`).
public enum CallerDeadline {
  @TaskLocal public static var current: ContinuousClock.Instant?

  /// Time left until the caller's deadline (negative once it passed), or nil without a deadline.
  public static var remaining: Duration? {
    current.map { $0 - .now }
  }

  /// True when the caller's deadline exists and has passed.
  public static var hasPassed: Bool {
    guard let current else { return false }
    return current <= .now
  }

  /// Parses a `grpc-timeout` header value: 1 to 8 ASCII digits and a unit, one of H (hours),
  /// M (minutes), S (seconds), m (milliseconds), u (microseconds), n (nanoseconds). Nil for anything
  /// else (gRPC's wire format; a malformed value is ignored rather than failing the call).
  public static func parseTimeout(_ value: some StringProtocol) -> Duration? {
    guard let unit = value.last, value.count >= 2, value.count <= 9 else { return nil }
    let digits = value.dropLast()
    guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), let amount = Int64(digits) else { return nil }
    switch unit {
    case "H": return .seconds(amount * 3600)
    case "M": return .seconds(amount * 60)
    case "S": return .seconds(amount)
    case "m": return .milliseconds(amount)
    case "u": return .microseconds(amount)
    case "n": return .nanoseconds(amount)
    default: return nil
    }
  }
}

/// Reads the client's `grpc-timeout` and runs the handler with `CallerDeadline.current` set to the
/// instant the call will be cancelled. Applied to the public `FeatureStore` service of a cluster node.
public struct CallerDeadlineInterceptor: ServerInterceptor {
  public init() {}

  public func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    guard let header = request.metadata[stringValues: "grpc-timeout"].first(where: { _ in true }),
      let timeout = CallerDeadline.parseTimeout(header)
    else {
      return try await next(request, context)
    }
    return try await CallerDeadline.$current.withValue(.now + timeout) {
      try await next(request, context)
    }
  }
}
