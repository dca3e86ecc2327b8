public import StrataEtcd

/// The etcd operations that membership changes use (`MembershipDriver`, `MembershipChanges`,
/// `EtcdMembership`, `EtcdLayoutFollower`), with etcd's semantics: linearizable reads, one revision per
/// write or transaction, keys attached to a lease deleted when it expires. `EtcdClient` is the real
/// one; tests run the same code against an in-memory model on a virtual clock
/// (`Tests/StrataMetadataTests/Simulation`).
///
/// The requirements have `EtcdClient`'s signatures (see there for the details); the shorthands with
/// defaults are in the extension.
public protocol MetadataStore: Sendable {
  /// The keys in `range` as of `revision` (0: the latest), at most `limit` (0: no limit).
  func get(_ range: EtcdKeyRange, revision: Int64, limit: Int64) async throws(EtcdError) -> EtcdRangeResult
  /// Sets `key`, attached to `lease` if given; the revision of the write.
  func put(_ key: String, _ value: [UInt8], lease: Int64?) async throws(EtcdError) -> Int64
  /// Runs `success` if every comparison holds, else `failure`; all at one revision.
  func transaction(if compares: [EtcdCompare], then success: [EtcdOperation], else failure: [EtcdOperation])
    async throws(EtcdError) -> EtcdTransactionResult
  /// A lease of `ttl` that nobody keeps alive: keys attached to it go when it runs out.
  func grantLease(ttl: Duration) async throws(EtcdError) -> EtcdLease
  /// Runs `body` with a lease of `ttl` kept alive; throws the keep-alive's error when the lease is lost
  /// first (`body` is then cancelled).
  func withLease(ttl: Duration, _ body: @escaping @Sendable (EtcdLease) async throws -> Void) async throws
  /// Runs `body` with the changes to `range` from `startRevision` on, in revision order, each once.
  func watch<Result: Sendable>(
    _ range: EtcdKeyRange, fromRevision startRevision: Int64, _ body: (EtcdWatchEvents) async throws -> Result
  ) async throws -> Result
}

extension EtcdClient: MetadataStore {}

extension MetadataStore {
  /// One key, latest revision; nil if it does not exist.
  func get(_ key: String) async throws(EtcdError) -> EtcdKeyValue? {
    try await get(.key(key), revision: 0, limit: 0).first
  }

  /// Every key in `range`, latest revision.
  func get(_ range: EtcdKeyRange) async throws(EtcdError) -> EtcdRangeResult {
    try await get(range, revision: 0, limit: 0)
  }

  /// `put` with a UTF-8 string value.
  @discardableResult
  func put(_ key: String, _ value: String, lease: Int64? = nil) async throws(EtcdError) -> Int64 {
    try await put(key, Array(value.utf8), lease: lease)
  }

  /// A transaction without an `else` branch.
  func transaction(if compares: [EtcdCompare], then success: [EtcdOperation]) async throws(EtcdError)
    -> EtcdTransactionResult
  {
    try await transaction(if: compares, then: success, else: [])
  }
}
