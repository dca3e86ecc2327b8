import StrataCore
import Testing

@testable import StrataStorage

/// The shard: history (append-only), online (latest per entity and group version), point-in-time
/// lookups and the persisted write statistics.
@Suite("LocalShard")
struct LocalShardTests {
  @Test("append, then history(entity, group) returns every row ascending by (event, created, write order)", arguments: EngineKind.allCases)
  func historyAscending(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      let shard = try LocalShard(engine: engine)
      var log = WriteLog()
      let batches: [[(String, Int64, Int64)]] = [
        [("u1", 30, 1), ("u1", 10, 5), ("u2", 20, 0), ("u1", 10, 2), ("u1", -5, 0)],
        [("u1", 20, 1), ("u1", 10, 5), ("u2", 20, 0)],  // exact (event, created) repeats of earlier rows
        [("u1", 10, 5)],
      ]
      for batch in batches {
        let rows = batch.map { log.row($0.0, event: $0.1, created: $0.2) }
        let outcome = try shard.append(rows, to: group1, now: at(1000))
        #expect(outcome.rowsWritten == rows.count)
      }
      for entity in ["u1", "u2"] {
        let history = try shard.history(entityID: entity, group: group1)
        #expect(history.map(\.writeIndex) == log.expectedHistory(entity), "\(entity)")
        #expect(history.map(\.values) == log.expectedHistory(entity).map { log.rows[$0].values })
        // Sequence numbers follow write order.
        let bySequence = history.sorted { $0.sequence < $1.sequence }.map(\.writeIndex)
        #expect(bySequence == bySequence.sorted(), "\(entity)")
        #expect(Set(history.map(\.sequence)).count == history.count)
      }
      #expect(try shard.history(entityID: "u3", group: group1).isEmpty)
      #expect(try shard.history(entityID: "u1", group: group2).isEmpty)
    }
  }

  @Test("onlineRows returns the winner by (event, created, sequence), in request order", arguments: EngineKind.allCases)
  func onlineWinner(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      let shard = try LocalShard(engine: engine)
      var log = WriteLog()
      _ = try shard.append([log.row("u1", event: 10, created: 50), log.row("u2", event: 5, created: 5)], to: group1, now: at(1))
      _ = try shard.append([log.row("u1", event: 20, created: 1), log.row("u2", event: 5, created: 4)], to: group1, now: at(2))
      _ = try shard.append([log.row("u1", event: 20, created: 3), log.row("u1", event: 19, created: 99)], to: group1, now: at(3))

      let online = try shard.onlineRows(entityIDs: ["u2", "nobody", "u1", "u2"], group: group1)
      #expect(online.map { $0?.writeIndex } == [1, nil, 4, 1])
      // The online row is the last row of the history, sequence and values included.
      for (i, entity) in ["u2", "nobody", "u1", "u2"].enumerated() {
        #expect(online[i] == (try shard.history(entityID: entity, group: group1).last), "\(entity)")
      }
      // Another group version of the same entities has nothing.
      #expect(try shard.onlineRows(entityIDs: ["u1", "u2"], group: group2) == [nil, nil])
      #expect(try shard.onlineRows(entityIDs: [], group: group1).isEmpty)
    }
  }

  @Test("a late row is counted in lateRows, lands in history and leaves online unchanged", arguments: EngineKind.allCases)
  func lateRow(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      let shard = try LocalShard(engine: engine)
      var log = WriteLog()
      #expect(try shard.append([log.row("u1", event: 100, created: 100)], to: group1, now: at(1)).lateRows == 0)
      let stored = try shard.onlineRows(entityIDs: ["u1"], group: group1)[0]

      // An older event (even with a much newer created time), and the same event with an older created time.
      let older = try shard.append([log.row("u1", event: 99, created: 10_000)], to: group1, now: at(2))
      #expect(older == AppendOutcome(rowsWritten: 1, lateRows: 1))
      let olderCorrection = try shard.append([log.row("u1", event: 100, created: 99)], to: group1, now: at(3))
      #expect(olderCorrection == AppendOutcome(rowsWritten: 1, lateRows: 1))

      #expect(try shard.onlineRows(entityIDs: ["u1"], group: group1)[0] == stored)
      #expect(try shard.history(entityID: "u1", group: group1).map(\.writeIndex) == [1, 2, 0])
    }
  }

  @Test("a row equal on (event, created) to the online row replaces it: the later write wins", arguments: EngineKind.allCases)
  func equalTimesLaterWriteWins(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      let shard = try LocalShard(engine: engine)
      var log = WriteLog()
      _ = try shard.append([log.row("u1", event: 100, created: 100)], to: group1, now: at(1))
      let again = try shard.append([log.row("u1", event: 100, created: 100)], to: group1, now: at(2))
      #expect(again == AppendOutcome(rowsWritten: 1, lateRows: 0))
      #expect(try shard.onlineRows(entityIDs: ["u1"], group: group1)[0]?.writeIndex == 1)
      // Both stay in history, the later one last.
      #expect(try shard.history(entityID: "u1", group: group1).map(\.writeIndex) == [0, 1])
    }
  }

  @Test("rows of one batch for one entity: the best wins online; late only if it loses to the row stored before the batch", arguments: EngineKind.allCases)
  func batchSemantics(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      let shard = try LocalShard(engine: engine)
      var log = WriteLog()
      _ = try shard.append([log.row("u1", event: 10, created: 10), log.row("u9", event: 50, created: 0)], to: group1, now: at(1))

      // u1 had (10, 10). In the batch: (12, 1) and (11, 5) lose to (15, 0) but beat the stored row: not
      // late. (9, 0) and (10, 9) lose to the stored row: late. (10, 10) ties with it and is written later:
      // not late. u2 (nothing stored) is never late, its best row wins; two rows with equal times: the
      // later one wins.
      let outcome = try shard.append(
        [
          log.row("u1", event: 12, created: 1),  // 2
          log.row("u2", event: 5, created: 5),  // 3
          log.row("u1", event: 15, created: 0),  // 4: u1's best
          log.row("u1", event: 9, created: 0),  // 5: late
          log.row("u2", event: 7, created: 1),  // 6
          log.row("u1", event: 11, created: 5),  // 7
          log.row("u1", event: 10, created: 9),  // 8: late
          log.row("u1", event: 10, created: 10),  // 9: ties with the stored row, not late
          log.row("u2", event: 7, created: 1),  // 10: u2's best (same times as 6, written later)
        ], to: group1, now: at(2))
      #expect(outcome == AppendOutcome(rowsWritten: 9, lateRows: 2))
      let online = try shard.onlineRows(entityIDs: ["u1", "u2", "u9"], group: group1)
      #expect(online.map { $0?.writeIndex } == [4, 10, 1])

      // A batch in which every row loses: all late, online unchanged.
      let allLate = try shard.append(
        [log.row("u9", event: 49, created: 100), log.row("u9", event: 50, created: -1), log.row("u1", event: 14, created: 0)],
        to: group1, now: at(3))
      #expect(allLate == AppendOutcome(rowsWritten: 3, lateRows: 3))
      #expect(try shard.onlineRows(entityIDs: ["u1", "u2", "u9"], group: group1).map { $0?.writeIndex } == [4, 10, 1])

      // The same batch written to another group version does not see group1's rows.
      let otherVersion = try shard.append([log.row("u9", event: 1, created: 0)], to: group2, now: at(4))
      #expect(otherVersion == AppendOutcome(rowsWritten: 1, lateRows: 0))

      #expect(try shard.append([], to: group1, now: at(5)) == AppendOutcome(rowsWritten: 0, lateRows: 0))
    }
  }

  @Test("entity ids that are equal as Swift strings but differ in bytes (NFC vs NFD) stay separate entities in one batch", arguments: EngineKind.allCases)
  func canonicallyEquivalentIDs(kind: EngineKind) throws {
    // "\u{E9}" and "e\u{301}" are both "é": equal under Swift's String ==, but different UTF-8 bytes, so
    // different tokens, keys and histories. Online must agree with each one's own history.
    let nfc = "\u{E9}"
    let nfd = "e\u{301}"
    #expect(nfc == nfd && Array(nfc.utf8) != Array(nfd.utf8))
    try kind.withEngine { engine throws in
      let shard = try LocalShard(engine: engine)
      var log = WriteLog()
      let outcome = try shard.append(
        [log.row(nfc, event: 10, created: 0), log.row(nfd, event: 20, created: 0)], to: group1, now: at(1))
      #expect(outcome.lateRows == 0)
      #expect(try shard.history(entityID: nfc, group: group1).map(\.writeIndex) == [0])
      #expect(try shard.history(entityID: nfd, group: group1).map(\.writeIndex) == [1])
      let online = try shard.onlineRows(entityIDs: [nfc, nfd], group: group1)
      #expect(online[0]?.writeIndex == 0, "online row of the NFC id must be its own row (event 10)")
      #expect(online[1]?.writeIndex == 1, "online row of the NFD id must be its own row (event 20)")
      #expect(try shard.rowsAsOf([(nfc, at(100)), (nfd, at(100))], group: group1).map { $0?.writeIndex } == [0, 1])

      // In a second batch, a row for the NFD id older than the NFC id's online row is not late.
      let second = try shard.append([log.row(nfc, event: 30, created: 0), log.row(nfd, event: 15, created: 0)], to: group1, now: at(2))
      #expect(second.lateRows == 1, "only the NFD row (15 < 20) is late")
    }
  }

  @Test("rowsAsOf: one seek per probe, event == asOf counts, nothing before the first row, no leaks", arguments: EngineKind.allCases)
  func rowsAsOf(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      let shard = try LocalShard(engine: engine)
      var log = WriteLog()
      // u1: 10, 20 (created 1 and 2), 30. u10 shares u1's prefix and has an early row only.
      _ = try shard.append(
        [
          log.row("u1", event: 20, created: 2),  // 0
          log.row("u1", event: 10, created: 0),  // 1
          log.row("u1", event: 30, created: 0),  // 2
          log.row("u1", event: 20, created: 1),  // 3
          log.row("u10", event: 5, created: 0),  // 4
          log.row("u100", event: 1, created: 0),  // 5
        ], to: group1, now: at(1))
      // Another group version of u1, with rows before and after.
      _ = try shard.append([log.row("u1", event: 1, created: 0), log.row("u1", event: 100, created: 0)], to: group2, now: at(2))
      // Many neighbours, so that a seek that escapes the prefix lands on some other entity's row.
      var neighbours = WriteLog()
      _ = try shard.append((0..<60).map { neighbours.row("n\($0)", event: 0, created: 0) }, to: group1, now: at(3))
      _ = try shard.append((0..<60).map { neighbours.row("n\($0)", event: 0, created: 0) }, to: group2, now: at(4))

      let probes: [(String, Int64, Int?)] = [
        ("u1", 9, nil), ("u1", 10, 1), ("u1", 15, 1), ("u1", 19, 1), ("u1", 20, 0), ("u1", 25, 0), ("u1", 30, 2),
        ("u1", 31, 2), ("u10", 4, nil), ("u10", 5, 4), ("u10", 1_000, 4), ("u100", 0, nil), ("u100", 1, 5),
        ("u", 1_000, nil), ("u1000", 1_000, nil), ("nobody", 1_000, nil), ("u1", 20, 0), ("u10", 5, 4),
      ]
      let result = try shard.rowsAsOf(probes.map { ($0.0, at($0.1)) }, group: group1)
      #expect(result.map { $0?.writeIndex } == probes.map(\.2))
      // The found row is the full stored row.
      let u1History = try shard.history(entityID: "u1", group: group1)
      #expect(result[4] == u1History.first { $0.writeIndex == 0 })

      // Extremes of the probe time.
      #expect(try shard.rowsAsOf([("u1", .min), ("u1", .max), ("u10", .max)], group: group1).map { $0?.writeIndex } == [nil, 2, 4])

      // group2: only its own rows, never group1's (u1 has rows at 10...30 in group1).
      let g2 = try shard.rowsAsOf([("u1", at(0)), ("u1", at(1)), ("u1", at(50)), ("u1", at(100)), ("u10", at(50))], group: group2)
      #expect(g2.map { $0?.writeIndex } == [nil, 6, 6, 7, nil])

      // Entities with no row at or before asOf get nil whatever their neighbours hold.
      let absent = (0..<60).map { ("m\($0)", at(1_000)) } + (0..<60).map { ("n\($0)", at(-1)) }
      #expect(try shard.rowsAsOf(absent, group: group1).allSatisfy { $0 == nil })
      #expect(try shard.rowsAsOf([], group: group1).isEmpty)

      // Against the oracle, for every probe time around the rows.
      let all = try shard.history(entityID: "u1", group: group1)
      for t in Int64(0)...40 {
        #expect(try shard.rowsAsOf([("u1", at(t))], group: group1)[0] == PointInTime.latestRow(in: all, asOf: at(t)), "asOf \(t)")
      }
    }
  }

  @Test(
    "copies of stored rows (a replica's retry, a hint, a repair, a range transfer) are stored once and counted once in rowsTotal: equal to the online row, older than it, or repeated in one batch",
    arguments: EngineKind.allCases)
  func copiesCountedOnce(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      let shard = try LocalShard(engine: engine)
      func row(_ entity: String, _ event: Int64, id: UInt64) -> RowToStore {
        RowToStore(
          entityID: entity, eventTime: at(event), createdTime: at(event), values: [.int(Int64(id)), nil, nil],
          writeID: WriteID(rawValue: id << 10 | 1))
      }
      func total() -> UInt64 { shard.writeStats[group1.storageID]?.rowsTotal ?? 0 }
      let first = [row("e", 10, id: 1), row("e", 20, id: 2), row("e", 30, id: 3), row("f", 5, id: 4)]
      _ = try shard.append(first, to: group1, now: at(100))
      #expect(total() == 4)
      // The same batch again: 30 and 5 equal the online rows, 10 and 20 are older ones held in history.
      _ = try shard.append(first, to: group1, now: at(101))
      #expect(total() == 4)
      // A copy twice in one batch, with one new row newer than online and one older, not stored yet.
      _ = try shard.append([row("e", 20, id: 2), row("e", 20, id: 2), row("e", 40, id: 5), row("e", 15, id: 6)], to: group1, now: at(102))
      #expect(total() == 6)
      // Rows without write ids are always new.
      var log = WriteLog()
      _ = try shard.append([log.row("e", event: 40, created: 40)], to: group1, now: at(103))
      #expect(total() == 7)
      #expect(try shard.history(entityID: "e", group: group1).count + shard.history(entityID: "f", group: group1).count == 7)
    }
  }

  @Test("sequence numbers and write stats survive reopening the engine", arguments: EngineKind.allCases)
  func reopen(kind: EngineKind) throws {
    try withTemporaryDirectory { path in
      let memory = InMemoryEngine()
      // RocksDB: the same directory, after the previous engine is gone. In memory: the same engine object.
      func open() throws -> any StorageEngine { kind == .memory ? memory : try kind.open(at: path) }

      var log = WriteLog()
      var statsBefore: [UInt32: GroupWriteStats] = [:]
      var sequencesBefore: Set<UInt64> = []
      var onlineBefore: [StoredRow?] = []
      do {
        let shard = try LocalShard(engine: open())
        #expect(shard.writeStats.isEmpty)
        _ = try shard.append([log.row("u1", event: 1, created: 0), log.row("u2", event: 1, created: 0)], to: group1, now: at(100))
        _ = try shard.append([log.row("u1", event: 2, created: 0)], to: group1, now: at(200))
        _ = try shard.append([log.row("u1", event: 3, created: 0), log.row("u3", event: 1, created: 0)], to: group2, now: at(150))
        _ = try shard.append([], to: group2, now: at(999))  // changes nothing
        statsBefore = shard.writeStats
        #expect(
          statsBefore == [
            group1.storageID: GroupWriteStats(lastWrite: at(200), rowsTotal: 3),
            group2.storageID: GroupWriteStats(lastWrite: at(150), rowsTotal: 2),
          ])
        for (entity, group) in [("u1", group1), ("u2", group1), ("u1", group2), ("u3", group2)] {
          sequencesBefore.formUnion(try shard.history(entityID: entity, group: group).map(\.sequence))
        }
        onlineBefore = try shard.onlineRows(entityIDs: ["u1", "u2"], group: group1)
      }
      #expect(sequencesBefore.count == 5)

      let shard = try LocalShard(engine: open())
      #expect(shard.writeStats == statsBefore)
      #expect(try shard.onlineRows(entityIDs: ["u1", "u2"], group: group1) == onlineBefore)

      // New rows get sequence numbers above every earlier one: a row equal on (event, created) to one
      // written before the reopen still replaces it.
      let outcome = try shard.append([log.row("u1", event: 2, created: 0), log.row("u2", event: 1, created: 0)], to: group1, now: at(300))
      #expect(outcome == AppendOutcome(rowsWritten: 2, lateRows: 0))
      let after = try shard.history(entityID: "u1", group: group1) + shard.history(entityID: "u2", group: group1)
      let newSequences = after.filter { $0.writeIndex >= 5 }.map(\.sequence)
      #expect(newSequences.count == 2)
      #expect(newSequences.allSatisfy { s in sequencesBefore.allSatisfy { $0 < s } })
      #expect(try shard.onlineRows(entityIDs: ["u1", "u2"], group: group1).map { $0?.writeIndex } == [5, 6])
      #expect(shard.writeStats[group1.storageID] == GroupWriteStats(lastWrite: at(300), rowsTotal: 5))
      #expect(shard.writeStats[group2.storageID] == statsBefore[group2.storageID])
    }
  }
}

// MARK: - Fixtures

private let base = Timestamp.seconds(1_700_000_000)

/// `base` plus `seconds`.
private func at(_ seconds: Int64) -> Timestamp { base.adding(microseconds: seconds * 1_000_000) }

private func makeGroup(version: Int, storageID: UInt32) -> FeatureGroup {
  FeatureGroup(
    spec: FeatureGroupSpec(
      name: "shard_test",
      features: [
        FeatureSpec(name: "write_index", dtype: .int), FeatureSpec(name: "label", dtype: .string),
        FeatureSpec(name: "score", dtype: .float),
      ]),
    version: version, status: .active, createdAt: .epoch, storageID: storageID)
}

private let group1 = makeGroup(version: 1, storageID: 1)
private let group2 = makeGroup(version: 2, storageID: 2)

/// The rows a test wrote, in write order. Each row carries its write index in feature 0, so a stored
/// row can be traced back to the write that produced it.
private struct WriteLog {
  var rows: [RowToStore] = []

  mutating func row(_ entity: String, event: Int64, created: Int64) -> RowToStore {
    let i = rows.count
    let row = RowToStore(
      entityID: entity, eventTime: at(event), createdTime: at(created),
      values: [.int(Int64(i)), i % 3 == 0 ? nil : .string("row \(i)"), i % 2 == 0 ? .float(Double(i) / 4) : nil])
    rows.append(row)
    return row
  }

  /// Write indexes of `entity`'s rows in history order: (event, created, write order) ascending.
  func expectedHistory(_ entity: String) -> [Int] {
    rows.indices.filter { Array(rows[$0].entityID.utf8) == Array(entity.utf8) }.sorted { a, b in
      (rows[a].eventTime, rows[a].createdTime, a) < (rows[b].eventTime, rows[b].createdTime, b)
    }
  }
}

extension StoredRow {
  /// The write index a `WriteLog` row carries in feature 0.
  fileprivate var writeIndex: Int {
    guard case .int(let i)? = values.first else { return -1 }
    return Int(i)
  }
}
