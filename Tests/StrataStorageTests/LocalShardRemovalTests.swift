import Foundation
import StrataCore
import StrataTestSupport
import Synchronization
import Testing

@testable import StrataStorage

/// `LocalShard.removeEntities(where:)` (cleanup of the token ranges a node stops replicating) and
/// `LocalShard.historyRowCount(where:)`, against an oracle: the set of rows the test appended (every
/// row carries its write id, so the oracle knows each stored row exactly), minus the rows of the
/// entities whose token matched.
///
/// Random tests print their seed; `STRATA_TEST_SEED=<seed>` replays a run.
@Suite("LocalShard removal: deleting the rows of token ranges, against an oracle")
struct LocalShardRemovalTests {
  /// Which tokens a removal takes, and in batches of how many keys (2 and 16 cut the heavy entities'
  /// histories over several batches; the default does not).
  struct Scenario: Sendable, CustomTestStringConvertible {
    var selection: Selection
    var batchKeys: Int

    var testDescription: String { "\(selection.rawValue), batches of \(batchKeys)" }

    static let all: [Scenario] =
      Selection.allCases.map { Scenario(selection: $0, batchKeys: 2) }
      + [Scenario(selection: .belowThreshold, batchKeys: 16), Scenario(selection: .everyThird, batchKeys: 16)]
      + [Scenario(selection: .belowThreshold, batchKeys: LocalShard.removalBatchKeys)]
      + [Scenario(selection: .everyThird, batchKeys: LocalShard.removalBatchKeys)]
  }

  enum Selection: String, CaseIterable, Sendable {
    /// A contiguous token range, as a ring range move gives (the threshold is a written entity's token).
    case belowThreshold
    /// Tokens scattered over the whole range.
    case everyThird
    case nothing
    case everything

    func predicate(threshold: UInt64) -> @Sendable (UInt64) -> Bool {
      switch self {
      case .belowThreshold: { $0 < threshold }
      case .everyThird: { $0 % 3 == 0 }
      case .nothing: { _ in false }
      case .everything: { _ in true }
      }
    }
  }

  /// Proves, over random histories in two group versions (ties on event and created times, re-delivered
  /// copies of rows, two entities with hundreds of rows), that a removal deletes exactly the matching
  /// entities' rows and leaves every other row as it was: online rows (in memory and on disk), each
  /// entity's history, point-in-time lookups, the history images built before the removal (which
  /// keep answering, without a rebuild, and no longer return removed rows), and the persisted write
  /// statistics (rowsTotal down by the rows deleted, lastWrite unchanged). The report counts what the
  /// oracle removed; `historyRowCount` counts what the oracle holds. Reopening the store (RocksDB: the
  /// directory, after closing it) gives the same answers, a second removal removes nothing, and
  /// entities written again after their removal behave as new ones.
  @Test("a removal deletes exactly the matching entities' rows and keeps online, history, images and stats consistent, across a reopen",
        arguments: EngineKind.allCases, Scenario.all)
  func againstOracle(kind: EngineKind, scenario: Scenario) throws {
    var random = SplitMix64.forTest("LocalShardRemoval.againstOracle.\(kind).\(scenario.selection).\(scenario.batchKeys)")
    let context = "engine \(kind), \(scenario.testDescription), \(random.seedDescription)"
    let tokens = allEntities.map(EntityToken.of).sorted()
    let threshold = tokens[tokens.count / 4 + random.below(tokens.count / 2)]
    let matches = scenario.selection.predicate(threshold: threshold)

    try withTemporaryDirectory { path in
      let memory = InMemoryEngine()
      // RocksDB: the same directory, after the previous engine is gone. In memory: the same engine object.
      func open() throws -> any StorageEngine { kind == .memory ? memory : try openRetryingLockNow(kind, at: path) }
      var oracle = ShardOracle()
      var nextID: UInt64 = 1_000
      do {
        let shard = try LocalShard(engine: open())
        try writeRandomHistory(shard, &oracle, &nextID, &random)
        try verify(shard, oracle, context)

        // Images of both versions, built before the removal; a policy that never rebuilds them.
        var imagesBefore: [UInt32: HistoryImage] = [:]
        for group in groups {
          let use = try shard.imageForJoin(group, labels: .max, policy: keepImages)
          #expect(use != nil, "\(context)")
          imagesBefore[group.storageID] = use?.image
        }
        let labels = randomLabels(&random)
        // The images answer the removed entities' labels with rows on their own (so the checks below
        // show that they are no longer asked).
        var imageAnswersRemoved = 0
        for group in groups {
          for label in labels where matches(EntityToken.of(label.entityID)) {
            let token = EntityToken.of(label.entityID)
            if imagesBefore[group.storageID]!.row(for: label.entityID, token: token, asOf: label.time.microseconds) >= 0 {
              imageAnswersRemoved += 1
            }
          }
        }

        let statsBefore = shard.writeStats
        #expect(try shard.historyRowCount(where: matches) == oracle.storedRows(where: matches), "\(context)")
        #expect(try shard.historyRowCount { _ in true } == oracle.storedRows { _ in true }, "\(context)")

        let expected = oracle.removal(where: matches)
        let tokensStored = oracle.tokens
        let calls = Mutex<[UInt64: Int]>([:])
        let report = try shard.removeEntities(
          where: { token in
            calls.withLock { $0[token, default: 0] += 1 }
            return matches(token)
          }, batchKeys: scenario.batchKeys)
        oracle.remove(where: matches)
        // One verdict per token stored, however the batches fell.
        let verdicts = calls.withLock { $0 }
        #expect(Set(verdicts.keys) == tokensStored, "\(context)")
        #expect(verdicts.values.allSatisfy { $0 == 1 }, "\(context): \(verdicts.values.filter { $0 > 1 }.count) tokens asked twice")
        #expect(report.historyRowsByGroup == expected.historyRowsByGroup, "\(context)")
        #expect(report.onlineRowsByGroup == expected.onlineRowsByGroup, "\(context)")
        #expect(report.entities == expected.entities, "\(context)")
        #expect((report.batches == 0) == (expected.historyRows == 0), "\(context): \(report.batches) batches")
        // No batch holds more than 4 x batchKeys history keys (a cut inside a heavy entity's history).
        let hardCap = UInt64(4 * scenario.batchKeys)
        #expect(UInt64(report.batches) >= (report.historyRows + hardCap - 1) / hardCap, "\(context): \(report.batches) batches")
        if scenario.selection == .everything || scenario.selection == .belowThreshold {
          #expect(report.historyRows > 0, "\(context): the scenario removes something")
        }
        #expect(scenario.selection != .nothing || imageAnswersRemoved == 0)
        if report.historyRows > 0 { #expect(imageAnswersRemoved > 0, "\(context)") }

        try verify(shard, oracle, context)
        for group in groups {
          let sid = group.storageID
          #expect(shard.writeStats[sid]?.lastWrite == statsBefore[sid]?.lastWrite, "\(context): lastWrite unchanged")
        }
        #expect(try shard.historyRowCount(where: matches) == 0, "\(context)")

        // Exports: the images built before the removal answer (no rebuild), never with a removed row.
        for group in groups {
          let chosen = try FeatureStore.choose(labels, group: group, shard: shard, policy: keepImages, parallelism: 2)
          #expect(chosen.image === imagesBefore[group.storageID], "\(context): \(group.qualifiedName) image kept")
          expectOrders(chosen.orders, oracle, labels, group, "kept image, \(context)")
        }

        // Removing again removes nothing.
        #expect(try shard.removeEntities(where: matches, batchKeys: scenario.batchKeys) == .empty, "\(context)")
        try verify(shard, oracle, context)

        // A policy that rebuilds once anything was touched: new images, same answers.
        for group in groups {
          let chosen = try FeatureStore.choose(labels, group: group, shard: shard, policy: rebuildImages, parallelism: 2)
          // (A version left without rows builds no image: there is nothing to read.)
          if report.historyRowsByGroup[group.storageID] != nil, (shard.writeStats[group.storageID]?.rowsTotal ?? 0) > 0 {
            #expect(chosen.image !== imagesBefore[group.storageID], "\(context): \(group.qualifiedName) rebuilt")
          }
          expectOrders(chosen.orders, oracle, labels, group, "rebuilt image, \(context)")
        }
      }

      // Reopened: the online table is rebuilt from disk, the statistics read back.
      let shard = try LocalShard(engine: open())
      try verify(shard, oracle, "reopened, \(context)")
      #expect(try shard.removeEntities(where: matches, batchKeys: scenario.batchKeys) == .empty, "reopened, \(context)")

      // Removed entities written again behave as new ones: only the new rows, the best of them online.
      let removedEntities = allEntities.filter { matches(EntityToken.of($0)) }
      let rewritten = Array(removedEntities.shuffled(using: &random).prefix(6)) + ["u1", "user-7"]
      for group in groups {
        let rows = (0..<20).map { i in
          newRow(random.element(of: rewritten), event: Int64(random.below(5)), created: Int64(random.below(3)), &nextID, index: i)
        }
        _ = try shard.append(rows, to: group, now: at(2_000))
        oracle.record(group.storageID, rows)
      }
      try verify(shard, oracle, "written again, \(context)")
      #expect(
        try shard.historyRowCount(where: matches)
          == oracle.storedRows(where: matches), "written again, \(context)")
    }
  }

  /// Proves that appends running during a removal go on and leave nothing inconsistent: the appender
  /// writes to kept entities and (against the contract, which the cluster keeps by stopping writes
  /// first) to removed ones, while the removal runs in batches of 2 keys. Afterwards every kept
  /// entity has every row written to it, every entity's online row is the best of its history (or
  /// both are gone), the online table equals the engine's online keyspace, and rowsTotal is what was
  /// appended minus what the report removed. A second removal then removes the rest, and the two
  /// reports together count every distinct row ever written to the removed entities, exactly once.
  @Test("appends during a removal go on and leave every entity consistent; two removals count every removed row once",
        arguments: EngineKind.allCases)
  func concurrentAppends(kind: EngineKind) throws {
    var random = SplitMix64.forTest("LocalShardRemoval.concurrentAppends.\(kind)")
    let context = "engine \(kind), \(random.seedDescription)"
    let matches: @Sendable (UInt64) -> Bool = { $0 % 3 != 1 }
    try kind.withEngine { engine throws in
      let shard = try LocalShard(engine: engine)
      var oracle = ShardOracle()
      var nextID: UInt64 = 1_000
      try writeRandomHistory(shard, &oracle, &nextID, &random, duplicates: false)
      var appends: [(group: FeatureGroup, rows: [RowToStore])] = []
      for _ in 0..<150 {
        let group = random.element(of: groups)
        let rows = (0..<(1 + random.below(6))).map { i in
          newRow(random.element(of: allEntities), event: Int64(random.below(40)), created: Int64(random.below(8)), &nextID, index: i)
        }
        appends.append((group, rows))
      }
      let failures = Failures()
      let (started, halfway, finished) = (DispatchSemaphore(value: 0), DispatchSemaphore(value: 0), DispatchSemaphore(value: 0))
      let work = appends
      Thread {
        started.wait()
        for (i, (group, rows)) in work.enumerated() {
          if i == work.count / 2 { halfway.signal() }
          do { _ = try shard.append(rows, to: group, now: at(3_000)) } catch { failures.record("append: \(error)") }
        }
        finished.signal()
      }.start()
      // The first verdict is asked for by the scan, after it took its snapshot and before any batch
      // (not under the writer lock): half of the appends land between the snapshot and the batches,
      // the other half while the batches run.
      let firstCall = Mutex(true)
      let first = try shard.removeEntities(
        where: { token in
          let isFirst = firstCall.withLock { first in
            defer { first = false }
            return first
          }
          if isFirst {
            started.signal()
            if halfway.wait(timeout: .now() + 30) == .timedOut { failures.record("the appender did not get halfway") }
          }
          return matches(token)
        }, batchKeys: 2)
      finished.wait()
      #expect(failures.all.isEmpty, "\(failures.all)")
      for (group, rows) in appends { oracle.record(group.storageID, rows) }

      func expectConsistent(_ what: String) throws {
        for group in groups {
          let online = try shard.onlineRows(entityIDs: allEntities, group: group)
          for (i, entity) in allEntities.enumerated() {
            let history = try shard.history(entityID: entity, group: group)
            #expect(online[i] == history.last, "\(what): \(entity) in \(group.qualifiedName), \(context)")
            if !matches(EntityToken.of(entity)) {
              #expect(history == oracle.history(group.storageID, entity), "\(what): kept \(entity), \(context)")
            }
          }
        }
        try expectOnlineTableMatchesEngine(shard, "\(what), \(context)")
      }
      try expectConsistent("after the concurrent removal")
      for group in groups {
        let sid = group.storageID
        #expect(
          shard.writeStats[sid]?.rowsTotal == oracle.appended[sid, default: 0] - first.historyRowsByGroup[sid, default: 0],
          "\(group.qualifiedName), \(context)")
      }

      let second = try shard.removeEntities(where: matches, batchKeys: 2)
      try expectConsistent("after the second removal")
      let expected = oracle.removal(where: matches)
      oracle.remove(where: matches)
      try verify(shard, oracle, "after the second removal, \(context)")
      for group in groups {
        let sid = group.storageID
        #expect(
          first.historyRowsByGroup[sid, default: 0] + second.historyRowsByGroup[sid, default: 0]
            == expected.historyRowsByGroup[sid, default: 0], "\(group.qualifiedName), \(context)")
      }
    }
  }

  // MARK: Checks

  /// Everything the shard answers equals the oracle: each entity's history and online row in both
  /// versions (ids never written included), point-in-time lookups at times around the rows, the
  /// write statistics' rowsTotal, the online table against the engine, and the history row count.
  private func verify(
    _ shard: LocalShard, _ oracle: ShardOracle, _ context: String, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let probed = allEntities + ["nobody", "u", "user-", "heavy"]
    let times: [Int64] = [-1, 0, 3, 7, 12, 19, 25, 33, 39, 40]
    for group in groups {
      let sid = group.storageID
      var wrongHistories: [String] = []
      var wrongOnline: [String] = []
      let online = try shard.onlineRows(entityIDs: probed, group: group)
      var probes: [AsOfProbe] = []
      var expectedAsOf: [StoredRow?] = []
      for (i, entity) in probed.enumerated() {
        let history = oracle.history(sid, entity)
        if try shard.history(entityID: entity, group: group) != history { wrongHistories.append(entity) }
        if online[i] != history.last { wrongOnline.append(entity) }
        for t in times {
          probes.append(AsOfProbe(entityID: entity, asOf: at(t)))
          expectedAsOf.append(PointInTime.latestRow(in: history, asOf: at(t)))
        }
      }
      #expect(wrongHistories.isEmpty, "\(group.qualifiedName) histories of \(wrongHistories), \(context)", sourceLocation: sourceLocation)
      #expect(wrongOnline.isEmpty, "\(group.qualifiedName) online rows of \(wrongOnline), \(context)", sourceLocation: sourceLocation)
      let asOf = try shard.rowsAsOf(probes, group: group, parallelism: 2)
      let wrongAsOf = probes.indices.filter { asOf[$0] != expectedAsOf[$0] }.map { "\(probes[$0].entityID)@\(probes[$0].asOf)" }
      #expect(wrongAsOf.isEmpty, "\(group.qualifiedName) rowsAsOf \(wrongAsOf.prefix(5)), \(context)", sourceLocation: sourceLocation)
      #expect(
        shard.writeStats[sid]?.rowsTotal == oracle.expectedRowsTotal(sid),
        "\(group.qualifiedName) rowsTotal, \(context)", sourceLocation: sourceLocation)
    }
    #expect(shard.onlineRowsInMemory == oracle.onlineRows, "online rows in memory, \(context)", sourceLocation: sourceLocation)
    try expectOnlineTableMatchesEngine(shard, context, sourceLocation: sourceLocation)
    #expect(
      try shard.historyRowCount { _ in true } == oracle.storedRows { _ in true }, "history rows, \(context)",
      sourceLocation: sourceLocation)
  }

  /// The in-memory online table holds exactly the engine's online keyspace.
  private func expectOnlineTableMatchesEngine(
    _ shard: LocalShard, _ context: String, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let stored = try shard.engine.entries(in: .online)
    #expect(shard.online.get(stored.map(\.key)) == stored.map(\.value), "online table vs engine, \(context)", sourceLocation: sourceLocation)
    #expect(shard.online.count == stored.count, "online table size vs engine, \(context)", sourceLocation: sourceLocation)
  }

  /// The row each label's answer came from (`ChosenRows.orders`) is the oracle's point-in-time row.
  private func expectOrders(
    _ orders: RowOrders, _ oracle: ShardOracle, _ labels: [LabelRow], _ group: FeatureGroup, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    var wrong: [String] = []
    for (i, label) in labels.enumerated() {
      let expected = PointInTime.latestRow(in: oracle.history(group.storageID, label.entityID), asOf: label.time)
      let got = orders[i].map { "\($0.eventTime.microseconds)/\($0.createdTime.microseconds)/\($0.sequence)" } ?? "none"
      let want = expected.map { "\($0.eventTime.microseconds)/\($0.createdTime.microseconds)/\($0.sequence)" } ?? "none"
      if got != want { wrong.append("\(label.entityID)@\(label.time.microseconds): got \(got), expected \(want)") }
    }
    #expect(wrong.isEmpty, "\(group.qualifiedName), \(what): \(wrong.count) labels, e.g. \(wrong.prefix(3))", sourceLocation: sourceLocation)
  }

  // MARK: Writing

  /// About 1,600 rows in random batches over both versions: mostly light entities, a quarter of the
  /// rows to the two heavy ones; event times on 40 seconds and created times on 8 (many ties); now
  /// and then (`duplicates`) a batch delivered again with the same write ids (stored once, counted
  /// once in rowsTotal).
  private func writeRandomHistory(
    _ shard: LocalShard, _ oracle: inout ShardOracle, _ nextID: inout UInt64, _ random: inout SplitMix64,
    duplicates: Bool = true
  ) throws {
    var written: [(group: FeatureGroup, rows: [RowToStore])] = []
    for batch in 0..<160 {
      if duplicates, !written.isEmpty, random.oneIn(8) {
        let (group, rows) = random.element(of: written)
        _ = try shard.append(rows, to: group, now: at(100 + Int64(batch)))
        oracle.record(group.storageID, rows)
        continue
      }
      let group = random.element(of: groups)
      let rows = (0..<(1 + random.below(19))).map { i in
        let entity = random.oneIn(4) ? random.element(of: heavyEntities) : random.element(of: lightEntities)
        return newRow(entity, event: Int64(random.below(40)), created: Int64(random.below(8)), &nextID, index: i)
      }
      _ = try shard.append(rows, to: group, now: at(100 + Int64(batch)))
      oracle.record(group.storageID, rows)
      written.append((group, rows))
    }
  }

  /// Labels of every entity (and of ids never written) at random times around the rows.
  private func randomLabels(_ random: inout SplitMix64) -> [LabelRow] {
    (allEntities + ["nobody", "heavy"]).flatMap { entity in
      (0..<3).map { _ in LabelRow(entityID: entity, time: at(Int64(random.below(44)) - 2)) }
    }
  }
}

// MARK: - Fixtures

/// `kind.open(at:)`, retried for up to a second while the previous engine of the directory still holds
/// its lock (a bulk thread may drop its last reference a moment after the work it did returned).
private func openRetryingLockNow(_ kind: EngineKind, at path: String) throws -> any StorageEngine {
  for _ in 0..<100 {
    do {
      return try kind.open(at: path)
    } catch let error as StrataError where error.code == .unavailable {
      Thread.sleep(forTimeInterval: 0.01)
    }
  }
  return try kind.open(at: path)
}

private let base = Timestamp.seconds(1_700_000_000)

/// `base` plus `seconds`.
private func at(_ seconds: Int64) -> Timestamp { base.adding(microseconds: seconds * 1_000_000) }

private func makeGroup(version: Int, storageID: UInt32) -> FeatureGroup {
  FeatureGroup(
    spec: FeatureGroupSpec(
      name: "removal_test",
      features: [
        FeatureSpec(name: "n", dtype: .int), FeatureSpec(name: "label", dtype: .string),
        FeatureSpec(name: "score", dtype: .float),
      ]),
    version: version, status: .active, createdAt: .epoch, storageID: storageID)
}

private let groups = [makeGroup(version: 1, storageID: 1), makeGroup(version: 2, storageID: 2)]

/// Ids sharing prefixes, and two equal as Swift strings (canonical equivalence) but distinct in bytes.
private let lightEntities = ["u1", "u10", "u100", "a", "\u{E9}t\u{E9}", "e\u{301}t\u{E9}"] + (0..<90).map { "user-\($0)" }
/// Entities with hundreds of rows: batches of 2 or 16 keys cut their histories.
private let heavyEntities = ["heavy-0", "heavy-1"]
private let allEntities = lightEntities + heavyEntities

/// Builds an image for any chunk and never rebuilds it: touched entities are answered from storage.
private let keepImages = HistoryImagePolicy(budgetBytes: 1 << 30, minLabelsToBuild: 1, maxStaleFraction: 1e9)
/// Rebuilds an image as soon as one of its entities was touched.
private let rebuildImages = HistoryImagePolicy(budgetBytes: 1 << 30, minLabelsToBuild: 1, maxStaleFraction: 0)

/// A row of `entity` with the next write id (so the oracle knows its sequence) and values derived from it.
private func newRow(_ entity: String, event: Int64, created: Int64, _ nextID: inout UInt64, index: Int) -> RowToStore {
  nextID += 1 + UInt64(index % 3)
  let id = nextID
  return RowToStore(
    entityID: entity, eventTime: at(event), createdTime: at(created),
    values: [.int(Int64(id)), id % 3 == 0 ? nil : .string("row \(id)"), id % 2 == 0 ? .float(Double(id) / 4) : nil],
    writeID: WriteID(rawValue: id))
}

/// The rows the shard must hold: per (group version, entity id bytes), the stored rows by write id;
/// and per version the distinct rows appended (a copy of a stored row counts once, as rowsTotal counts) and removed.
private struct ShardOracle {
  struct Key: Hashable {
    var storageID: UInt32
    var id: [UInt8]
  }

  private var rows: [Key: [UInt64: StoredRow]] = [:]
  private(set) var appended: [UInt32: UInt64] = [:]
  private(set) var removed: [UInt32: UInt64] = [:]

  mutating func record(_ storageID: UInt32, _ batch: [RowToStore]) {
    for row in batch {
      let seq = row.writeID!.rawValue
      let key = Key(storageID: storageID, id: Array(row.entityID.utf8))
      // A copy of a row stored already is stored once and counted once.
      if rows[key]?[seq] == nil { appended[storageID, default: 0] += 1 }
      rows[key, default: [:]][seq] =
        StoredRow(eventTime: row.eventTime, createdTime: row.createdTime, sequence: seq, values: row.values)
    }
  }

  /// `entity`'s rows in `storageID`, ascending by (event, created, sequence).
  func history(_ storageID: UInt32, _ entity: String) -> [StoredRow] {
    (rows[Key(storageID: storageID, id: Array(entity.utf8))] ?? [:]).values.sorted { $1.supersedes($0) }
  }

  /// What removing the entities whose token passes `matches` must report.
  func removal(where matches: (UInt64) -> Bool) -> RemovalReport {
    var report = RemovalReport.empty
    var entities = Set<[UInt8]>()
    for (key, stored) in rows where !stored.isEmpty && matches(EntityToken.of(String(decoding: key.id, as: UTF8.self))) {
      entities.insert(key.id)
      report.historyRowsByGroup[key.storageID, default: 0] += UInt64(stored.count)
      report.onlineRowsByGroup[key.storageID, default: 0] += 1
    }
    report.entities = entities.count
    return report
  }

  mutating func remove(where matches: (UInt64) -> Bool) {
    for (sid, count) in removal(where: matches).historyRowsByGroup { removed[sid, default: 0] += count }
    rows = rows.filter { !matches(EntityToken.of(String(decoding: $0.key.id, as: UTF8.self))) }
  }

  func expectedRowsTotal(_ storageID: UInt32) -> UInt64? {
    guard let count = appended[storageID] else { return nil }
    return count - removed[storageID, default: 0]
  }

  /// Distinct rows stored, all versions, of the entities whose token passes `matches`.
  func storedRows(where matches: (UInt64) -> Bool) -> UInt64 {
    rows.reduce(0) { total, entry in
      total + (matches(EntityToken.of(String(decoding: entry.key.id, as: UTF8.self))) ? UInt64(entry.value.count) : 0)
    }
  }

  /// The tokens of the entities with rows.
  var tokens: Set<UInt64> {
    Set(rows.filter { !$0.value.isEmpty }.keys.map { EntityToken.of(String(decoding: $0.id, as: UTF8.self)) })
  }

  /// Online rows: one per (version, entity) with rows.
  var onlineRows: Int { rows.values.filter { !$0.isEmpty }.count }
}
