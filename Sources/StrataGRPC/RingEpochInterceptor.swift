public import GRPCCore
internal import StrataProto

/// Refuses internode calls made with a ring epoch this node does not accept (`EpochWindow`: its own,
/// and during a membership change the change's other epoch): FAILED_PRECONDITION naming both, so a
/// caller with a stale (or newer) view of the ring never gets an answer computed for entities this node
/// may not hold. Applied to the `Shard` service only; client calls never carry an epoch. An accepted
/// call of a method that writes (`counted`) is in progress at its epoch until it ended
/// (`EpochWindow.enter`, `leave`, `drain`).
public struct RingEpochInterceptor: ServerInterceptor {
  public let window: EpochWindow
  /// The metadata header every internode call carries: the caller's ring epoch, in decimal.
  public static let header = "strata-ring-epoch"

  /// The methods whose calls count as in progress at their epoch (`EpochWindow.drain`): those that
  /// write to this node, all unary (their writes are done when the handler returns). Long-lived read
  /// streams (lookup streams) stay open across a membership change and would keep a drain waiting.
  public let counted: Set<MethodDescriptor>

  /// The internode methods that write rows to the node they call (writes, hints, repair pushes).
  public static let writingMethods: Set<MethodDescriptor> = [Strata_V1_Shard.Method.WriteBatch.descriptor]

  public init(window: EpochWindow, counting counted: Set<MethodDescriptor> = RingEpochInterceptor.writingMethods) {
    self.window = window
    self.counted = counted
  }

  public init(epoch: UInt64) {
    self.init(window: EpochWindow(epoch: epoch))
  }

  public func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    let sent = request.metadata[stringValues: RingEpochInterceptor.header].first(where: { _ in true })
    guard let sent, let theirs = UInt64(sent) else {
      return StreamingServerResponse(
        error: RPCError(code: .failedPrecondition, message: "internode call without a ring epoch (header \(RingEpochInterceptor.header)); this node is at \(window.description)"))
    }
    // A writing call is in progress (`EpochWindow.drain`) until its handler returned: the counted
    // methods are unary, so their writes are done by then. (Waiting for the response's producer too
    // would count forever a call whose caller vanished before the answer was sent: it never runs.)
    let counts = counted.contains(context.descriptor)
    guard counts ? window.enter(theirs) : window.accepts(theirs) else {
      return StreamingServerResponse(error: Self.mismatch(caller: theirs, node: window))
    }
    defer { if counts { window.leave(theirs) } }
    return try await next(request, context)
  }

  /// FAILED_PRECONDITION for a call made at epoch `caller` to a node at epoch `node`.
  static func mismatch(caller: UInt64, node: EpochWindow) -> RPCError {
    RPCError(
      code: .failedPrecondition,
      message: "ring epoch mismatch: the caller is at epoch \(caller), this node at \(node.description); the two disagree on the cluster's membership (restart the nodes with the same cluster file, or let a membership change finish)")
  }
}
