public import GRPCCore
internal import GRPCProtobuf

/// Machine-readable details of an error that a cluster node caused: a `google.rpc.ErrorInfo` in the
/// standard `grpc-status-details-bin` trailer (a `google.rpc.Status`), so that clients tell "a node of
/// the cluster failed" from "the node I called is unreachable" without reading the message, which stays
/// free to change.
///
/// ```
/// ErrorInfo { domain: "strata.v1", reason: REASON, metadata: { "node": ID, "address": HOST:PORT } }
/// ```
/// Reasons: `NODE_UNAVAILABLE` (the node could not be reached, failed or timed out; the status is
/// UNAVAILABLE), `NODE_DEADLINE` (the caller's deadline passed while waiting for it), `NODE_ERROR` (the
/// node answered with an error of its own, whose status is passed on).
public enum NodeFailure {
  public static let domain = "strata.v1"

  public enum Reason: String, Sendable {
    case unavailable = "NODE_UNAVAILABLE"
    case deadline = "NODE_DEADLINE"
    case error = "NODE_ERROR"
  }

  /// An RPCError with `code` and `message` whose details name `node` (and its address, if known).
  public static func error(
    _ code: RPCError.Code, _ message: String, reason: Reason, node: String, address: String?
  ) -> RPCError {
    var metadata = ["node": node]
    if let address { metadata["address"] = address }
    let status = GoogleRPCStatus(
      code: code, message: message,
      details: [.errorInfo(reason: reason.rawValue, domain: domain, metadata: metadata)])
    return RPCError(code: code, message: message, metadata: status.rpcErrorMetadata)
  }

  /// The reason and node of `error`'s details, when a cluster node caused it.
  public static func details(of error: RPCError) -> (reason: Reason, node: String, address: String?)? {
    guard let status = try? error.unpackGoogleRPCStatus() else { return nil }
    for detail in status.details {
      guard let info = detail.errorInfo, info.domain == domain, let reason = Reason(rawValue: info.reason),
        let node = info.metadata["node"]
      else { continue }
      return (reason, node, info.metadata["address"])
    }
    return nil
  }
}
