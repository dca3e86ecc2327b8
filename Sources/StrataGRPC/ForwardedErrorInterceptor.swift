public import GRPCCore

/// Cleans the errors a node answers with: an `RPCError` a node received from a peer (the registry
/// leader's refusal, an owner's failure) carries the metadata of that peer's answer (its trailers), and
/// sent back as it is, those trailers broke the client's stream (it saw UNAVAILABLE "Stream removed"
/// instead of the refusal). Every error leaves with its code and message, and of its metadata only the
/// status details (`grpc-status-details-bin`, where `NodeFailure` names the node that failed).
public struct ForwardedErrorInterceptor: ServerInterceptor {
  public init() {}

  /// `error` with only the metadata a client should get.
  public static func cleaned(_ error: RPCError) -> RPCError {
    var kept = Metadata()
    kept.add(contentsOf: error.metadata.filter { $0.key.lowercased() == "grpc-status-details-bin" })
    return RPCError(code: error.code, message: error.message, metadata: kept)
  }

  public func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    let response: StreamingServerResponse<Output>
    do {
      response = try await next(request, context)
    } catch let error as RPCError {
      throw Self.cleaned(error)
    }
    switch response.accepted {
    case .failure(let error):
      return StreamingServerResponse(error: Self.cleaned(error))
    case .success(var contents):
      let producer = contents.producer
      contents.producer = { writer in
        do {
          return try await producer(writer)
        } catch let error as RPCError {
          throw Self.cleaned(error)
        }
      }
      return StreamingServerResponse(accepted: .success(contents))
    }
  }
}
