internal import Synchronization

/// A `StorageEngine` kept in memory: sorted arrays per keyspace behind a mutex. Durable for the life
/// of the process only. Used by tests (and `strata serve --engine memory`); it must behave exactly like
/// `RocksDBEngine`, which the shared conformance suite checks.
public final class InMemoryEngine: StorageEngine {
  public let name = "memory"
  private let spaces: Mutex<[SortedEntries]>

  public init() {
    spaces = Mutex(Array(repeating: SortedEntries(), count: Keyspace.allCases.count))
  }

  public func get(_ key: [UInt8], in keyspace: Keyspace) throws -> [UInt8]? {
    spaces.withLock { $0[keyspace.rawValue].get(key) }
  }

  public func multiGet(_ keys: [[UInt8]], in keyspace: Keyspace) throws -> [[UInt8]?] {
    spaces.withLock { s in keys.map { s[keyspace.rawValue].get($0) } }
  }

  public func write(_ batch: WriteBatch) throws {
    spaces.withLock { s in
      for op in batch.operations {
        switch op {
        case .put(let space, let key, let value): s[space.rawValue].put(key, value)
        case .delete(let space, let key): s[space.rawValue].delete(key)
        }
      }
    }
  }

  public func makeCursor(in keyspace: Keyspace) throws -> any StorageCursor {
    // Arrays are copy-on-write: the copy taken here is the snapshot, later writes do not affect it.
    InMemoryCursor(spaces.withLock { $0[keyspace.rawValue] })
  }

  public func makeCursors(in keyspaces: [Keyspace]) throws -> [any StorageCursor] {
    spaces.withLock { s in keyspaces.map { InMemoryCursor(s[$0.rawValue]) } }
  }
}

/// Parallel sorted arrays of keys and values.
struct SortedEntries: Sendable {
  var keys: [[UInt8]] = []
  var values: [[UInt8]] = []

  /// Index of the first key >= `key`.
  func lowerBound(_ key: [UInt8]) -> Int {
    var lo = 0
    var hi = keys.count
    while lo < hi {
      let mid = (lo + hi) / 2
      if keys[mid].lexicographicallyPrecedes(key) { lo = mid + 1 } else { hi = mid }
    }
    return lo
  }

  func get(_ key: [UInt8]) -> [UInt8]? {
    let i = lowerBound(key)
    return i < keys.count && keys[i] == key ? values[i] : nil
  }

  mutating func put(_ key: [UInt8], _ value: [UInt8]) {
    let i = lowerBound(key)
    if i < keys.count && keys[i] == key {
      values[i] = value
    } else {
      keys.insert(key, at: i)
      values.insert(value, at: i)
    }
  }

  mutating func delete(_ key: [UInt8]) {
    let i = lowerBound(key)
    if i < keys.count && keys[i] == key {
      keys.remove(at: i)
      values.remove(at: i)
    }
  }
}

final class InMemoryCursor: StorageCursor {
  private let entries: SortedEntries
  private var index: Int

  init(_ entries: SortedEntries) {
    self.entries = entries
    self.index = entries.keys.count
  }

  var isValid: Bool { index >= 0 && index < entries.keys.count }
  var key: [UInt8] { entries.keys[index] }
  var value: [UInt8] { entries.values[index] }

  func seek(_ key: [UInt8]) { index = entries.lowerBound(key) }

  func withKey<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try entries.keys[index].withUnsafeBytes(body)
  }

  func withValue<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try entries.values[index].withUnsafeBytes(body)
  }

  func seekForPrev(_ key: [UInt8]) {
    let i = entries.lowerBound(key)
    index = (i < entries.keys.count && entries.keys[i] == key) ? i : i - 1
  }

  func next() { if isValid { index += 1 } }

  func prev() { if isValid { index -= 1 } }

  /// An in-memory snapshot cannot fail.
  func checkStatus() throws {}
}
