/// Sends one hint's payload to the replica it is for: the replayer's only way to reach a peer (the
/// gRPC implementation sends it as an internode write).
///
/// Returning means the replica acknowledged the payload (stored it durably); throwing means it may
/// not have. Re-delivering a payload the replica already has must be harmless (rows carry write ids).
/// Implementations bound the call with their own timeout and honour task cancellation: the replayer
/// waits for every call it started before `run()` returns.
public protocol HintDelivery: Sendable {
  func deliver(_ payload: [UInt8], to node: String) async throws
}
