public import StrataCore
internal import Synchronization

/// Where the node that coordinates a keyed event batch records its idempotency key
/// (`IdempotencyClaim`): the stamp (created time, write ids) its first attempt was given, and the
/// answer once it was acknowledged.
///
/// - On one node, and in a cluster whose metadata is a cluster file: the coordinating node's own
///   catalog (`StoreIdempotencyKeys`), so a retry must come back to the node that took the first
///   attempt.
/// - In a cluster whose metadata is in etcd: etcd (`EtcdIdempotencyKeys` in StrataMetadata), so a retry
///   sent to any node gets the first attempt's stamp and is stored once.
///
/// Semantics every implementation keeps: a key over `IdempotencyLedger.maxKeyBytes` is INVALID_ARGUMENT;
/// a key recorded with another content digest or row count is FAILED_PRECONDITION; a key being applied
/// by another call of this node is UNAVAILABLE; `claim` of a key applied before answers `.applied`
/// with its counts, of a key claimed before but not acknowledged `.apply` with the same stamp. A caller
/// that got `.apply` calls `complete` once the batch is acknowledged or `release` when it failed.
public protocol IdempotencyKeys: Sendable {
  func claim(key: String, digest: UInt64, count: Int) async throws -> IdempotencyClaim
  func complete(key: String, eventsWritten: UInt64, lateEvents: UInt64) async throws
  func release(key: String)
}

/// `IdempotencyKeys` in a node's own catalog (`FeatureStore.idempotency`).
public struct StoreIdempotencyKeys: IdempotencyKeys {
  let store: FeatureStore

  public init(store: FeatureStore) {
    self.store = store
  }

  public func claim(key: String, digest: UInt64, count: Int) async throws -> IdempotencyClaim {
    try await store.claimIdempotencyKey(key, digest: digest, count: count)
  }

  public func complete(key: String, eventsWritten: UInt64, lateEvents: UInt64) async throws {
    try await store.completeIdempotencyKey(key, eventsWritten: eventsWritten, lateEvents: lateEvents)
  }

  public func release(key: String) {
    store.idempotency.release(key: key)
  }
}

/// The idempotency keys this node's calls are applying now: a key is taken by one call at a time.
public final class IdempotencyKeysInFlight: Sendable {
  private let keys = Mutex<Set<String>>([])

  public init() {}

  /// Takes `key` for the calling call. INVALID_ARGUMENT for a key over
  /// `IdempotencyLedger.maxKeyBytes`; UNAVAILABLE while another call holds it.
  public func take(_ key: String) throws(StrataError) {
    guard key.utf8.count <= IdempotencyLedger.maxKeyBytes else {
      throw .invalidArgument("idempotency key is \(key.utf8.count) bytes; the limit is \(IdempotencyLedger.maxKeyBytes)")
    }
    guard keys.withLock({ $0.insert(key).inserted }) else {
      throw .unavailable(
        "a batch with idempotency key '\(key.prefix(64))' is being applied right now by another call; retry once that call answers")
    }
  }

  /// Gives `key` back.
  public func release(_ key: String) {
    keys.withLock { _ = $0.remove(key) }
  }

  /// The keys held now.
  public var held: Set<String> { keys.withLock { $0 } }
}
