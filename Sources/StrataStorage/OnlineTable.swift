internal import Synchronization

/// An in-memory copy of the online keyspace: online key bytes -> online value bytes, exactly what the
/// engine's `.online` keyspace holds. `LocalShard` loads it at start and updates it after every write
/// that reaches the engine, so online lookups (and the read-compare-replace of a write) never touch
/// storage.
///
/// Layout, for memory: 16 shards by key hash, each an append-only byte arena of entries
/// (`keyLength:u16 key valueLength:u32 value`) and a dictionary from a 64-bit key hash to the offset
/// of the key's newest entry. Keys whose hash collides with another key's live in a small overflow
/// dictionary keyed by the full key bytes, so answers are exact whatever the hash. Replaced and removed
/// entries become garbage; a shard's arena is compacted when its garbage exceeds half of it (and
/// `compactionMinimumBytes`). About 40 bytes of overhead per key beyond the key and value bytes.
///
/// Readers and the writer take each shard's lock once per batch of keys (`get([...])`, `put([...])`).
/// A shard lock is only ever held for work proportional to the keys of the batch: whatever takes
/// time in proportion to the whole shard (growing the arena or the hash slots, compacting) is done
/// by the writer on a copy, outside the lock, and swapped in. Writers are serialized by their own
/// lock, so nothing changes a shard between the copy and the swap; readers read the old state
/// meanwhile. (A compaction rewrites a shard's whole arena and rebuilds its slots, and growing an
/// array copies it: done under the lock, every lookup of that shard would wait for it.)
final class OnlineTable: Sendable {
  fileprivate struct Shard {
    var slots: [UInt64: Int] = [:]
    var overflow: [[UInt8]: Int] = [:]
    var arena: [UInt8] = []
    var garbage = 0
  }

  /// A shard behind its lock (a `Mutex` cannot be an array element itself).
  private final class Locked: Sendable {
    let state = Mutex(Shard())
    func withLock<R>(_ body: (inout Shard) -> R) -> R { state.withLock { body(&$0) } }

    /// Makes sure `bytes` more arena bytes and `keys` more slots fit without reallocating, growing
    /// copies outside the lock. Only the writer may call this (under `OnlineTable.writer`).
    func makeRoom(bytes: Int, keys: Int) {
      let (arena, slots) = withLock { s -> ([UInt8]?, [UInt64: Int]?) in
        (s.arena.count + bytes > s.arena.capacity ? s.arena : nil, s.slots.count + keys > s.slots.capacity ? s.slots : nil)
      }
      if var arena {
        // Copied here, not by `append` under the lock.
        var grown: [UInt8] = []
        grown.reserveCapacity(Swift.max(arena.capacity * 2, arena.count + bytes, 1 << 16))
        grown.append(contentsOf: arena)
        withLock { swap(&$0.arena, &grown) }
        arena = []
      }
      if var slots {
        slots.reserveCapacity(Swift.max(slots.capacity * 2, slots.count + keys))
        withLock { swap(&$0.slots, &slots) }
      }
    }

    /// Compacts a copy of the shard outside the lock, then swaps it in. Writer only.
    func compact() {
      var fresh = withLock { $0 }.compacted()
      withLock { swap(&$0, &fresh) }
    }
  }

  private static let shardCount = 16
  private let shards: [Locked]
  /// Held by `put` for its whole duration: one writer at a time.
  private let writer = Mutex(())
  private let hash: @Sendable ([UInt8]) -> UInt64
  private let compactionMinimumBytes: Int

  /// - Parameters:
  ///   - hash: the key hash (tests pass a weak one to force collisions).
  ///   - compactionMinimumBytes: a shard's garbage is never compacted below this.
  init(hash: @escaping @Sendable ([UInt8]) -> UInt64 = OnlineTable.keyHash, compactionMinimumBytes: Int = 1 << 20) {
    self.shards = (0..<Self.shardCount).map { _ in Locked() }
    self.hash = hash
    self.compactionMinimumBytes = compactionMinimumBytes
  }

  /// The hash of an online key (`KeyCodec.onlineKey`): its leading entity token (already a 64-bit hash
  /// of the id) mixed with its trailing group version. Other byte strings are hashed with FNV-1a.
  static let keyHash: @Sendable ([UInt8]) -> UInt64 = { key in
    guard key.count >= 14 else {
      var h: UInt64 = 0xcbf2_9ce4_8422_2325
      for b in key { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
      return h
    }
    var token: UInt64 = 0
    for i in 0..<8 { token = token << 8 | UInt64(key[i]) }
    var version: UInt64 = 0
    for i in (key.count - 4)..<key.count { version = version << 8 | UInt64(key[i]) }
    return token ^ (version &* 0x9e37_79b9_7f4a_7c15)
  }

  /// The value stored under `key`, or nil.
  func get(_ key: [UInt8]) -> [UInt8]? {
    get([key])[0]
  }

  /// The value stored under each key (nil where none), in `keys` order. Each shard's lock is taken
  /// once for all of its keys.
  func get(_ keys: [[UInt8]]) -> [[UInt8]?] {
    var values = [[UInt8]?](repeating: nil, count: keys.count)
    let hashes = keys.map(hash)
    for (shard, indexes) in byShard(hashes) {
      shards[shard].withLock { s in
        for i in indexes {
          if let offset = s.find(keys[i], hash: hashes[i]) { values[i] = s.value(at: offset) }
        }
      }
    }
    return values
  }

  /// Stores `value` under `key`, replacing any value.
  func put(_ key: [UInt8], _ value: [UInt8]) {
    put([(key, value)])
  }

  /// Stores every entry, replacing any values (a key given twice keeps its last value). Each shard's
  /// lock is taken once for all of its entries (plus briefly to swap in a grown or compacted shard).
  func put(_ entries: [(key: [UInt8], value: [UInt8])]) {
    let hashes = entries.map { entry in
      precondition(entry.key.count <= Int(UInt16.max), "online key too long")
      return hash(entry.key)
    }
    writer.withLock { _ in
      for (shard, indexes) in byShard(hashes) {
        let locked = shards[shard]
        let bytes = indexes.reduce(0) { $0 + 6 + entries[$1].key.count + entries[$1].value.count }
        locked.makeRoom(bytes: bytes, keys: indexes.count)
        let compact = locked.withLock { s in
          for i in indexes {
            let (key, h) = (entries[i].key, hashes[i])
            let offset = s.append(key, entries[i].value)
            if let old = s.slots[h] {
              if s.keyEquals(at: old, key) {
                s.garbage += s.entrySize(at: old)
                s.slots[h] = offset
              } else {
                if let previous = s.overflow[key] { s.garbage += s.entrySize(at: previous) }
                s.overflow[key] = offset
              }
            } else {
              // A removal may have freed this slot while the key itself lives in the overflow (it
              // collided with the slot's former key): a key lives in one place only.
              if !s.overflow.isEmpty, let previous = s.overflow.removeValue(forKey: key) { s.garbage += s.entrySize(at: previous) }
              s.slots[h] = offset
            }
          }
          return s.garbage > compactionMinimumBytes && s.garbage * 2 > s.arena.count
        }
        if compact { locked.compact() }
      }
    }
  }

  /// Removes every key given (keys not stored, or given twice, are ignored) and returns how many were
  /// stored. Each shard's lock is taken once for all of its keys; a shard whose garbage then exceeds
  /// half of its arena (and `compactionMinimumBytes`) is compacted outside the lock, as after `put`.
  @discardableResult
  func remove(_ keys: [[UInt8]]) -> Int {
    let hashes = keys.map(hash)
    return writer.withLock { _ in
      var removed = 0
      for (shard, indexes) in byShard(hashes) {
        let locked = shards[shard]
        let compact = locked.withLock { s in
          for i in indexes where s.remove(keys[i], hash: hashes[i]) { removed += 1 }
          return s.garbage > compactionMinimumBytes && s.garbage * 2 > s.arena.count
        }
        if compact { locked.compact() }
      }
      return removed
    }
  }

  /// Indexes of `hashes` grouped by shard, in order within each shard.
  private func byShard(_ hashes: [UInt64]) -> [(shard: Int, indexes: [Int])] {
    if hashes.count == 1 { return [(Int(hashes[0] % UInt64(Self.shardCount)), [0])] }
    var groups = [[Int]](repeating: [], count: Self.shardCount)
    for (i, h) in hashes.enumerated() { groups[Int(h % UInt64(Self.shardCount))].append(i) }
    return groups.enumerated().compactMap { $0.element.isEmpty ? nil : ($0.offset, $0.element) }
  }

  /// Keys stored.
  var count: Int {
    shards.reduce(0) { total, shard in total + shard.withLock { $0.slots.count + $0.overflow.count } }
  }

  /// Bytes held by the arenas (live entries and garbage), without dictionary overhead.
  var arenaBytes: Int {
    shards.reduce(0) { total, shard in total + shard.withLock { $0.arena.count } }
  }
}

extension OnlineTable.Shard {
  /// The offset of `key`'s newest entry.
  func find(_ key: [UInt8], hash: UInt64) -> Int? {
    if let offset = slots[hash], keyEquals(at: offset, key) { return offset }
    return overflow.isEmpty ? nil : overflow[key]
  }

  /// Removes `key`'s entry (its bytes become garbage); false if there is none. A key lives either in
  /// the slot of its hash or in the overflow, never in both (see `OnlineTable.put`).
  mutating func remove(_ key: [UInt8], hash: UInt64) -> Bool {
    if let offset = slots[hash], keyEquals(at: offset, key) {
      garbage += entrySize(at: offset)
      slots[hash] = nil
      return true
    }
    guard !overflow.isEmpty, let offset = overflow.removeValue(forKey: key) else { return false }
    garbage += entrySize(at: offset)
    return true
  }

  mutating func append(_ key: [UInt8], _ value: [UInt8]) -> Int {
    let offset = arena.count
    arena.append(UInt8(truncatingIfNeeded: key.count >> 8))
    arena.append(UInt8(truncatingIfNeeded: key.count))
    arena.append(contentsOf: key)
    let n = UInt32(value.count)
    arena.append(UInt8(truncatingIfNeeded: n >> 24))
    arena.append(UInt8(truncatingIfNeeded: n >> 16))
    arena.append(UInt8(truncatingIfNeeded: n >> 8))
    arena.append(UInt8(truncatingIfNeeded: n))
    arena.append(contentsOf: value)
    return offset
  }

  private func keyLength(at offset: Int) -> Int {
    Int(arena[offset]) << 8 | Int(arena[offset + 1])
  }

  private func valueLength(at offset: Int) -> Int {
    let v = offset + 2 + keyLength(at: offset)
    return Int(arena[v]) << 24 | Int(arena[v + 1]) << 16 | Int(arena[v + 2]) << 8 | Int(arena[v + 3])
  }

  func keyEquals(at offset: Int, _ key: [UInt8]) -> Bool {
    guard keyLength(at: offset) == key.count else { return false }
    return arena.withUnsafeBufferPointer { a in
      key.withUnsafeBufferPointer { k in
        k.isEmpty || memcmpEqual(a.baseAddress! + offset + 2, k.baseAddress!, k.count)
      }
    }
  }

  func key(at offset: Int) -> [UInt8] {
    Array(arena[(offset + 2)..<(offset + 2 + keyLength(at: offset))])
  }

  func value(at offset: Int) -> [UInt8] {
    let start = offset + 2 + keyLength(at: offset) + 4
    return Array(arena[start..<(start + valueLength(at: offset))])
  }

  func entrySize(at offset: Int) -> Int {
    2 + keyLength(at: offset) + 4 + valueLength(at: offset)
  }

  /// The shard with the live entries only (with a quarter more room, so that the next writes do not
  /// have to grow it at once).
  func compacted() -> Self {
    var fresh = Self()
    let live = arena.count - garbage
    fresh.arena.reserveCapacity(live + live / 4)
    fresh.slots.reserveCapacity(slots.count + slots.count / 4)
    for (h, offset) in slots { fresh.slots[h] = fresh.append(key(at: offset), value(at: offset)) }
    for (k, offset) in overflow { fresh.overflow[k] = fresh.append(k, value(at: offset)) }
    return fresh
  }
}

/// Byte equality of two buffers of `count` bytes.
private func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
  var i = 0
  while i < count {
    if a[i] != b[i] { return false }
    i += 1
  }
  return true
}
