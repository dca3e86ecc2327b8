/// The answer to `EtcdClient.transaction`.
public struct EtcdTransactionResult: Hashable, Sendable {
  /// The answer to one operation, in the order of the branch that ran.
  public enum Response: Hashable, Sendable {
    /// A put was applied.
    case put
    /// A delete removed `deleted` keys.
    case delete(deleted: Int64)
    /// A get's keys (its `revision` is the transaction's).
    case get(EtcdRangeResult)
  }

  /// Whether every comparison held, so the `then` branch ran (else the `else` branch ran).
  public var succeeded: Bool
  /// The store revision after the transaction: the revision of its writes if the branch that ran wrote
  /// anything, else the revision it read at.
  public var revision: Int64
  /// One response per operation of the branch that ran, in order.
  public var responses: [Response]

  public init(succeeded: Bool, revision: Int64, responses: [Response]) {
    self.succeeded = succeeded
    self.revision = revision
    self.responses = responses
  }
}
