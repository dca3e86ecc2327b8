import StrataCore
import StrataTestSupport
import Testing

@testable import StrataStorage

/// The order key `(event, created, write id)` that exports and lookups report with `withOrder` (what a
/// coordinator merges replicas' answers by), against an oracle computed from the written rows alone.
///
/// Rows carry random write ids (internode writes, `.accept`), so among rows equal on event and created
/// time the winner is the greatest id, not the last one written; event and created times are drawn
/// from a few seconds, so they tie all the time. Labels have a known-at time a third of the time.
/// Random tests print their seed; `STRATA_TEST_SEED=<seed>` replays a run.
@Suite("Row orders: the order key of the answering row, against an oracle")
struct RowOrderPropertyTests {
  static let entities = ["u1", "u10", "u2", "a", "ab", "\u{E9}", "e\u{301}", "k7", "k8", "k9"]
  /// Probed too: ids never written ("new" is, after the image, by `imageThenWrites`).
  static let probeEntities = entities + ["nobody", "u", "abc", "new"]
  static let base = Timestamp.seconds(1_700_000_000)
  /// Two groups; the columns name `b` first, so the orders come as [b, a].
  static let a = FeatureGroupSpec(
    name: "a", maxAgeSeconds: 3,
    features: [FeatureSpec(name: "x", dtype: .int, defaultValue: .int(1)), FeatureSpec(name: "s", dtype: .string)])
  static let b = FeatureGroupSpec(
    name: "b", features: [FeatureSpec(name: "y", dtype: .float), FeatureSpec(name: "e", dtype: .embedding(dimension: 2))])
  static let refs = ["b:y", "a:*", "b:*"]

  /// Where the export's labels are answered from.
  enum Source: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// Images disabled: every label from storage (`AsOfJoin`).
    case storage
    /// An image built by the export itself: labels without known-at from it.
    case image
    /// An image built, then more rows written: their entities' labels from storage, the others' from
    /// the (kept, stale) image.
    case imageThenWrites

    var policy: HistoryImagePolicy {
      switch self {
      case .storage: .disabled
      case .image, .imageThenWrites: HistoryImagePolicy(budgetBytes: 1 << 30, minLabelsToBuild: 1, maxStaleFraction: 1e9)
      }
    }

    var testDescription: String { rawValue }
  }

  @Test("historicalColumns withOrder reports exactly the oracle's winning (event, created, write id)", arguments: EngineKind.allCases, Source.allCases)
  func historicalOrders(kind: EngineKind, source: Source) async throws {
    var random = SplitMix64.forTest("RowOrderPropertyTests.historical[\(kind), \(source)]")
    let context = "engine \(kind), source \(source), \(random.seedDescription)"
    try await withStoreDirectory { path in
      let clock = ManualClock(Self.base.adding(microseconds: 20_000_000))
      let store = try FeatureStore(engine: kind.open(at: path), imagePolicy: source.policy, clock: clock.function)
      _ = try await store.apply([Self.a, Self.b])
      var oracle = Oracle()
      try await oracle.writeRandom(store, rows: 500, &random)
      let columns = try store.resolve(Self.refs.map { ref throws(StrataError) in try FeatureRef(parsing: ref) })
      let groups = [try store.catalog.group(named: "b"), try store.catalog.group(named: "a")]

      if source == .imageThenWrites {
        // Builds both images, then writes past them.
        _ = try await store.historicalColumns(labels: [LabelRow(entityID: "u1", time: .max)], columns: columns)
        #expect(store.historyImages.images == 2, "\(context)")
        // Both groups get rows after their image (else one group would answer every label from its
        // image, and the check below that touched entities read storage would fail for it).
        for spec in [Self.a, Self.b] {
          try await oracle.writeRandom(store, rows: 30, entities: ["u1", "a", "k9", "new"], only: spec, &random)
        }
      }

      let labels = Self.randomLabels(2_500, &random)
      #expect(labels.count > AsOfJoin.parallelThreshold)
      let (blocks, orders) = try await store.historicalColumns(labels: labels, columns: columns, withOrder: true)
      // Where the labels were answered from is what the scenario says.
      for g in groups {
        let chosen = try FeatureStore.choose(labels, group: g, shard: store.shard, policy: source.policy, parallelism: 1)
        switch source {
        case .storage: #expect(chosen.image == nil, "\(context)")
        case .image: #expect(chosen.image != nil && chosen.refs.contains { $0 >= 0 }, "\(context)")
        case .imageThenWrites:
          #expect(chosen.image != nil && chosen.refs.contains { $0 >= 0 }, "\(context)")
          #expect(chosen.refs.enumerated().contains { i, r in r <= -2 && labels[i].knownAt == nil }, "touched entities read storage, \(context)")
        }
      }

      #expect(orders.count == groups.count, "\(context)")
      for (g, group) in groups.enumerated() where g < orders.count {
        #expect(orders[g].count == labels.count, "\(context)")
        var mismatches: [String] = []
        var found = 0
        for (i, label) in labels.enumerated() {
          let expected = oracle.winner(group.storageID, label.entityID, asOf: label.time, knownAt: label.knownAt)
          let got = orders[g][i]
          if expected != nil { found += 1 }
          if got.map({ OrderKey($0) }) != expected || (expected == nil && Self.hasNonZero(orders[g], i)) {
            mismatches.append("label \(i) \(label): got \(String(describing: got)), expected \(String(describing: expected))")
          }
        }
        #expect(mismatches.isEmpty, "\(group.qualifiedName): \(mismatches.count) labels differ, e.g. \(mismatches.prefix(3)), \(context)")
        #expect(found > labels.count / 4 && found < labels.count, "labels with and without a row, \(context)")
      }
      // The values are those of the fast path without orders, which asks for none.
      let plain = try await store.historicalColumns(labels: labels, columns: columns, withOrder: false)
      #expect(plain.orders.isEmpty && plain.blocks == blocks, "\(context)")
    }
  }

  @Test("online withOrder reports the oracle's winner at the clock, inline and on the read threads", arguments: EngineKind.allCases)
  func onlineOrders(kind: EngineKind) async throws {
    var random = SplitMix64.forTest("RowOrderPropertyTests.online[\(kind)]")
    let context = "engine \(kind), \(random.seedDescription)"
    try await withStoreDirectory { path in
      // Event times reach base + 8 s: rows after the clock (base + 5 s) are not served yet.
      let clock = ManualClock(Self.base.adding(microseconds: 5_000_000))
      let store = try FeatureStore(engine: kind.open(at: path), clock: clock.function)
      _ = try await store.apply([Self.a, Self.b])
      var oracle = Oracle()
      try await oracle.writeRandom(store, rows: 400, &random)
      let columns = try store.resolve(Self.refs.map { ref throws(StrataError) in try FeatureRef(parsing: ref) })
      let groups = [try store.catalog.group(named: "b"), try store.catalog.group(named: "a")]
      let small = Self.probeEntities
      // Over `FeatureStore.inlineLookupKeys` keys: answered on the read threads.
      let large = (0..<(FeatureStore.inlineLookupKeys / 2 + 1)).map { _ in random.element(of: Self.probeEntities) }
      var futureSkipped = 0
      for step in [0, 2_000_000, 2_000_000] {
        clock.advance(microseconds: Int64(step))
        let now = clock.now
        let inline = try #require(try store.onlineInline(entityIDs: small, columns: columns, withOrder: true))
        #expect(try store.onlineInline(entityIDs: large, columns: columns, withOrder: true) == nil, "\(context)")
        let smallAnswer = try await store.online(entityIDs: small, columns: columns, withOrder: true)
        let largeAnswer = try await store.online(entityIDs: large, columns: columns, withOrder: true)
        for (ids, answer) in [(small, inline), (small, smallAnswer), (large, largeAnswer)] {
          let plain = try await store.online(entityIDs: ids, columns: columns)
          #expect(answer.vectors == plain, "\(context)")
          #expect(answer.orders.count == groups.count, "\(context)")
          for (g, group) in groups.enumerated() where g < answer.orders.count {
            var mismatches: [String] = []
            for (i, id) in ids.enumerated() {
              let expected = oracle.winner(group.storageID, id, asOf: now, knownAt: nil)
              let got = answer.orders[g][i]
              if got.map({ OrderKey($0) }) != expected || (expected == nil && Self.hasNonZero(answer.orders[g], i)) {
                mismatches.append("\(id): got \(String(describing: got)), expected \(String(describing: expected))")
              }
              if oracle.winner(group.storageID, id, asOf: .max, knownAt: nil) != expected { futureSkipped += 1 }
            }
            #expect(mismatches.isEmpty, "\(group.qualifiedName) at \(now): \(mismatches.prefix(3)), \(context)")
          }
        }
      }
      #expect(futureSkipped > 0, "some online rows were still in the future, \(context)")
      let plain = try await store.online(entityIDs: small, columns: columns, withOrder: false)
      #expect(plain.orders.isEmpty, "\(context)")
    }
  }

  static func randomLabels(_ count: Int, _ random: inout SplitMix64) -> [LabelRow] {
    (0..<count).map { _ in
      let time: Timestamp =
        switch random.below(40) {
        case 0: .min
        case 1: .max
        default: base.adding(microseconds: Int64(random.below(11) - 1) * 1_000_000 + jitter(&random))
        }
      let knownAt = random.below(3) == 0 ? base.adding(microseconds: Int64(random.below(5)) * 1_000_000 + jitter(&random)) : nil
      return LabelRow(entityID: random.element(of: probeEntities), time: time, knownAt: knownAt)
    }
  }

  /// Whether entry `i` has any non-zero key (where nothing was found, all must be 0).
  static func hasNonZero(_ orders: RowOrders, _ i: Int) -> Bool {
    orders.found[i] != 0 || orders.eventTimes[i] != 0 || orders.createdTimes[i] != 0 || orders.sequences[i] != 0
  }
}

/// An order key as the oracle computes it.
private struct OrderKey: Comparable, CustomStringConvertible {
  var event: Int64
  var created: Int64
  var id: UInt64

  init(event: Int64, created: Int64, id: UInt64) {
    self.event = event
    self.created = created
    self.id = id
  }

  init(_ reported: (eventTime: Timestamp, createdTime: Timestamp, sequence: UInt64)) {
    self.init(event: reported.eventTime.microseconds, created: reported.createdTime.microseconds, id: reported.sequence)
  }

  static func < (l: Self, r: Self) -> Bool { (l.event, l.created, l.id) < (r.event, r.created, r.id) }

  var description: String { "(\(event), \(created), \(id))" }
}

/// Every written row's key by (storage id, entity id bytes), with no code from the store.
private struct Oracle {
  private var rows: [String: [OrderKey]] = [:]
  private var usedIDs = Set<UInt64>()

  private static func key(_ sid: UInt32, _ entity: String) -> String {
    "\(sid)/" + entity.utf8.map(String.init).joined(separator: ",")
  }

  /// The greatest key with `event <= asOf` (and `created <= knownAt`), or nil.
  func winner(_ sid: UInt32, _ entity: String, asOf: Timestamp, knownAt: Timestamp?) -> OrderKey? {
    (rows[Self.key(sid, entity)] ?? [])
      .filter { row in row.event <= asOf.microseconds && (knownAt.map { row.created <= $0.microseconds } ?? true) }
      .max()
  }

  /// Writes about `count` random rows in batches of random groups, with random unique write ids.
  /// `only`: every batch to that group (default: each batch to a or b at random).
  mutating func writeRandom(
    _ store: FeatureStore, rows count: Int, entities: [String] = RowOrderPropertyTests.entities, only: FeatureGroupSpec? = nil,
    _ random: inout SplitMix64
  ) async throws {
    var written = 0
    while written < count {
      let spec = only ?? (random.oneIn(2) ? RowOrderPropertyTests.a : RowOrderPropertyTests.b)
      let group = try store.catalog.group(named: spec.name)
      var batch: [WriteRequest.Row] = []
      for _ in 0..<(1 + random.below(20)) {
        let entity = random.element(of: entities)
        let event = RowOrderPropertyTests.base.adding(microseconds: Int64(random.below(9)) * 1_000_000 + jitter(&random))
        let created = RowOrderPropertyTests.base.adding(microseconds: Int64(random.below(4)) * 1_000_000 + jitter(&random))
        var id: UInt64
        repeat { id = random.oneIn(4) ? UInt64(random.below(64)) : random.next() } while !usedIDs.insert(id).inserted
        let values: [FeatureValue?] = spec.features.map { f in
          if random.oneIn(4) { return nil }
          switch f.dtype {
          case .int: return .int(Int64(random.below(100)))
          case .float: return .float(Double(random.below(100)) / 4)
          case .string: return .string("s\(random.below(9))")
          case .embedding(let d): return .embedding((0..<d).map { _ in Float(random.below(9)) })
          }
        }
        batch.append(WriteRequest.Row(entityID: entity, eventTime: event, createdTime: created, values: values, writeID: WriteID(rawValue: id)))
        rows[Self.key(group.storageID, entity), default: []].append(
          OrderKey(event: event.microseconds, created: created.microseconds, id: id))
      }
      _ = try await store.write(WriteRequest(group: spec.name, features: spec.features.map(\.name), rows: batch), writeIDs: .accept)
      written += batch.count
    }
  }
}

/// Mostly whole seconds (ties), sometimes one microsecond either side.
private func jitter(_ random: inout SplitMix64) -> Int64 {
  random.below(6) == 0 ? Int64(random.below(3)) - 1 : 0
}
