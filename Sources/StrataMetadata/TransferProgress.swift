/// How one node's transfer of the token ranges it gains in a membership change goes, as the node
/// records it under `change-progress/<node>` (JSON) for `strata cluster status`.
public struct TransferProgress: Codable, Sendable, Equatable {
  /// `MembershipChange.toEpoch` of the change.
  public var toEpoch: UInt64
  public var target: String
  /// The fraction of the token space the target gains.
  public var tokenShare: Double
  public var sources: [String]
  public var sourcesDone: [String] = []
  /// (bucket, group version) pairs merged so far, and in all (summed over the sources compared).
  public var bucketsDone: UInt64 = 0
  public var bucketsTotal: UInt64 = 0
  public var rowsReceived: UInt64 = 0
  public var bytesReceived: UInt64 = 0
  public var startedAtMicros: Int64
  public var updatedAtMicros: Int64
  public var done = false
  /// The last failure (a source that did not answer), retried.
  public var error: String?

  public init(toEpoch: UInt64, target: String, tokenShare: Double, sources: [String], startedAtMicros: Int64) {
    self.toEpoch = toEpoch
    self.target = target
    self.tokenShare = tokenShare
    self.sources = sources
    self.startedAtMicros = startedAtMicros
    self.updatedAtMicros = startedAtMicros
  }
}
