public import GRPCCore
public import StrataCore

extension StrataError {
  /// The one place where Strata's error codes become gRPC status codes.
  public var rpcCode: RPCError.Code {
    switch code {
    case .invalidArgument: .invalidArgument
    case .notFound: .notFound
    case .failedPrecondition: .failedPrecondition
    case .resourceExhausted: .resourceExhausted
    case .alreadyExists: .alreadyExists
    case .unavailable: .unavailable
    default: .internalError
    }
  }

  public var rpcError: RPCError {
    RPCError(code: rpcCode, message: description)
  }
}

/// Runs `body`, converting any thrown error into an `RPCError` with a precise code: StrataErrors by
/// their code, RPCErrors unchanged, anything else INTERNAL (with its description, never a crash).
@inlinable
func rpc<T>(_ body: () async throws -> T) async throws -> T {
  do {
    return try await body()
  } catch let error as StrataError {
    throw error.rpcError
  } catch let error as RPCError {
    throw error
  } catch is CancellationError {
    throw RPCError(code: .cancelled, message: "the call was cancelled")
  } catch {
    throw RPCError(code: .internalError, message: "internal error: \(error)")
  }
}
