import StrataTestSupport
import StrataCore
import Testing

@testable import StrataStorage

/// Random writes through `FeatureStore`, then historical and online reads compared with an oracle
/// computed from the list of written rows alone. Time ranges are tiny so event and created times tie
/// all the time; a few event times are ahead of the clock. The seed is printed; `STRATA_TEST_SEED=<seed>` replays a run.
@Suite("Point-in-time joins against an oracle")
struct PointInTimePropertyTests {
  /// Ids sharing prefixes (u1/u10/u100, a/ab), and two that are equal as Swift strings (canonical
  /// equivalence) but differ in bytes, hence distinct entities.
  static let entities = ["u1", "u10", "u100", "u2", "a", "ab", "\u{E9}t\u{E9}", "e\u{301}t\u{E9}"]
  /// Probed too: ids that were never written, some sharing prefixes with written ones.
  static let probeEntities = entities + ["nobody", "u", "u1000", "abc"]
  static let base = Timestamp.seconds(1_700_000_000)
  static let targetRows = 400
  static let labelCount = 500

  /// Version 1: no max age, defaults on x and s.
  static let v1 = FeatureGroupSpec(
    name: "pit",
    features: [
      FeatureSpec(name: "x", dtype: .int, defaultValue: .int(7)),
      FeatureSpec(name: "y", dtype: .float),
      FeatureSpec(name: "s", dtype: .string, defaultValue: .string("none")),
    ])
  /// Version 2: other features, max age 20 s.
  static let v2 = FeatureGroupSpec(
    name: "pit", maxAgeSeconds: 20,
    features: [
      FeatureSpec(name: "x", dtype: .int),
      FeatureSpec(name: "e", dtype: .embedding(dimension: 2), defaultValue: .embedding([0, 0])),
      FeatureSpec(name: "s", dtype: .string),
    ])
  static let refs = ["pit@1:*", "pit:*", "pit@1:x", "pit@2:e"]

  @Test("historical and online reads match an oracle over random rows with many ties", arguments: EngineKind.allCases)
  func randomPointInTime(kind: EngineKind) async throws {
    let seed = SplitMix64.testSeed()
    print("PointInTimePropertyTests[\(kind)]: seed \(seed) (STRATA_TEST_SEED=\(seed) replays it)")
    var random = SplitMix64(seed: seed)
    let context = "engine \(kind), seed \(seed)"

    try await withStoreDirectory { path in
      let clock = ManualClock(Self.base.adding(microseconds: 40_000_000))
      let store = try FeatureStore(engine: kind.open(at: path), clock: clock.function)
      _ = try await store.apply([Self.v1])
      _ = try await store.apply([Self.v2])
      let versions = [try store.catalog.group(named: "pit", version: 1), try store.catalog.group(named: "pit", version: 2)]

      // MARK: Writes
      var oracle = Oracle()
      var lateMismatches: [String] = []
      var batchCount = 0
      while oracle.rowCount < Self.targetRows {
        if random.below(3) == 0 { clock.advance(microseconds: Int64(random.below(3)) * 1_000_000) }
        let now = clock.now
        let versionIndex = random.below(2)
        let group = versions[versionIndex]
        // A random subset of the features, in random order (the others are null).
        var slots = Array(group.spec.features.indices)
        for i in stride(from: slots.count - 1, to: 0, by: -1) { slots.swapAt(i, random.below(i + 1)) }
        slots = Array(slots.prefix(random.below(slots.count + 1)))
        var rows: [WriteRequest.Row] = []
        var stored: [OracleRow] = []
        for _ in 0..<(1 + random.below(12)) {
          let entity = random.element(of: Self.entities)
          // Now and then an event a little ahead of the clock (allowed: within the skew limit), which
          // online must not serve before its time.
          let event =
            random.below(12) == 0
            ? now.adding(microseconds: Int64(1 + random.below(3)) * 1_000_000 + jitter(&random))
            : Self.base.adding(microseconds: Int64(random.below(30)) * 1_000_000 + jitter(&random))
          let created: Timestamp? =
            random.below(5) < 2 ? nil : Self.base.adding(microseconds: Int64(random.below(8)) * 1_000_000 + jitter(&random))
          var full = [FeatureValue?](repeating: nil, count: group.spec.features.count)
          var values: [FeatureValue?] = []
          for slot in slots {
            let value = random.below(4) == 0 ? nil : randomValue(group.spec.features[slot].dtype, &random)
            values.append(value)
            full[slot] = value
          }
          rows.append(WriteRequest.Row(entityID: entity, eventTime: event, createdTime: created, values: values))
          stored.append(OracleRow(event: event, created: created ?? now, order: 0, values: full))
        }
        let request = WriteRequest(
          group: "pit", version: versionIndex == 1 && random.below(2) == 0 ? nil : versionIndex + 1,
          features: slots.map { group.spec.features[$0].name }, rows: rows)
        let expectedLate = oracle.lateCount(stored, entities: rows.map(\.entityID), storageID: group.storageID)
        let outcome = try await store.write(request)
        oracle.record(stored, entities: rows.map(\.entityID), storageID: group.storageID)
        if outcome != AppendOutcome(rowsWritten: rows.count, lateRows: expectedLate) {
          lateMismatches.append("batch \(batchCount): \(outcome), expected \(rows.count) rows, \(expectedLate) late")
        }
        batchCount += 1
      }
      // A last batch entirely ahead of the clock (1, 2 and 3 s), for entities that have older rows.
      let futureStart = clock.now
      do {
        let group = versions[1]
        var rows: [WriteRequest.Row] = []
        var stored: [OracleRow] = []
        for (k, entity) in ["u1", "u10", "e\u{301}t\u{E9}"].enumerated() {
          let event = futureStart.adding(microseconds: Int64(k + 1) * 1_000_000)
          let values: [FeatureValue?] = [.int(Int64(1_000 + k)), .embedding([1, 2]), .string("future \(k)")]
          rows.append(WriteRequest.Row(entityID: entity, eventTime: event, values: values))
          stored.append(OracleRow(event: event, created: futureStart, order: 0, values: values))
        }
        let expectedLate = oracle.lateCount(stored, entities: rows.map(\.entityID), storageID: group.storageID)
        let outcome = try await store.write(WriteRequest(group: "pit", features: ["x", "e", "s"], rows: rows))
        oracle.record(stored, entities: rows.map(\.entityID), storageID: group.storageID)
        #expect(outcome == AppendOutcome(rowsWritten: 3, lateRows: expectedLate), "\(context)")
      }
      #expect(lateMismatches.isEmpty, "\(lateMismatches.prefix(5)), \(context)")

      // History holds every row, in (event, created, write order) order.
      for group in versions {
        for entity in Self.probeEntities {
          let history = try store.shard.history(entityID: entity, group: group)
          let expected = oracle.rows(group.storageID, entity).sorted { $0.key < $1.key }
          #expect(history.map(\.eventTime) == expected.map(\.event), "\(entity)@\(group.version), \(context)")
          #expect(history.map(\.createdTime) == expected.map(\.created), "\(entity)@\(group.version), \(context)")
          #expect(history.map(\.values) == expected.map(\.values), "\(entity)@\(group.version), \(context)")
        }
      }

      let columns = try store.resolve(Self.refs.map { ref throws(StrataError) in try FeatureRef(parsing: ref) })
      func expectedRow(_ entity: String, _ reference: Timestamp) -> [FeatureResult] {
        columns.map { oracle.result(entity: entity, column: $0, reference: reference) }
      }

      // MARK: (a) Historical, against the oracle
      var labels: [LabelRow] = []
      let labelSpan = Int((futureStart.microseconds - Self.base.microseconds) / 1_000_000) + 10
      for _ in 0..<Self.labelCount {
        let time: Timestamp =
          switch random.below(50) {
          case 0: .min
          case 1: .max
          case 2: .epoch
          default: Self.base.adding(microseconds: Int64(random.below(labelSpan) - 5) * 1_000_000 + jitter(&random))
          }
        labels.append(LabelRow(entityID: random.element(of: Self.probeEntities), time: time))
      }
      let historical = try await store.historical(labels: labels, columns: columns)
      #expect(historical.count == labels.count)
      var mismatches: [String] = []
      for (i, label) in labels.enumerated() {
        let expected = expectedRow(label.entityID, label.time)
        if historical[i] != expected {
          mismatches.append("label \(i) \(label.entityID)@\(label.time.microseconds): got \(historical[i]), expected \(expected)")
        }
      }
      #expect(mismatches.isEmpty, "\(mismatches.count) of \(labels.count) labels differ, e.g. \(mismatches.prefix(3)), \(context)")
      let statuses = Set(historical.joined().map(\.status))
      #expect(statuses == [.present, .defaulted, .missing, .expired], "every status should occur, \(context)")

      // MARK: (b) Online, against the oracle at the clock
      // Before the last batch's event times, between them, and after all of them.
      let small = Self.probeEntities
      // Over 64 (entity, group) keys: served by the storage read threads rather than inline.
      let large = (0..<12).flatMap { _ in Self.probeEntities.shuffledCopy(&random) }
      for step in [0, 2, 2] {
        clock.advance(microseconds: Int64(step) * 1_000_000)
        let now = clock.now
        for request in [small, large] {
          let online = try await store.online(entityIDs: request, columns: columns)
          let expected = request.map { expectedRow($0, now) }
          #expect(online == expected, "online for \(request.count) entities at \(now), \(context)")
        }
        // Online equals historical with the label at the clock.
        let atNow = try await store.historical(labels: small.map { LabelRow(entityID: $0, time: now) }, columns: columns)
        #expect(try await store.online(entityIDs: small, columns: columns) == atNow, "at \(now), \(context)")
      }

      // MARK: (c) Labels in random order with duplicates come back in input order
      let picks = (0..<300).map { _ in random.below(labels.count) }
      let reordered = try await store.historical(labels: picks.map { labels[$0] }, columns: columns)
      #expect(reordered == picks.map { historical[$0] }, "\(context)")
    }
  }
}

// MARK: - Oracle

/// A written row as the oracle keeps it: all slots of its group version, `order` = global write order.
private struct OracleRow {
  var event: Timestamp
  var created: Timestamp
  var order: Int
  var values: [FeatureValue?]

  /// The point-in-time order: event, then created, then write order.
  var key: Key { Key(event: event.microseconds, created: created.microseconds, order: order) }

  struct Key: Comparable {
    var event: Int64
    var created: Int64
    var order: Int

    static func < (a: Key, b: Key) -> Bool { (a.event, a.created, a.order) < (b.event, b.created, b.order) }
  }
}

/// Every written row by (storage id, entity id bytes), computed with no code from the store.
private struct Oracle {
  private var byKey: [String: [OracleRow]] = [:]
  private(set) var rowCount = 0

  /// Entity ids are compared by bytes (as storage does), not by Swift's canonical equivalence.
  private static func key(_ storageID: UInt32, _ entity: String) -> String {
    "\(storageID)/" + Array(entity.utf8).map { String($0) }.joined(separator: ",")
  }

  func rows(_ storageID: UInt32, _ entity: String) -> [OracleRow] { byKey[Self.key(storageID, entity)] ?? [] }

  /// Rows of the batch that lose against the best row stored before the batch for their entity.
  func lateCount(_ batch: [OracleRow], entities: [String], storageID: UInt32) -> Int {
    zip(batch, entities).filter { row, entity in
      guard let best = rows(storageID, entity).max(by: { $0.key < $1.key }) else { return false }
      // The new row's write order is greater, so it wins iff (event, created) >= the stored row's.
      return (row.event, row.created) < (best.event, best.created)
    }.count
  }

  mutating func record(_ batch: [OracleRow], entities: [String], storageID: UInt32) {
    for (row, entity) in zip(batch, entities) {
      var r = row
      r.order = rowCount
      rowCount += 1
      byKey[Self.key(storageID, entity), default: []].append(r)
    }
  }

  /// MISSION.md: the row with the greatest event <= reference (ties: created, then the later write); older
  /// than reference - max age → EXPIRED (default or null); no row or a null → DEFAULTED / MISSING.
  func result(entity: String, column: ResolvedFeature, reference: Timestamp) -> FeatureResult {
    let spec = column.feature
    let candidates = rows(column.group.storageID, entity).filter { $0.event <= reference }
    guard let winner = candidates.max(by: { $0.key < $1.key }) else {
      return FeatureResult(value: spec.defaultValue, status: spec.defaultValue == nil ? .missing : .defaulted, eventTime: nil)
    }
    if let maxAge = column.group.spec.maxAgeSeconds,
      Int128(winner.event.microseconds) < Int128(reference.microseconds) - Int128(maxAge) * 1_000_000
    {
      return FeatureResult(value: spec.defaultValue, status: .expired, eventTime: winner.event)
    }
    if let value = winner.values[column.featureIndex] {
      return FeatureResult(value: value, status: .present, eventTime: winner.event)
    }
    return FeatureResult(value: spec.defaultValue, status: spec.defaultValue == nil ? .missing : .defaulted, eventTime: winner.event)
  }
}

// MARK: - Random values

/// Mostly whole seconds (ties), sometimes one microsecond either side.
private func jitter(_ random: inout SplitMix64) -> Int64 {
  random.below(6) == 0 ? Int64(random.below(3)) - 1 : 0
}

private func randomValue(_ dtype: DType, _ random: inout SplitMix64) -> FeatureValue {
  switch dtype {
  case .int:
    return .int(random.below(4) == 0 ? random.element(of: [0, -1, .min, .max]) : Int64(random.below(100)))
  case .float:
    return .float(random.below(4) == 0 ? random.element(of: [0, -0.0, 1e300, -2.5]) : Double(random.below(1000)) / 8)
  case .string:
    return .string(random.below(4) == 0 ? random.element(of: ["", "é", "日本", "🙂"]) : "s\(random.below(50))")
  case .embedding(let dimension):
    return .embedding((0..<dimension).map { _ in Float(random.below(200)) / 4 - 25 })
  }
}

extension Array {
  fileprivate func shuffledCopy(_ random: inout SplitMix64) -> [Element] {
    var out = self
    for i in stride(from: out.count - 1, to: 0, by: -1) { out.swapAt(i, random.below(i + 1)) }
    return out
  }
}
