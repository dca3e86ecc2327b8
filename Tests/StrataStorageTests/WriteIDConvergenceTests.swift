import StrataCore
import StrataTestSupport
import Testing

@testable import StrataStorage

/// Copies of the same rows (same write ids), delivered to different shards in different orders, split
/// into different batches and with repeats, leave identical stores: the history is a set and the online
/// row the maximum of (event, created, write id). This is what replicas, hints and repair rely on.
@Suite("Write ids: convergence of copies")
struct WriteIDConvergenceTests {
  static let group = FeatureGroup(
    spec: FeatureGroupSpec(
      name: "converge",
      features: [FeatureSpec(name: "n", dtype: .int), FeatureSpec(name: "s", dtype: .string)]),
    version: 1, status: .active, createdAt: .epoch, storageID: 1)

  /// Every (key, value) of the history and online keyspaces.
  static func contents(_ engine: any StorageEngine) throws -> [[Entry]] {
    try [Keyspace.history, .online].map { ks in scan(try engine.makeCursor(in: ks)) }
  }

  @Test("random rows with ties on (event, created), delivered in any order and repeated, converge", arguments: EngineKind.allCases)
  func converge(kind: EngineKind) throws {
    var rng = SplitMix64.forTest("WriteIDConvergence.\(kind)")
    let now = Timestamp(microseconds: 1_764_000_000_000_000)
    // Rows as a coordinator would stamp them: ids from two coordinators' clocks.
    var clocks = [WriteIDClock(slot: 1), WriteIDClock(slot: 2)]
    var rows: [RowToStore] = []
    for i in 0..<600 {
      let c = rng.below(2)
      let id = clocks[c].next(now: now.adding(microseconds: Int64(rng.below(3_000))))
      rows.append(
        RowToStore(
          entityID: "e\(rng.below(40))", eventTime: Timestamp(microseconds: Int64(rng.below(5))),
          createdTime: Timestamp(microseconds: Int64(rng.below(3))),
          values: [.int(Int64(i)), rng.oneIn(4) ? nil : .string("v\(i)")], writeID: id))
    }
    var stores: [[[Entry]]] = []
    for _ in 0..<3 {
      try kind.withEngine { engine throws in
        let shard = try LocalShard(engine: engine, writeIDSlot: 9)
        var delivery = rows + (0..<200).map { _ in rows[rng.below(rows.count)] }  // retries and hints
        delivery.shuffle(using: &rng)
        var at = 0
        while at < delivery.count {
          let n = 1 + rng.below(60)
          _ = try shard.append(Array(delivery[at..<min(at + n, delivery.count)]), to: Self.group, now: now)
          at += n
        }
        stores.append(try Self.contents(engine))
      }
    }
    #expect(stores[0][0].count == rows.count, "one history row per distinct row (seed \(SplitMix64.hex(rng.seed)))")
    #expect(stores[0] == stores[1] && stores[1] == stores[2], "copies diverged (seed \(SplitMix64.hex(rng.seed)))")
    // The online row of each entity is the maximum of (event, created, write id) among its rows.
    try kind.withEngine { engine throws in
      let shard = try LocalShard(engine: engine)
      _ = try shard.append(rows, to: Self.group, now: now)
      let entities = Set(rows.map(\.entityID)).sorted()
      let online = try shard.onlineRows(entityIDs: entities, group: Self.group)
      for (entity, stored) in zip(entities, online) {
        let best = rows.filter { $0.entityID == entity }.max {
          ($0.eventTime, $0.createdTime, $0.writeID!) < ($1.eventTime, $1.createdTime, $1.writeID!)
        }!
        #expect(stored?.sequence == best.writeID!.rawValue, "\(entity)")
        #expect(stored?.values == best.values, "\(entity)")
      }
    }
  }

  @Test("after storing a copy with a greater id, this node's own ids are greater still (also after a restart)", arguments: EngineKind.allCases)
  func clockFollowsCopies(kind: EngineKind) throws {
    try withTemporaryDirectory { path in
      let now = Timestamp(microseconds: 1_764_000_000_000_000)
      let ahead = WriteID(milliseconds: 1 << 40, slot: 5, counter: 17)  // a coordinator far ahead
      do {
        let engine = try kind.open(at: path)
        let shard = try LocalShard(engine: engine, writeIDSlot: 1)
        let copy = RowToStore(entityID: "u", eventTime: .epoch, createdTime: .epoch, values: [.int(1), nil], writeID: ahead)
        _ = try shard.append([copy], to: Self.group, now: now)
        // Equal (event, created), no id: this node assigns one, and this later write wins.
        _ = try shard.append([RowToStore(entityID: "u", eventTime: .epoch, createdTime: .epoch, values: [.int(2), nil])], to: Self.group, now: now)
        let online = try shard.onlineRows(entityIDs: ["u"], group: Self.group)[0]
        #expect(online?.values.first == .int(2))
        #expect(online.map { $0.sequence > ahead.rawValue } == true)
        if kind == .memory {
          // The in-memory engine survives only within this process: reopen a shard on it.
          let again = try LocalShard(engine: engine, writeIDSlot: 1)
          _ = try again.append([RowToStore(entityID: "u", eventTime: .epoch, createdTime: .epoch, values: [.int(3), nil])], to: Self.group, now: now)
          #expect(try again.onlineRows(entityIDs: ["u"], group: Self.group)[0]?.values.first == .int(3))
          return
        }
      }
      // RocksDB: reopen the directory; the clock starts above every stored id.
      let engine = try kind.open(at: path)
      let shard = try LocalShard(engine: engine, writeIDSlot: 1)
      _ = try shard.append([RowToStore(entityID: "u", eventTime: .epoch, createdTime: .epoch, values: [.int(3), nil])], to: Self.group, now: now)
      #expect(try shard.onlineRows(entityIDs: ["u"], group: Self.group)[0]?.values.first == .int(3))
    }
  }
}
