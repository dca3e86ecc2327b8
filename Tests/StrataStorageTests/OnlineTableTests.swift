import StrataCore
import StrataTestSupport
import Testing

@testable import StrataStorage

/// `OnlineTable`, the in-memory online keyspace: random puts and gets against a dictionary oracle,
/// with hashes that collide often and compaction after every few updates, and the table `LocalShard`
/// rebuilds from storage at start.
@Suite("OnlineTable: the in-memory online keyspace")
struct OnlineTableTests {
  @Test(
    "random single and batch puts and gets equal a dictionary, whatever the hash (exact, colliding, constant) and however often arenas compact",
    arguments: ["real", "weak", "constant"])
  func againstOracle(hashKind: String) {
    var rng = SplitMix64.forTest("OnlineTable.oracle.\(hashKind)")
    let hash: @Sendable ([UInt8]) -> UInt64 =
      switch hashKind {
      case "real": OnlineTable.keyHash
      case "weak": { UInt64($0.count % 5) }  // few distinct hashes: most keys go to the overflow
      default: { _ in 7 }
      }
    let table = OnlineTable(hash: hash, compactionMinimumBytes: 64)
    var oracle: [[UInt8]: [UInt8]] = [:]
    let keys: [[UInt8]] = (0..<300).map { i in
      // Online keys of random ids and group versions, plus a few short odd byte strings.
      i % 50 == 0 ? Array("k\(i)".utf8) : KeyCodec.onlineKey(entityID: "e\(rng.below(1_000))-\(i)", groupVersion: UInt32(rng.below(3) + 1))
    }
    for step in 0..<5_000 {
      let key = rng.element(of: keys)
      switch rng.below(6) {
      case 0, 1:
        #expect(table.get(key) == oracle[key], "step \(step); \(rng.seedDescription)")
      case 2:
        // A batch read: answers in key order, duplicates included.
        let batch = (0..<rng.below(20)).map { _ in rng.element(of: keys) }
        #expect(table.get(batch) == batch.map { oracle[$0] }, "step \(step); \(rng.seedDescription)")
      case 3:
        // A batch write, possibly naming a key twice: the last value wins.
        let batch = (0..<rng.below(20)).map { _ in
          (key: rng.element(of: keys), value: (0..<rng.below(40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        }
        table.put(batch)
        for (k, v) in batch { oracle[k] = v }
      default:
        let value = (0..<rng.below(40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        table.put(key, value)
        oracle[key] = value
      }
    }
    for key in keys { #expect(table.get(key) == oracle[key], "\(rng.seedDescription)") }
    #expect(table.count == oracle.count)
    // Compaction keeps the arenas near the live bytes (the garbage bound is half an arena).
    let live = oracle.reduce(0) { $0 + 6 + $1.key.count + $1.value.count }
    #expect(table.arenaBytes <= 2 * live + 16 * 64 * 2, "arena \(table.arenaBytes) bytes for \(live) live bytes")
  }

  @Test(
    "random puts and removals equal a dictionary, whatever the hash (exact, colliding, constant), and removed bytes are compacted away",
    arguments: ["real", "weak", "constant"])
  func removalsAgainstOracle(hashKind: String) {
    var rng = SplitMix64.forTest("OnlineTable.removals.\(hashKind)")
    let hash: @Sendable ([UInt8]) -> UInt64 =
      switch hashKind {
      case "real": OnlineTable.keyHash
      case "weak": { UInt64($0.count % 5) }
      default: { _ in 7 }
      }
    let table = OnlineTable(hash: hash, compactionMinimumBytes: 64)
    var oracle: [[UInt8]: [UInt8]] = [:]
    let keys: [[UInt8]] = (0..<200).map { KeyCodec.onlineKey(entityID: "e\(rng.below(1_000))-\($0)", groupVersion: UInt32(rng.below(3) + 1)) }
    for step in 0..<4_000 {
      switch rng.below(5) {
      case 0, 1:
        let batch = (0..<rng.below(20)).map { _ in
          (key: rng.element(of: keys), value: (0..<rng.below(40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        }
        table.put(batch)
        for (k, v) in batch { oracle[k] = v }
      case 2, 3:
        // A batch removal, possibly naming a key twice or a key not stored.
        let batch = (0..<rng.below(12)).map { _ in rng.element(of: keys) }
        let stored = Set(batch).filter { oracle[$0] != nil }.count
        #expect(table.remove(batch) == stored, "step \(step); \(rng.seedDescription)")
        for k in batch { oracle[k] = nil }
      default:
        let batch = (0..<rng.below(30)).map { _ in rng.element(of: keys) }
        #expect(table.get(batch) == batch.map { oracle[$0] }, "step \(step); \(rng.seedDescription)")
      }
    }
    #expect(table.get(keys) == keys.map { oracle[$0] }, "\(rng.seedDescription)")
    #expect(table.count == oracle.count, "\(rng.seedDescription)")
    // Removing everything leaves nothing, and compaction returns the arenas to (about) nothing.
    #expect(table.remove(keys) == oracle.count)
    #expect(table.count == 0 && table.get(keys).allSatisfy { $0 == nil })
    #expect(table.arenaBytes <= 16 * 64 * 2, "arena \(table.arenaBytes) bytes with nothing stored")
  }

  @Test("a key stored in the overflow while its slot held another key is found, replaced and removed exactly once that key is gone")
  func removalFreesACollidingSlot() {
    let table = OnlineTable(hash: { _ in 7 }, compactionMinimumBytes: 1 << 20)
    let (a, b, c) = ([UInt8]("a".utf8), [UInt8]("b".utf8), [UInt8]("c".utf8))
    table.put(a, [1])  // the slot
    table.put(b, [2])  // the overflow
    #expect(table.remove([a]) == 1)  // the slot is free, b stays in the overflow
    #expect(table.get([a, b]) == [nil, [2]])
    table.put(b, [3])  // b moves into the free slot: it must leave the overflow
    #expect(table.count == 1 && table.get(b) == [3])
    table.put(c, [4])
    #expect(table.remove([b]) == 1)
    #expect(table.get([a, b, c]) == [nil, nil, [4]], "no stale copy of b comes back")
    #expect(table.count == 1)
    #expect(table.remove([b, a]) == 0)
  }

  @Test("readers running while the writer grows and compacts shards see, for every key, a value the writer put, never older than one they saw before")
  func readersDuringCompaction() async throws {
    // Small compaction threshold and values that grow: the writer grows arenas and slots and compacts
    // shards (outside their locks) many times while readers read.
    let table = OnlineTable(compactionMinimumBytes: 256)
    let keys = (0..<400).map { KeyCodec.onlineKey(entityID: "e\($0)", groupVersion: 1) }
    /// Value of round r for key k: the key's index, the round, then padding that grows with r.
    func value(_ k: Int, _ r: Int) -> [UInt8] {
      withUnsafeBytes(of: (UInt32(k), UInt32(r))) { Array($0) } + [UInt8](repeating: UInt8(r & 0xFF), count: r % 37)
    }
    func decode(_ v: [UInt8]) -> (key: Int, round: Int)? {
      guard v.count >= 8 else { return nil }
      let k = v.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: UInt32.self) }
      let r = v.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self) }
      guard v.count == 8 + Int(r) % 37, v.dropFirst(8).allSatisfy({ $0 == UInt8(Int(r) & 0xFF) }) else { return nil }
      return (Int(k), Int(r))
    }
    let rounds = 300
    let problems = try await withThrowingTaskGroup(of: [String].self) { group in
      group.addTask {
        for r in 1...rounds {
          table.put(keys.indices.map { (keys[$0], value($0, r)) })
        }
        return []
      }
      for reader in 0..<3 {
        group.addTask {
          var seen = [Int](repeating: 0, count: keys.count)
          var problems: [String] = []
          var reads = 0
          while seen.min()! < rounds && problems.count < 5 {
            let batch = (0..<32).map { ($0 * 13 + reads * 7 + reader) % keys.count }
            let values = table.get(batch.map { keys[$0] })
            for (i, k) in batch.enumerated() {
              guard let v = values[i] else { continue }  // not written yet
              guard let (key, round) = decode(v), key == k else {
                problems.append("key \(k): a value the writer never put: \(v.prefix(16))")
                continue
              }
              if round < seen[k] { problems.append("key \(k): round \(round) after round \(seen[k])") }
              seen[k] = max(seen[k], round)
            }
            reads += 1
          }
          return problems
        }
      }
      var all: [String] = []
      for try await p in group { all += p }
      return all
    }
    #expect(problems.isEmpty, "\(problems.prefix(5))")
    #expect(table.get(keys) == keys.indices.map { value($0, rounds) })
  }

  @Test("a node's online rows come back from storage at start, and later writes replace them", arguments: EngineKind.allCases)
  func reloadedAtStart(kind: EngineKind) throws {
    try kind.withEngine { engine in
      let group = FeatureGroup(
        spec: FeatureGroupSpec(name: "g", features: [FeatureSpec(name: "x", dtype: .int)]), version: 1, status: .active,
        createdAt: .seconds(1_700_000_000), storageID: 1)
      let first = try LocalShard(engine: engine)
      let t = Timestamp.seconds(1_700_000_100)
      _ = try first.append(
        (0..<100).map { RowToStore(entityID: "u\($0)", eventTime: t, createdTime: t, values: [.int(Int64($0))]) }, to: group,
        now: t)
      let second = try LocalShard(engine: engine)
      #expect(second.online.count == 100)
      let rows = try second.onlineRows(entityIDs: ["u7", "u99", "nobody"], group: group)
      #expect(rows.map { $0?.values } == [[.int(7)], [.int(99)], nil])
      // An older row loses against the reloaded one; a newer one replaces it.
      let outcome = try second.append(
        [RowToStore(entityID: "u7", eventTime: t.adding(microseconds: -1), createdTime: t, values: [.int(-1)]),
         RowToStore(entityID: "u99", eventTime: t.adding(microseconds: 1), createdTime: t, values: [.int(-99)])],
        to: group, now: t)
      #expect(outcome.lateRows == 1)
      let after = try second.onlineRows(entityIDs: ["u7", "u99"], group: group)
      #expect(after.map { $0?.values } == [[.int(7)], [.int(-99)]])
    }
  }
}

@Suite("LocalShard.precedes: the key order of write batches")
struct KeyOrderTests {
  @Test("byte-wise order equals lexicographic order of the bytes, prefixes first")
  func againstLexicographic() {
    var rng = SplitMix64.forTest("LocalShard.precedes")
    for _ in 0..<5_000 {
      let a = (0..<(1 + rng.below(6))).map { _ in UInt8(rng.below(3) * 127) }
      let b = rng.oneIn(4) ? a + [UInt8(rng.below(256))] : (0..<(1 + rng.below(6))).map { _ in UInt8(rng.below(3) * 127) }
      #expect(LocalShard.precedes(a, b) == a.lexicographicallyPrecedes(b), "\(a) \(b); \(rng.seedDescription)")
      #expect(LocalShard.precedes(b, a) == b.lexicographicallyPrecedes(a), "\(b) \(a); \(rng.seedDescription)")
    }
  }
}
