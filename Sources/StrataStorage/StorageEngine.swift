/// The separate ordered key spaces of a store (RocksDB column families; separate maps in memory).
public enum Keyspace: Int, CaseIterable, Sendable {
  /// Registry entries, the write sequence high-water mark and per-group write statistics.
  case catalog
  /// The latest row per (entity, group version). Key: `KeyCodec.onlineKey`.
  case online
  /// Every row ever written, append-only except for the cleanup of token ranges a node no longer
  /// replicates (`LocalShard.removeEntities`). Key: `KeyCodec.historyKey`.
  case history
  /// Writes a coordinator keeps for replicas that did not acknowledge them, until they do.
  /// Key: `HintStore` (node id, sequence). Added after the first three: a RocksDB directory created
  /// without it gets the column family when it is next opened.
  case hints
  /// The partial aggregates of streams' events per tile (`StreamTiles`): derived from the history
  /// rows of streams, updated in the same write batch, never copied between nodes.
  /// Key: `KeyCodec.tileKey`. Added after `hints`, like it.
  case tiles

  public var name: String {
    switch self {
    case .catalog: "catalog"
    case .online: "online"
    case .history: "history"
    case .hints: "hints"
    case .tiles: "tiles"
    }
  }
}

/// An ordered byte-key/byte-value store with atomic multi-key writes: the only thing Strata needs from
/// a storage engine. `RocksDBEngine` is the durable implementation, `InMemoryEngine` the twin used by
/// tests; `StorageEngineConformance` (tests) runs the same suite against both.
///
/// Keys compare as unsigned bytes, lexicographically (shorter prefix first). All calls are synchronous
/// and may block on disk: callers keep long work off Swift's cooperative pool (see `BlockingExecutor`).
/// Errors are always `StrataError`.
public protocol StorageEngine: Sendable {
  /// "rocksdb" or "memory".
  var name: String { get }

  /// The value stored under `key`, or nil.
  func get(_ key: [UInt8], in keyspace: Keyspace) throws -> [UInt8]?

  /// `get` for many keys at once, answers in `keys` order.
  func multiGet(_ keys: [[UInt8]], in keyspace: Keyspace) throws -> [[UInt8]?]

  /// Applies every operation of `batch` atomically, in order. When this returns, the batch survives a
  /// crash of the process (and of the machine, if the engine was opened with synchronous writes).
  func write(_ batch: WriteBatch) throws

  /// A cursor over a consistent snapshot of `keyspace` taken now. Not thread-safe: use it from one
  /// thread at a time and drop it when done.
  func makeCursor(in keyspace: Keyspace) throws -> any StorageCursor

  /// Cursors over one consistent snapshot of `keyspaces` taken now, in that order: an atomic write
  /// is visible through all of them or through none (two `makeCursor` calls may fall either side of
  /// a write).
  func makeCursors(in keyspaces: [Keyspace]) throws -> [any StorageCursor]
}

/// An iterator positioned on one entry of a snapshot, or invalid.
public protocol StorageCursor: AnyObject {
  /// Positions on the first entry with key >= `key`.
  func seek(_ key: [UInt8])
  /// Positions on the last entry with key <= `key`.
  func seekForPrev(_ key: [UInt8])
  /// Moves to the next entry in key order.
  func next()
  /// Moves to the previous entry in key order (only when `isValid`).
  func prev()
  var isValid: Bool { get }
  /// The current key; only when `isValid`.
  var key: [UInt8] { get }
  /// The current value; only when `isValid`.
  var value: [UInt8] { get }
  /// Calls `body` with the current key's bytes, without copying them; the buffer is valid only
  /// during the call. Only when `isValid`.
  func withKey<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
  /// Calls `body` with the current value's bytes, without copying them (valid only during the call).
  func withValue<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
  /// Throws if the cursor became invalid because of an I/O error or corruption rather than by running
  /// off either end. Call it after a seek or scan found nothing, before trusting "no entry".
  func checkStatus() throws
}

/// An ordered list of puts and deletes applied atomically by `StorageEngine.write`.
public struct WriteBatch: Sendable {
  public enum Operation: Sendable, Equatable {
    case put(Keyspace, key: [UInt8], value: [UInt8])
    case delete(Keyspace, key: [UInt8])
  }

  public private(set) var operations: [Operation] = []

  public init() {}

  public mutating func put(_ key: [UInt8], _ value: [UInt8], in keyspace: Keyspace) {
    operations.append(.put(keyspace, key: key, value: value))
  }

  public mutating func delete(_ key: [UInt8], in keyspace: Keyspace) {
    operations.append(.delete(keyspace, key: key))
  }

  public var isEmpty: Bool { operations.isEmpty }
  public var count: Int { operations.count }
}

extension StorageCursor {
  /// The entry with the greatest key that is <= `key` and starts with `prefix`, or nil. One seek.
  public func lastEntry(atOrBefore key: [UInt8], prefix: [UInt8]) -> (key: [UInt8], value: [UInt8])? {
    seekForPrev(key)
    guard isValid else { return nil }
    let k = self.key
    guard k.starts(with: prefix) else { return nil }
    return (k, value)
  }
}
