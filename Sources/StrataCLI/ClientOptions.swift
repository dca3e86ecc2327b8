internal import ArgumentParser
internal import Foundation
internal import GRPCCore
internal import GRPCNIOTransportHTTP2
internal import StrataCore
internal import StrataGRPC
internal import StrataProto

/// `--server host:port` for every command that talks to a node.
struct ClientOptions: ParsableArguments {
  @Option(
    name: .long,
    help: ArgumentHelp(
      "The node to talk to, host:port. Defaults to $STRATA_SERVER or 127.0.0.1:\(7400).", valueName: "host:port"))
  var server: String?

  var address: (host: String, port: Int) {
    get throws {
      let text = server ?? ProcessInfo.processInfo.environment["STRATA_SERVER"] ?? "127.0.0.1:7400"
      guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
        (1...65_535).contains(port), colon != text.startIndex
      else {
        throw ValidationError("--server must look like host:port (e.g. 127.0.0.1:7400), got '\(text)'")
      }
      return (String(text[..<colon]), port)
    }
  }

  /// Every method: messages up to 64 MiB in both directions (a lookup of thousands of entities with
  /// many features exceeds gRPC's 4 MiB default; the node's own request limit still applies).
  static let serviceConfig = ServiceConfig(methodConfig: [
    MethodConfig(names: [MethodConfig.Name(service: "")], maxRequestMessageBytes: 64 << 20, maxResponseMessageBytes: 64 << 20)
  ])

  /// Runs `body` with a client connected to the node; RPC failures become `CLIError`s that say which
  /// status came back and what to do.
  func withFeatureStore<T: Sendable>(
    _ body: @Sendable @escaping (Strata_V1_FeatureStore.Client<HTTP2ClientTransport.Posix>) async throws -> T
  ) async throws -> T {
    let (host, port) = try address
    do {
      return try await withGRPCClient(
        transport: .http2NIOPosix(
          target: .dns(host: host, port: port),
          transportSecurity: .plaintext,
          config: .defaults {
            $0.connection.flushCoalescing = nil
            // Joined batches are ~1 MiB messages: bigger frames, fewer of them (the window is 8 MiB).
            $0.http2.maxFrameSize = 1 << 20
          },
          serviceConfig: Self.serviceConfig)
      ) { client in
        try await body(Strata_V1_FeatureStore.Client(wrapping: client))
      }
    } catch let error as RPCError {
      throw CLIError(rpc: error, server: "\(host):\(port)")
    }
  }
}

/// An error printed by the CLI as `Error: <description>` with a non-zero exit status.
struct CLIError: Error, CustomStringConvertible {
  var description: String

  init(_ description: String) {
    self.description = description
  }

  init(rpc error: RPCError, server: String) {
    switch error.code {
    case .unavailable where NodeFailure.details(of: error) != nil:
      // The node answered; one of the cluster nodes it needed did not (the error's details name it).
      description = "UNAVAILABLE: \(error.message) (answered by \(server))"
    case .unavailable:
      description = "cannot reach a strata node at \(server) (is `strata serve` running there?): \(error.message)"
    default:
      description = "\(Self.name(of: error.code)): \(error.message)"
    }
  }

  init(_ error: StrataError) {
    description = error.description
  }

  static func name(of code: RPCError.Code) -> String {
    switch code {
    case .invalidArgument: "INVALID_ARGUMENT"
    case .notFound: "NOT_FOUND"
    case .failedPrecondition: "FAILED_PRECONDITION"
    case .resourceExhausted: "RESOURCE_EXHAUSTED"
    case .alreadyExists: "ALREADY_EXISTS"
    case .unavailable: "UNAVAILABLE"
    case .deadlineExceeded: "DEADLINE_EXCEEDED"
    case .cancelled: "CANCELLED"
    case .unimplemented: "UNIMPLEMENTED"
    default: "INTERNAL"
    }
  }
}
