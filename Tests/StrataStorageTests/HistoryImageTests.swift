import StrataCore
import StrataTestSupport
import Synchronization
import Testing

@testable import StrataStorage

/// The export fast path: `HistoryImage` (the columnar in-memory copy of one group version's history),
/// `HistoryImages` (the per-shard cache, its touched entities and its budget) and
/// `FeatureStore.historicalColumns` (labels answered from the image or, for known-at labels and
/// touched entities, from storage).
///
/// Two independent references:
/// - `FeatureStore.historical`, the row form, which always reads storage (`AsOfJoin`): comparing it
///   with `historicalColumns` cross-checks the image path against the storage path;
/// - a brute-force oracle, `PointInTime.latestRow` + `PointInTime.result` over the list of rows the
///   test wrote (no code of the store involved).
/// Row-form results are put into the columnar layout that `ColumnBlock` and the wire contract document
/// (statuses, value mask, dense values with 0 / "" / zeros where null, event time 0 where no row) and
/// compared block for block, values bit for bit.
///
/// Random tests print their seed; `STRATA_TEST_SEED=<seed>` replays a run.
@Suite("History images: image-backed columnar joins against storage and an oracle")
struct HistoryImageTests {
  // MARK: Fixtures

  /// Ids sharing prefixes (u1/u10/u100, a/ab), and two that are equal as Swift strings (canonical
  /// equivalence) but differ in bytes, hence distinct entities (as in `PointInTimePropertyTests`).
  static let entities = ["u1", "u10", "u100", "u2", "a", "ab", "\u{E9}t\u{E9}", "e\u{301}t\u{E9}"]
  /// Probed too: ids never written, some of them prefixes or extensions of written ones.
  static let probeEntities = entities + ["nobody", "u", "u1000", "abc", "e"]

  /// Version 1: no max age, defaults on x and s.
  static let v1 = FeatureGroupSpec(
    name: "img",
    features: [
      FeatureSpec(name: "x", dtype: .int, defaultValue: .int(7)),
      FeatureSpec(name: "y", dtype: .float),
      FeatureSpec(name: "s", dtype: .string, defaultValue: .string("none")),
    ])
  /// Version 2: max age 20 s, an embedding with a default, a string without one, a float default.
  static let v2 = FeatureGroupSpec(
    name: "img", maxAgeSeconds: 20,
    features: [
      FeatureSpec(name: "x", dtype: .int),
      FeatureSpec(name: "e", dtype: .embedding(dimension: 2), defaultValue: .embedding([0.5, -1])),
      FeatureSpec(name: "s", dtype: .string),
      FeatureSpec(name: "y", dtype: .float, defaultValue: .float(2.5)),
    ])
  /// Version 3: max age 5 s, written sparsely.
  static let v3 = FeatureGroupSpec(
    name: "img", maxAgeSeconds: 5,
    features: [
      FeatureSpec(name: "n", dtype: .int),
      FeatureSpec(name: "t", dtype: .string, defaultValue: .string("")),
      FeatureSpec(name: "w", dtype: .embedding(dimension: 3)),
      FeatureSpec(name: "f", dtype: .float, defaultValue: .float(1.5)),
    ])
  /// Every column of every version, plus duplicates.
  static let refs = ["img@1:*", "img@2:*", "img@3:*", "img@1:x", "img@2:e", "img@3:t"]

  /// Builds an image for any chunk of at least one label; rebuilds once 2% of the entities are touched.
  static let forced = HistoryImagePolicy(budgetBytes: 1 << 30, minLabelsToBuild: 1, maxStaleFraction: 0.02)

  // MARK: 1. Random histories

  /// Proves that the image path gives exactly what storage and the oracle give, for every dtype,
  /// every status, nulls, defaults and max age, over histories full of ties on event and created
  /// times, with labels on absent entities, before the first event, on exact event times (and one
  /// microsecond either side), at the extremes of time, and duplicated. The chunk is larger than
  /// `AsOfJoin.parallelThreshold`, so the image lookups are split over threads too. A second, reordered
  /// chunk reuses the images (no new build) and answers identically.
  @Test("image-backed historicalColumns equals storage-backed historical and the oracle over random histories", arguments: EngineKind.allCases)
  func randomHistories(kind: EngineKind) async throws {
    let seed = SplitMix64.testSeed()
    print("HistoryImageTests.randomHistories[\(kind)]: seed \(seed) (STRATA_TEST_SEED=\(seed) replays it)")
    var random = SplitMix64(seed: seed)
    let context = "engine \(kind), seed \(seed)"

    try await withStoreDirectory { path in
      var h = try await Harness.open(kind, at: path, policy: Self.forced)
      try await h.writeRandomHistory([180, 180, 40], &random)
      let columns = try h.resolve(Self.refs)
      let labels = h.randomLabels(2_600, &random)
      #expect(labels.count > AsOfJoin.parallelThreshold)

      let got = try await h.store.historicalColumns(labels: labels, columns: columns)
      let summary = h.store.shard.images.summary
      #expect(summary.builds == 3 && summary.images == 3, "one image per version: \(summary), \(context)")
      for group in h.versions {
        let chosen = try h.choose(labels, group)
        #expect(chosen.image != nil && chosen.stored.isEmpty, "\(group.qualifiedName) answered from its image, \(context)")
        #expect(chosen.refs.contains { $0 >= 0 }, "\(group.qualifiedName): some labels find an image row, \(context)")
      }

      let storage = try await h.store.historical(labels: labels, columns: columns)
      let oracle = h.oracle.results(labels, columns)
      expectSameRows(storage, oracle, labels, "storage vs oracle, \(context)")
      expectSameColumns(got, columnBlocks(storage, columns), columns, labels, "image vs storage, \(context)")
      expectSameColumns(got, columnBlocks(oracle, columns), columns, labels, "image vs oracle, \(context)")
      let statuses = Set(got.flatMap(\.statuses))
      #expect(statuses == Set([ValueStatus.present, .defaulted, .missing, .expired].map(ColumnBlock.code)), "every status occurs, \(context)")

      // A reordered chunk with duplicates: no rebuild, same answers.
      let picks = (0..<700).map { _ in random.below(labels.count) }
      let again = try await h.store.historicalColumns(labels: picks.map { labels[$0] }, columns: columns)
      #expect(h.store.shard.images.summary.builds == 3, "\(context)")
      expectSameColumns(again, columnBlocks(picks.map { oracle[$0] }, columns), columns, picks.map { labels[$0] }, "reordered chunk, \(context)")
    }
  }

  // MARK: 2. Writes after the image

  /// Whether the image is rebuilt once written to (maxStaleFraction 0) or never (huge fraction, so
  /// touched entities are answered from storage for ever).
  enum Rebuild: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case never
    case onWrite

    var maxStaleFraction: Double { self == .never ? 1e9 : 0 }
    var testDescription: String { rawValue }
  }

  /// Proves that rows written after an image's scan are never missed: new entities (one of them an
  /// extension of an existing id), a new latest event, and late corrections of an existing (entity,
  /// event) with a later created time (wins), the same created time (the later write wins) and an
  /// earlier one (loses). Version 1 is written after its image exists, versions 2 and 3 are not.
  /// `never`: the written entities, and only they, are recorded as touched and routed to storage, the
  /// image object stays the same and (shown explicitly) would answer the corrected labels wrongly on
  /// its own. `onWrite`: the next chunk rebuilds version 1's image only and clears its touched set.
  /// Either way every chunk equals the oracle and storage.
  @Test("writes after the image are answered from storage (or trigger a rebuild) and never missed", arguments: EngineKind.allCases, Rebuild.allCases)
  func writesAfterTheImage(kind: EngineKind, rebuild: Rebuild) async throws {
    let seed = SplitMix64.testSeed()
    print("HistoryImageTests.writesAfterTheImage[\(kind), \(rebuild)]: seed \(seed) (STRATA_TEST_SEED=\(seed) replays it)")
    var random = SplitMix64(seed: seed)
    let context = "engine \(kind), rebuild \(rebuild), seed \(seed)"
    let policy = HistoryImagePolicy(budgetBytes: 1 << 30, minLabelsToBuild: 1, maxStaleFraction: rebuild.maxStaleFraction)

    try await withStoreDirectory { path in
      var h = try await Harness.open(kind, at: path, policy: policy)
      try await h.writeRandomHistory([120, 120, 30], &random)
      let columns = try h.resolve(Self.refs)
      let (v1, v2, v3) = (h.versions[0], h.versions[1], h.versions[2])
      let images = h.store.shard.images
      var labels = h.randomLabels(400, &random)
      let first = try await h.store.historicalColumns(labels: labels, columns: columns)
      expectSameColumns(first, columnBlocks(h.oracle.results(labels, columns), columns), columns, labels, "before any late write, \(context)")
      #expect(images.summary.builds == 3, "\(context)")
      let untouched = [v2, v3].map { images.image($0.storageID) }
      var builds = 3
      var touchedSinceBuild = Set<UInt64>()
      // Rows the images were scanned from (the corrections below target these).
      let scanned = h.oracle.written.filter { $0.storageID == v1.storageID }

      for round in 0..<3 {
        h.clock.advance(microseconds: 1_000_000)
        let before = try #require(images.image(v1.storageID))
        let marker = Int64(1_000_000 + 10 * round)
        func values(_ k: Int) -> [FeatureValue?] { [.int(marker + Int64(k)), nil, .string("late \(round).\(k)")] }
        // Late corrections of three stored (entity, event) pairs of version 1.
        let targets = (0..<3).map { _ in random.element(of: scanned) }
        var rows: [NewRow] = [
          // Created now: greater than every stored created time, so it wins at its event time.
          NewRow(entity: targets[0].entity, event: targets[0].row.eventTime, created: nil, values: values(0)),
          // The same created time as the stored row: the later write wins the tie if that row was the winner.
          NewRow(entity: targets[1].entity, event: targets[1].row.eventTime, created: targets[1].row.createdTime, values: values(1)),
          // Created at the epoch: loses against everything at its event time.
          NewRow(entity: targets[2].entity, event: targets[2].row.eventTime, created: .epoch, values: values(2)),
          // A new entity, one whose id extends an existing one, and a new latest event.
          NewRow(entity: "new\(round)", event: secs(Int64(random.below(30))), created: nil, values: values(3)),
          NewRow(entity: "u10_\(round)", event: secs(Int64(random.below(30))), created: nil, values: values(4)),
          NewRow(entity: "u1", event: secs(31 + Int64(round)), created: nil, values: values(5)),
        ]
        rows.shuffle(using: &random)
        try await h.write(v1, rows)
        let written = Set(rows.map { EntityToken.of($0.entity) })
        touchedSinceBuild.formUnion(written)
        labels = h.randomLabels(300, &random)
          + rows.flatMap { [LabelRow(entityID: $0.entity, time: $0.event), LabelRow(entityID: $0.entity, time: .max)] }
        let corrected = LabelRow(entityID: targets[0].entity, time: targets[0].row.eventTime)
        let v1x = try #require(columns.firstIndex { $0.group == v1 && $0.featureIndex == 0 })

        if rebuild == .never {
          #expect(images.touched(v1.storageID) == touchedSinceBuild, "round \(round), \(context)")
          #expect(images.touched(v2.storageID) == [] && images.touched(v3.storageID) == [], "round \(round), \(context)")
          // The same image answers, except for the touched entities, which go to storage.
          let chosen = try h.choose(labels, v1)
          #expect(chosen.image === before, "round \(round), \(context)")
          let misrouted = labels.indices.filter { (chosen.refs[$0] <= -2) != touchedSinceBuild.contains(EntityToken.of(labels[$0].entityID)) }
          #expect(misrouted.isEmpty, "round \(round): labels \(misrouted.prefix(5)) routed wrongly, \(context)")
          for group in [v2, v3] {
            let other = try h.choose(labels, group)
            #expect(other.image != nil && other.stored.isEmpty, "\(group.qualifiedName) was not written: all from its image, \(context)")
          }
          // The image alone is stale for the corrected label: routing it to storage is what makes it right.
          let r = before.row(for: corrected.entityID, token: EntityToken.of(corrected.entityID), asOf: corrected.time.microseconds)
          #expect(r >= 0 && before.columns[0].value(Int(r)) != .int(marker), "round \(round), \(context)")
          #expect(h.oracle.row(v1.storageID, corrected)?.values[0] == .int(marker), "round \(round), \(context)")
        }

        let got = try await h.store.historicalColumns(labels: labels, columns: columns)
        let storage = try await h.store.historical(labels: labels, columns: columns)
        let oracle = h.oracle.results(labels, columns)
        expectSameRows(storage, oracle, labels, "round \(round), storage vs oracle, \(context)")
        expectSameColumns(got, columnBlocks(storage, columns), columns, labels, "round \(round), image vs storage, \(context)")
        expectSameColumns(got, columnBlocks(oracle, columns), columns, labels, "round \(round), image vs oracle, \(context)")
        // By bytes: `LabelRow ==` compares ids as Swift strings, for which the NFC / NFD pair is equal.
        let i = try #require(labels.firstIndex { $0.entityID.utf8.elementsEqual(corrected.entityID.utf8) && $0.time == corrected.time })
        #expect(got[v1x].ints[i] == marker, "round \(round): the winning late correction is served, \(context)")

        switch rebuild {
        case .never:
          #expect(images.image(v1.storageID) === before, "round \(round): no rebuild, \(context)")
        case .onWrite:
          builds += 1
          #expect(images.image(v1.storageID) !== before, "round \(round): version 1 rebuilt, \(context)")
          #expect(images.touched(v1.storageID) == [], "round \(round), \(context)")
          #expect(try h.choose(labels, v1).stored.isEmpty, "round \(round): the rebuilt image answers everything, \(context)")
        }
        #expect(images.summary.builds == builds, "round \(round), \(context)")
        #expect([v2, v3].map { images.image($0.storageID) }.elementsEqual(untouched) { $0 === $1 }, "versions 2 and 3 keep their images, \(context)")
      }
    }
  }

  // MARK: 3. Known-at labels

  /// Proves that labels with a known-at time never use the image (which keeps only each event's final
  /// winner) but storage, and give what `historical` and the oracle give, while the other labels of the
  /// same chunk use the image. The hand-made entity "k" has a correction of event 10 created at 50:
  /// the image holds only the correction, yet known at 49 the original value must come back.
  @Test("labels with knownAt on an image-backed join give the storage results", arguments: EngineKind.allCases)
  func knownAtLabels(kind: EngineKind) async throws {
    let seed = SplitMix64.testSeed()
    print("HistoryImageTests.knownAtLabels[\(kind)]: seed \(seed) (STRATA_TEST_SEED=\(seed) replays it)")
    var random = SplitMix64(seed: seed)
    let context = "engine \(kind), seed \(seed)"

    try await withStoreDirectory { path in
      var h = try await Harness.open(kind, at: path, policy: Self.forced)
      try await h.writeRandomHistory([150, 150, 30], &random)
      let v1 = h.versions[0]
      func x(_ n: Int64) -> [FeatureValue?] { [.int(n), nil, nil] }
      try await h.write(v1, [NewRow(entity: "k", event: secs(10), created: secs(11), values: x(1)), NewRow(entity: "k", event: secs(20), created: secs(21), values: x(2))])
      try await h.write(v1, [NewRow(entity: "k", event: secs(10), created: secs(50), values: x(3))])

      let columns = try h.resolve(Self.refs)
      let handMade: [(LabelRow, FeatureResult)] = [
        (LabelRow(entityID: "k", time: secs(15), knownAt: secs(49)), present(.int(1), secs(10))),
        (LabelRow(entityID: "k", time: secs(15)), present(.int(3), secs(10))),
        (LabelRow(entityID: "k", time: secs(10), knownAt: secs(50)), present(.int(3), secs(10))),
        (LabelRow(entityID: "k", time: secs(25), knownAt: secs(20)), present(.int(1), secs(10))),
        (LabelRow(entityID: "k", time: secs(25), knownAt: secs(21)), present(.int(2), secs(20))),
        (LabelRow(entityID: "k", time: secs(25), knownAt: secs(10)), FeatureResult(value: .int(7), status: .defaulted, eventTime: nil)),
      ]
      let labels = h.randomLabels(900, &random, knownAtOneIn: 2) + handMade.map(\.0)
      #expect(labels.contains { $0.knownAt != nil } && labels.contains { $0.knownAt == nil })

      let got = try await h.store.historicalColumns(labels: labels, columns: columns)
      #expect(h.store.shard.images.summary.builds == 3, "\(context)")
      for group in h.versions {
        let chosen = try h.choose(labels, group)
        #expect(chosen.image != nil, "\(context)")
        let misrouted = labels.indices.filter { (chosen.refs[$0] <= -2) != (labels[$0].knownAt != nil) }
        #expect(misrouted.isEmpty, "\(group.qualifiedName): labels \(misrouted.prefix(5)) routed wrongly, \(context)")
      }
      let storage = try await h.store.historical(labels: labels, columns: columns)
      let oracle = h.oracle.results(labels, columns)
      expectSameRows(storage, oracle, labels, "storage vs oracle, \(context)")
      expectSameColumns(got, columnBlocks(storage, columns), columns, labels, "image vs storage, \(context)")
      expectSameColumns(got, columnBlocks(oracle, columns), columns, labels, "image vs oracle, \(context)")

      let v1x = try #require(columns.firstIndex { $0.group == v1 && $0.featureIndex == 0 })
      let offset = labels.count - handMade.count
      let handBlock = columnBlocks(handMade.map { [$0.1] }, [columns[v1x]])[0]
      expectSameColumns([slice(got[v1x], offset..<labels.count, dtype: .int)], [handBlock], [columns[v1x]], handMade.map(\.0), "hand-made k, \(context)")
    }
  }

  // MARK: 4. Policy edges

  /// Budgets around the estimate of version 1 (rows written × `HistoryImage.bytesPerRow`).
  enum Budget: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case oneByte
    case oneByteShort
    case fits

    var testDescription: String { rawValue }
  }

  /// Proves that a budget too small for a version's history builds and holds no image and that
  /// answers then come from storage, still exact: one byte, and one byte short of the row estimate
  /// (refused before any scan). A budget that fits (twice the row estimate: the image also holds its
  /// entities and directory, so the estimate alone is a lower bound) builds the image.
  @Test("a budget too small for the history: no image, answers from storage", arguments: EngineKind.allCases, Budget.allCases)
  func budgetTooSmall(kind: EngineKind, budget: Budget) async throws {
    let seed = SplitMix64.testSeed()
    print("HistoryImageTests.budgetTooSmall[\(kind), \(budget)]: seed \(seed) (STRATA_TEST_SEED=\(seed) replays it)")
    var random = SplitMix64(seed: seed)
    let context = "engine \(kind), budget \(budget), seed \(seed)"
    let rows = 160
    let estimate = rows * HistoryImage.bytesPerRow(Self.v1.features.map(\.dtype))
    let bytes = switch budget {
    case .oneByte: 1
    case .oneByteShort: estimate - 1
    case .fits: estimate * 2
    }
    let policy = HistoryImagePolicy(budgetBytes: bytes, minLabelsToBuild: 1, maxStaleFraction: 0.02)

    try await withStoreDirectory { path in
      var h = try await Harness.open(kind, at: path, policy: policy)
      try await h.writeRandomHistory([rows, 40, 10], &random)
      let v1 = h.versions[0]
      #expect(h.store.shard.writeStats[v1.storageID]?.rowsTotal == UInt64(rows))
      let columns = try h.resolve(["img@1:*"])
      let labels = h.randomLabels(500, &random)
      let got = try await h.store.historicalColumns(labels: labels, columns: columns)
      expectSameColumns(got, columnBlocks(h.oracle.results(labels, columns), columns), columns, labels, "\(context)")
      let summary = h.store.shard.images.summary
      let built = budget == .fits ? 1 : 0
      #expect(summary.images == built && summary.builds == built, "\(summary), \(context)")
      #expect((try h.choose(labels, v1).image != nil) == (budget == .fits), "\(context)")
    }
  }

  /// Proves that `HistoryImagePolicy.disabled` never builds an image (not even for a huge chunk) and
  /// answers exactly from storage.
  @Test("HistoryImagePolicy.disabled builds no image", arguments: EngineKind.allCases)
  func disabledPolicy(kind: EngineKind) async throws {
    let seed = SplitMix64.testSeed()
    print("HistoryImageTests.disabledPolicy[\(kind)]: seed \(seed) (STRATA_TEST_SEED=\(seed) replays it)")
    var random = SplitMix64(seed: seed)
    try await withStoreDirectory { path in
      var h = try await Harness.open(kind, at: path, policy: .disabled)
      try await h.writeRandomHistory([80, 80, 20], &random)
      let columns = try h.resolve(Self.refs)
      let labels = h.randomLabels(300, &random)
      let got = try await h.store.historicalColumns(labels: labels, columns: columns)
      expectSameColumns(got, columnBlocks(h.oracle.results(labels, columns), columns), columns, labels, "seed \(seed)")
      #expect(try h.store.shard.imageForJoin(h.versions[0], labels: 1_000_000, policy: .disabled) == nil)
      let summary = h.store.shard.images.summary
      #expect(summary.images == 0 && summary.builds == 0, "\(summary)")
    }
  }

  /// Proves what a node that stops relies on (`LocalShard.stopImageBuilds`): a build that reads past
  /// the stop gives up (UNAVAILABLE, no image kept, the version free to build later), and once
  /// stopped no build starts, while exports still answer (from storage).
  @Test("after stopImageBuilds no image build runs or starts; a build in progress gives up", arguments: EngineKind.allCases)
  func stoppedBuilds(kind: EngineKind) async throws {
    let seed = SplitMix64.testSeed()
    print("HistoryImageTests.stoppedBuilds[\(kind)]: seed \(seed) (STRATA_TEST_SEED=\(seed) replays it)")
    var random = SplitMix64(seed: seed)
    try await withStoreDirectory { path in
      var h = try await Harness.open(kind, at: path, policy: Self.forced)
      try await h.writeRandomHistory([5_000, 60, 0], &random)
      // A build whose stop arrives while it scans: it throws and keeps nothing.
      let cursor = try h.store.shard.engine.makeCursor(in: .history)
      let asked = Mutex(0)
      #expect(throws: StrataError.self) {
        _ = try HistoryImage.build(
          from: cursor, group: h.versions[0], expectedRows: 5_000, maxBytes: 1 << 30,
          stop: { asked.withLock { $0 += 1; return true } })
      }
      #expect(asked.withLock { $0 } == 1, "asked once, at the 4,096th key")
      #expect(h.store.shard.stopImageBuilds(timeout: .seconds(5)))
      #expect(try h.store.shard.imageForJoin(h.versions[0], labels: 1_000_000, policy: Self.forced) == nil)
      let summary = h.store.shard.images.summary
      #expect(summary.images == 0 && summary.builds == 0, "\(summary)")
      let columns = try h.resolve(["img@1:*"])
      let labels = h.randomLabels(200, &random)
      let got = try await h.store.historicalColumns(labels: labels, columns: columns)
      expectSameColumns(got, columnBlocks(h.oracle.results(labels, columns), columns), columns, labels, "seed \(seed)")
      #expect(h.store.shard.images.summary.builds == 0)
    }
  }

  /// Proves that a version with no rows builds no image (there is nothing to scan) and answers
  /// DEFAULTED / MISSING without an event time, while a written version of the same chunk is imaged.
  @Test("a version without rows builds no image", arguments: EngineKind.allCases)
  func versionWithoutRows(kind: EngineKind) async throws {
    let seed = SplitMix64.testSeed()
    print("HistoryImageTests.versionWithoutRows[\(kind)]: seed \(seed) (STRATA_TEST_SEED=\(seed) replays it)")
    var random = SplitMix64(seed: seed)
    try await withStoreDirectory { path in
      var h = try await Harness.open(kind, at: path, policy: Self.forced)
      try await h.writeRandomHistory([60, 0, 0], &random)
      let columns = try h.resolve(["img@1:*", "img@2:*"])
      let labels = h.randomLabels(200, &random)
      let got = try await h.store.historicalColumns(labels: labels, columns: columns)
      expectSameColumns(got, columnBlocks(h.oracle.results(labels, columns), columns), columns, labels, "seed \(seed)")
      #expect(h.store.shard.images.image(h.versions[1].storageID) == nil)
      let summary = h.store.shard.images.summary
      #expect(summary.images == 1 && summary.builds == 1, "\(summary)")
      for (j, column) in columns.enumerated() where column.group == h.versions[1] {
        #expect(Set(got[j].statuses) == [ColumnBlock.code(column.feature.defaultValue == nil ? .missing : .defaulted)])
        #expect(got[j].eventTimes.allSatisfy { $0 == 0 })
      }
    }
  }

  /// Proves `minLabelsToBuild`: a chunk smaller than it builds nothing (storage answers), one of that
  /// size builds, and a later small chunk uses the existing image (no new build, labels answered from
  /// image rows), even once it is stale: then its touched entities go to storage until a chunk large
  /// enough rebuilds it.
  @Test("minLabelsToBuild: small chunks never build but use an existing image", arguments: EngineKind.allCases)
  func minLabelsToBuild(kind: EngineKind) async throws {
    let seed = SplitMix64.testSeed()
    print("HistoryImageTests.minLabelsToBuild[\(kind)]: seed \(seed) (STRATA_TEST_SEED=\(seed) replays it)")
    var random = SplitMix64(seed: seed)
    let context = "engine \(kind), seed \(seed)"
    let policy = HistoryImagePolicy(budgetBytes: 1 << 30, minLabelsToBuild: 50, maxStaleFraction: 0.02)

    try await withStoreDirectory { path in
      var h = try await Harness.open(kind, at: path, policy: policy)
      let v1 = h.versions[0]
      try await h.write(v1, [NewRow(entity: "u1", event: secs(1), created: nil, values: [.int(1), nil, nil])])
      try await h.writeRandomHistory([100, 40, 10], &random)
      let columns = try h.resolve(["img@1:*"])
      let images = h.store.shard.images
      /// Joins `count` random labels (plus `extra`), checks them against the oracle, returns them.
      func join(_ count: Int, extra: [LabelRow] = [], _ step: String) async throws -> [LabelRow] {
        let labels = h.randomLabels(count - extra.count, &random) + extra
        let got = try await h.store.historicalColumns(labels: labels, columns: columns)
        expectSameColumns(got, columnBlocks(h.oracle.results(labels, columns), columns), columns, labels, "\(step), \(context)")
        return labels
      }

      let small = try await join(49, "49 labels")
      #expect(images.summary.builds == 0, "\(context)")
      #expect(try h.choose(small, v1).image == nil, "\(context)")
      _ = try await join(50, "50 labels")
      #expect(images.summary.builds == 1, "\(context)")
      let image = try #require(images.image(v1.storageID))

      let five = try await join(5, extra: [LabelRow(entityID: "u1", time: .max)], "5 labels")
      #expect(images.summary.builds == 1, "\(context)")
      let chosen = try h.choose(five, v1)
      #expect(chosen.image === image && chosen.stored.isEmpty, "the small chunk used the image, \(context)")
      #expect(chosen.refs.last.map { $0 >= 0 } == true, "u1's latest row comes from the image, \(context)")

      // Stale (1 touched entity of 8 > 2%), but a small chunk does not rebuild: u1 goes to storage.
      try await h.write(v1, [NewRow(entity: "u1", event: secs(29), created: nil, values: [.int(4_242), nil, .string("fresh")])])
      let stale = try await join(5, extra: [LabelRow(entityID: "u1", time: .max)], "5 labels, stale image")
      #expect(images.summary.builds == 1 && images.image(v1.storageID) === image, "\(context)")
      let staleChoice = try h.choose(stale, v1)
      #expect(staleChoice.refs.last.map { $0 <= -2 } == true, "u1 is touched: from storage, \(context)")
      _ = try await join(60, "60 labels, stale image")
      #expect(images.summary.builds == 2 && images.image(v1.storageID) !== image && images.touched(v1.storageID) == [], "\(context)")
    }
  }

  /// Proves eviction: with a budget that fits either version's image but not both, joining the two
  /// versions alternately holds at most one image (the last one built, the least recently used one
  /// evicted), rebuilds on every switch, and stays exact; a chunk reading both versions at once too
  /// (the evicted image is still used by the chunk that held it).
  @Test("eviction: a budget for one image, two versions joined alternately", arguments: EngineKind.allCases)
  func eviction(kind: EngineKind) async throws {
    let seed = SplitMix64.testSeed()
    print("HistoryImageTests.eviction[\(kind)]: seed \(seed) (STRATA_TEST_SEED=\(seed) replays it)")
    var random = SplitMix64(seed: seed)
    let context = "engine \(kind), seed \(seed)"
    let counts = [120, 100, 0]
    let estimates = zip(counts, [Self.v1, Self.v2]).map { $0 * HistoryImage.bytesPerRow($1.features.map(\.dtype)) }
    // The estimate counts rows only; an image also holds its entities (ids, offsets) and a token
    // directory, a few percent here: 25% headroom fits either image, and the premise check below
    // makes sure that both together still do not fit.
    let budget = estimates.max()! * 5 / 4
    let policy = HistoryImagePolicy(budgetBytes: budget, minLabelsToBuild: 1, maxStaleFraction: 0.02)

    try await withStoreDirectory { path in
      var h = try await Harness.open(kind, at: path, policy: policy)
      try await h.writeRandomHistory(counts, &random)
      let images = h.store.shard.images
      let pair = [h.versions[0], h.versions[1]]
      var held: [Int] = []
      for step in 0..<4 {
        let group = pair[step % 2]
        let columns = try h.resolve(["img@\(group.version):*"])
        let labels = h.randomLabels(200, &random)
        let got = try await h.store.historicalColumns(labels: labels, columns: columns)
        expectSameColumns(got, columnBlocks(h.oracle.results(labels, columns), columns), columns, labels, "step \(step), \(context)")
        let summary = images.summary
        #expect(summary.images == 1 && summary.builds == step + 1, "step \(step): \(summary), \(context)")
        #expect(images.image(group.storageID) != nil && images.image(pair[1 - step % 2].storageID) == nil, "step \(step), \(context)")
        held.append(summary.bytes)
      }
      #expect(held[0] + held[1] > budget, "premise: both images together exceed the budget (\(held), \(budget))")

      let columns = try h.resolve(["img@1:*", "img@2:*"])
      let labels = h.randomLabels(300, &random)
      let got = try await h.store.historicalColumns(labels: labels, columns: columns)
      expectSameColumns(got, columnBlocks(h.oracle.results(labels, columns), columns), columns, labels, "both versions, \(context)")
      let summary = images.summary
      #expect(summary.images == 1 && summary.builds == 6, "\(summary), \(context)")
    }
  }

  /// Demonstrates a budget bug: the admission check (`LocalShard.imageForJoin`'s estimate, and
  /// `HistoryImage.build`'s size check) counts 16 bytes per string value (`HistoryImage.bytesPerRow`)
  /// whatever its length, while the image holds every string's bytes (counted by `byteSize`). So a
  /// history of long strings builds and keeps an image many times larger than `budgetBytes`, contrary
  /// to "a group version whose image would not fit is always read from storage". Answers stay exact.
  @Test("long strings: an image over the budget is neither built nor held", arguments: EngineKind.allCases)
  func longStringsRespectTheBudget(kind: EngineKind) async throws {
    let notes = FeatureGroupSpec(name: "notes", features: [FeatureSpec(name: "text", dtype: .string)])
    let rows = 40
    let budget = rows * HistoryImage.bytesPerRow([.string])
    let policy = HistoryImagePolicy(budgetBytes: budget, minLabelsToBuild: 1, maxStaleFraction: 0.02)

    try await withStoreDirectory { path in
      let clock = ManualClock(secs(40))
      let store = try FeatureStore(engine: kind.open(at: path), imagePolicy: policy, clock: clock.function)
      _ = try await store.apply([notes])
      let text = (0..<rows).map { "note \($0) " + String(repeating: "é", count: 1_000) }
      _ = try await store.write(
        WriteRequest(
          group: "notes", features: ["text"],
          rows: (0..<rows).map { WriteRequest.Row(entityID: "n\($0)", eventTime: secs(Int64($0 % 30)), values: [.string(text[$0])]) }))
      let columns = try store.resolve([FeatureRef(parsing: "notes:text")])
      let labels = (0..<rows).map { LabelRow(entityID: "n\($0)", time: secs(35)) }
      let got = try await store.historicalColumns(labels: labels, columns: columns)
      #expect(got[0].strings == text && got[0].statuses.allSatisfy { $0 == ColumnBlock.code(.present) })

      let summary = store.shard.images.summary
      #expect(summary.bytes <= budget, "\(summary.images) image(s) of \(summary.bytes) bytes held with a budget of \(budget) bytes")
    }
  }

  // MARK: 5. HistoryImage itself

  /// Proves the image's content and lookup directly, on a shard: one row per distinct (entity, event
  /// time) holding the winner by (created, sequence); `entityCount` counts only the entities of its
  /// group version (another version's rows, with another schema, share the keyspace and are skipped);
  /// `row(for:token:asOf:)` agrees with `PointInTime.latestRow` for every entity (over 300 of them, so
  /// the token directory has many buckets, some empty) at every interesting time; ids that are
  /// prefixes of each other (also 299 / 300 bytes, whose length takes two bytes), and the NFC / NFD
  /// pair, are never confused, and a lookup whose token belongs to another id finds nothing: the id
  /// bytes are compared, not just the token.
  @Test("HistoryImage rows and lookups against the oracle, entity by entity", arguments: EngineKind.allCases)
  func imageAgainstOracle(kind: EngineKind) throws {
    let seed = SplitMix64.testSeed()
    print("HistoryImageTests.imageAgainstOracle[\(kind)]: seed \(seed) (STRATA_TEST_SEED=\(seed) replays it)")
    var random = SplitMix64(seed: seed)
    let context = "engine \(kind), seed \(seed)"
    let long = String(repeating: "z", count: 300)
    let related = [("u", "u1"), ("u1", "u10"), ("u10", "u100"), ("a", "ab"), ("ab", "abc"), (String(long.dropLast()), long), ("\u{E9}t\u{E9}", "e\u{301}t\u{E9}")]
    var entities: [String] = []
    for id in related.flatMap({ [$0.0, $0.1] }) where !entities.contains(where: { $0.utf8.elementsEqual(id.utf8) }) {
      entities.append(id)
    }
    entities += (0..<300).map { "p\($0)" }
    let probes = entities + ["nobody", "only8", "p300", "zz"]

    try kind.withEngine { engine in
      let shard = try LocalShard(engine: engine)
      var oracle = Oracle()
      for _ in 0..<40 {
        var main: [RowToStore] = []
        var other: [RowToStore] = []
        for _ in 0..<(1 + random.below(40)) {
          let entity = random.oneIn(30) ? "only8" : random.element(of: entities)
          let event = Timestamp(microseconds: Int64(random.below(8)))
          let created = Timestamp(microseconds: Int64(random.below(3)))
          if entity == "only8" || random.oneIn(4) {
            other.append(RowToStore(entityID: entity, eventTime: event, createdTime: created, values: [.int(Int64(random.below(9))), nil]))
          } else {
            let values = directGroup.spec.features.map { random.oneIn(4) ? nil : randomValue($0.dtype, &random) }
            main.append(RowToStore(entityID: entity, eventTime: event, createdTime: created, values: values))
          }
        }
        // The oracle's sequence follows write order, as the shard's does.
        for (group, rows) in [(directGroup, main), (otherGroup, other)] where !rows.isEmpty {
          _ = try shard.append(rows, to: group, now: .epoch)
          for row in rows {
            oracle.record(group.storageID, row.entityID, event: row.eventTime, created: row.createdTime, values: row.values)
          }
        }
      }
      let image = try #require(try shard.imageForJoin(directGroup, labels: 1, policy: Self.forced)?.image)
      let otherImage = try #require(try shard.imageForJoin(otherGroup, labels: 1, policy: Self.forced)?.image)
      #expect(shard.images.summary.builds == 2 && shard.images.summary.images == 2)

      for (group, image) in [(directGroup, image), (otherGroup, otherImage)] {
        let sid = group.storageID
        #expect(image.storageID == sid)
        let ids = probes.filter { !oracle.history(sid, $0).isEmpty }
        #expect(image.entityCount == ids.count, "\(group.qualifiedName), \(context)")
        // One row per distinct (entity, event), holding that event's winner; ascending per entity.
        var expected: [Cell] = []
        for id in ids {
          let events = Set(oracle.history(sid, id).map(\.eventTime)).sorted()
          for event in events {
            expected.append(Cell(id: id, event: event.microseconds, values: PointInTime.latestRow(in: oracle.history(sid, id), asOf: event)!.values))
          }
        }
        let dumped = image.dump().map { Cell(id: $0.entityID, event: $0.event, values: $0.values) }
        #expect(image.rowCount == expected.count, "\(group.qualifiedName), \(context)")
        #expect(dumped.sorted() == expected.sorted(), "\(group.qualifiedName), \(context)")
        let unordered = zip(dumped, dumped.dropFirst()).filter { $0.id.utf8.elementsEqual($1.id.utf8) && $0.event >= $1.event }
        #expect(unordered.isEmpty, "events ascend within an entity, \(context)")

        // Every probe id at every interesting time.
        var mismatches: [String] = []
        for id in probes {
          let token = EntityToken.of(id)
          for t in [Int64.min, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, .max] {
            let r = image.row(for: id, token: token, asOf: t)
            let want = PointInTime.latestRow(in: oracle.history(sid, id), asOf: Timestamp(microseconds: t))
            let gotRow: (Int64, [FeatureValue?])? = r < 0 ? nil : (image.events[Int(r)], image.columns.map { $0.has(Int(r)) ? $0.value(Int(r)) : nil })
            if r < -1 || gotRow?.0 != want?.eventTime.microseconds || gotRow?.1 != want?.values {
              mismatches.append("\(Array(id.utf8.prefix(8)))@\(t): row \(r) \(String(describing: gotRow)), expected \(String(describing: want))")
            }
          }
        }
        #expect(mismatches.isEmpty, "\(group.qualifiedName): \(mismatches.count) lookups differ, e.g. \(mismatches.prefix(3)), \(context)")
      }

      // Related ids are distinct entities, each found with its own token and not with the other's.
      for (a, b) in related {
        let (ta, tb) = (EntityToken.of(a), EntityToken.of(b))
        #expect(ta != tb)
        #expect(image.row(for: a, token: tb, asOf: .max) == -1, "\(Array(a.utf8.prefix(8))) with the token of \(Array(b.utf8.prefix(8))), \(context)")
        #expect(image.row(for: b, token: ta, asOf: .max) == -1, "\(Array(b.utf8.prefix(8))) with the token of \(Array(a.utf8.prefix(8))), \(context)")
        let (ra, rb) = (image.row(for: a, token: ta, asOf: .max), image.row(for: b, token: tb, asOf: .max))
        #expect((ra >= 0) == !oracle.history(directGroup.storageID, a).isEmpty, "\(context)")
        #expect((rb >= 0) == !oracle.history(directGroup.storageID, b).isEmpty, "\(context)")
        #expect(ra < 0 || ra != rb, "two ids answered by the same image row, \(context)")
      }
    }
  }

  /// Proves that an image is a snapshot and that writes after it are recorded, per group version:
  /// appending to an imaged version leaves the image object and its rows unchanged, records exactly the
  /// written entities' tokens as touched (a write to another version records nothing here), and a
  /// policy that finds it stale rebuilds it with the new rows and an empty touched set.
  @Test("an image is a snapshot; later writes are recorded as touched, per version", arguments: EngineKind.allCases)
  func snapshotAndTouched(kind: EngineKind) throws {
    try kind.withEngine { engine in
      let shard = try LocalShard(engine: engine)
      func row(_ id: String, _ event: Int64, _ created: Int64, _ n: Int64) -> RowToStore {
        RowToStore(entityID: id, eventTime: Timestamp(microseconds: event), createdTime: Timestamp(microseconds: created), values: [.int(n), nil, nil, nil])
      }
      _ = try shard.append([row("u1", 10, 1, 1), row("u10", 10, 1, 2), row("a", 5, 1, 3)], to: directGroup, now: .epoch)
      let keep = HistoryImagePolicy(budgetBytes: 1 << 30, minLabelsToBuild: 1, maxStaleFraction: 1e9)
      let image = try #require(try shard.imageForJoin(directGroup, labels: 1, policy: keep)?.image)
      #expect(image.entityCount == 3 && image.rowCount == 3)

      // A late correction of u1's event 10 (created later), and a new entity.
      _ = try shard.append([row("u1", 10, 9, 100), row("fresh", 3, 1, 4)], to: directGroup, now: .epoch)
      _ = try shard.append([RowToStore(entityID: "other", eventTime: .epoch, createdTime: .epoch, values: [.int(1), nil])], to: otherGroup, now: .epoch)
      let use = try #require(try shard.imageForJoin(directGroup, labels: 1, policy: keep))
      #expect(use.image === image && image.rowCount == 3 && image.entityCount == 3)
      #expect(use.touched == [EntityToken.of("u1"), EntityToken.of("fresh")])
      #expect(image.row(for: "fresh", token: EntityToken.of("fresh"), asOf: .max) == -1)
      let u1 = image.row(for: "u1", token: EntityToken.of("u1"), asOf: .max)
      #expect(u1 >= 0 && image.columns[0].value(Int(u1)) == .int(1), "the image still holds the value it scanned")
      #expect(shard.images.touched(otherGroup.storageID) == nil, "no image of the other version, nothing recorded")

      let rebuilt = try #require(try shard.imageForJoin(directGroup, labels: 1, policy: Self.forced))
      #expect(rebuilt.image !== image && rebuilt.touched.isEmpty && shard.images.summary.builds == 2)
      #expect(rebuilt.image.entityCount == 4 && rebuilt.image.rowCount == 4)
      let r = rebuilt.image.row(for: "u1", token: EntityToken.of("u1"), asOf: .max)
      #expect(r >= 0 && rebuilt.image.columns[0].value(Int(r)) == .int(100), "the correction won")
      #expect(rebuilt.image.row(for: "fresh", token: EntityToken.of("fresh"), asOf: 3) >= 0)
      #expect(rebuilt.image.row(for: "fresh", token: EntityToken.of("fresh"), asOf: 2) == -1)
    }
  }
}

// MARK: - Groups for the shard-level tests

/// Every dtype, storage id 7.
private let directGroup = FeatureGroup(
  spec: FeatureGroupSpec(
    name: "direct",
    features: [
      FeatureSpec(name: "i", dtype: .int), FeatureSpec(name: "f", dtype: .float), FeatureSpec(name: "s", dtype: .string),
      FeatureSpec(name: "e", dtype: .embedding(dimension: 2)),
    ]),
  version: 1, status: .active, createdAt: .epoch, storageID: 7)

/// Another schema in the same keyspace, storage id 8.
private let otherGroup = FeatureGroup(
  spec: FeatureGroupSpec(name: "other", features: [FeatureSpec(name: "n", dtype: .int), FeatureSpec(name: "z", dtype: .string)]),
  version: 1, status: .active, createdAt: .epoch, storageID: 8)

/// One image row as the tests compare it: id (by bytes), event time, values.
private struct Cell: Equatable, Comparable, CustomStringConvertible {
  var id: String
  var event: Int64
  var values: [FeatureValue?]

  static func == (a: Cell, b: Cell) -> Bool {
    a.id.utf8.elementsEqual(b.id.utf8) && a.event == b.event && a.values.map(bitPatterns) == b.values.map(bitPatterns)
  }

  static func < (a: Cell, b: Cell) -> Bool {
    if !a.id.utf8.elementsEqual(b.id.utf8) { return a.id.utf8.lexicographicallyPrecedes(b.id.utf8) }
    return a.event < b.event
  }

  var description: String { "\(Array(id.utf8.prefix(8)))@\(event): \(values)" }
}

// MARK: - Store harness

private func secs(_ seconds: Int64) -> Timestamp { Timestamp.seconds(1_700_000_000).adding(microseconds: seconds * 1_000_000) }

/// A row to write: `values` has one slot per feature of the group version (nil = null).
private struct NewRow {
  var entity: String
  var event: Timestamp
  /// nil = the store's clock.
  var created: Timestamp?
  var values: [FeatureValue?]
}

/// A `FeatureStore` over a fresh engine with the three versions of `img` applied, its clock, and the
/// oracle's record of every row written through it.
private struct Harness {
  let store: FeatureStore
  let clock: ManualClock
  /// img@1, img@2, img@3.
  let versions: [FeatureGroup]
  var oracle = Oracle()

  static func open(_ kind: EngineKind, at path: String, policy: HistoryImagePolicy) async throws -> Harness {
    let clock = ManualClock(secs(40))
    let store = try FeatureStore(engine: kind.open(at: path), imagePolicy: policy, clock: clock.function)
    for spec in [HistoryImageTests.v1, HistoryImageTests.v2, HistoryImageTests.v3] { _ = try await store.apply([spec]) }
    let catalog = store.catalog
    let versions = [try catalog.group(named: "img", version: 1), try catalog.group(named: "img", version: 2), try catalog.group(named: "img", version: 3)]
    return Harness(store: store, clock: clock, versions: versions)
  }

  func resolve(_ refs: [String]) throws -> [ResolvedFeature] {
    try store.resolve(refs.map { ref throws(StrataError) in try FeatureRef(parsing: ref) })
  }

  /// `FeatureStore.choose` as `historicalColumns` calls it (which may build an image, per the policy).
  func choose(_ labels: [LabelRow], _ group: FeatureGroup) throws -> ChosenRows {
    try FeatureStore.choose(labels, group: group, shard: store.shard, policy: store.imagePolicy, parallelism: store.joinParallelism)
  }

  /// Writes `rows` to `group` through the store, naming the features `slots` (all by default, in that
  /// order; the other slots are written as nulls), and records them in the oracle.
  mutating func write(_ group: FeatureGroup, slots: [Int]? = nil, _ rows: [NewRow]) async throws {
    let slots = slots ?? Array(group.spec.features.indices)
    let request = WriteRequest(
      group: group.name, version: group.version, features: slots.map { group.spec.features[$0].name },
      rows: rows.map { row in
        WriteRequest.Row(entityID: row.entity, eventTime: row.event, createdTime: row.created, values: slots.map { row.values[$0] })
      })
    let now = clock.now
    let outcome = try await store.write(request)
    #expect(outcome.rowsWritten == rows.count)
    for row in rows {
      var full = [FeatureValue?](repeating: nil, count: group.spec.features.count)
      for slot in slots { full[slot] = row.values[slot] }
      oracle.record(group.storageID, row.entity, event: row.event, created: row.created ?? now, values: full)
    }
  }

  /// Writes exactly `counts[v]` random rows to version v + 1, in interleaved batches of 1 to 12 rows
  /// naming a random subset of the features in random order. Event times fall on 30 whole seconds and
  /// created times on 8 (sometimes a microsecond either side, sometimes the clock), so both tie often;
  /// a quarter of the values are null; the clock moves now and then.
  mutating func writeRandomHistory(_ counts: [Int], _ random: inout SplitMix64) async throws {
    var left = counts
    while left.contains(where: { $0 > 0 }) {
      if random.oneIn(3) { clock.advance(microseconds: Int64(random.below(3)) * 1_000_000) }
      var pick = random.below(left.reduce(0, +))
      var v = 0
      while pick >= left[v] {
        pick -= left[v]
        v += 1
      }
      let group = versions[v]
      var slots = Array(group.spec.features.indices)
      slots.shuffle(using: &random)
      slots = Array(slots.prefix(random.below(slots.count + 1)))
      var rows: [NewRow] = []
      for _ in 0..<min(left[v], 1 + random.below(12)) {
        let event = secs(Int64(random.below(30))).adding(microseconds: jitter(&random))
        let created: Timestamp? = random.below(5) < 2 ? nil : secs(Int64(random.below(8))).adding(microseconds: jitter(&random))
        let values = group.spec.features.map { random.oneIn(4) ? nil : randomValue($0.dtype, &random) }
        rows.append(NewRow(entity: random.element(of: HistoryImageTests.entities), event: event, created: created, values: values))
      }
      try await write(group, slots: slots, rows)
      left[v] -= rows.count
    }
  }

  /// `count` labels: random probe entities (absent ones included) at random times from before the
  /// first event to after the last, exact event times of written rows (and a microsecond either
  /// side), the extremes of time, and duplicates of earlier labels. With `knownAtOneIn` n > 0, one
  /// label in n gets a known-at time: a written row's created time (and a microsecond either side),
  /// a random time, a time before anything was created, or the clock.
  func randomLabels(_ count: Int, _ random: inout SplitMix64, knownAtOneIn: Int = 0) -> [LabelRow] {
    let written = oracle.written
    var labels: [LabelRow] = []
    labels.reserveCapacity(count)
    while labels.count < count {
      var label: LabelRow
      switch random.below(20) {
      case 0 where !labels.isEmpty:
        labels.append(random.element(of: labels))
        continue
      case 1:
        label = LabelRow(entityID: random.element(of: HistoryImageTests.probeEntities), time: random.element(of: [.min, .max, .epoch]))
      case 2..<9 where !written.isEmpty:
        let w = random.element(of: written)
        label = LabelRow(entityID: w.entity, time: w.row.eventTime.adding(microseconds: random.element(of: [-1, 0, 0, 0, 1])))
      default:
        let time = secs(Int64(random.below(50)) - 5).adding(microseconds: jitter(&random))
        label = LabelRow(entityID: random.element(of: HistoryImageTests.probeEntities), time: time)
      }
      if knownAtOneIn > 0, random.oneIn(knownAtOneIn) {
        label.knownAt =
          switch random.below(4) {
          case 0 where !written.isEmpty: random.element(of: written).row.createdTime.adding(microseconds: random.element(of: [-1, 0, 1]))
          case 1: secs(-1)
          case 2: clock.now
          default: secs(Int64(random.below(12)))
          }
      }
      labels.append(label)
    }
    return labels
  }
}

// MARK: - Oracle

/// Every written row by (storage id, entity id bytes), with its sequence in write order; answers with
/// `PointInTime.latestRow` and `PointInTime.result` only.
private struct Oracle {
  /// Entity ids are compared by bytes, as storage does, not by Swift's canonical equivalence.
  struct Key: Hashable {
    var storageID: UInt32
    var id: [UInt8]
  }

  private var rows: [Key: [StoredRow]] = [:]
  private(set) var written: [(entity: String, storageID: UInt32, row: StoredRow)] = []
  private var sequence: UInt64 = 0

  mutating func record(_ storageID: UInt32, _ entity: String, event: Timestamp, created: Timestamp, values: [FeatureValue?]) {
    sequence += 1
    let row = StoredRow(eventTime: event, createdTime: created, sequence: sequence, values: values)
    rows[Key(storageID: storageID, id: Array(entity.utf8)), default: []].append(row)
    written.append((entity, storageID, row))
  }

  func history(_ storageID: UInt32, _ entity: String) -> [StoredRow] { rows[Key(storageID: storageID, id: Array(entity.utf8))] ?? [] }

  /// The row answering `label` in version `storageID`: created no later than its known-at time, if any.
  func row(_ storageID: UInt32, _ label: LabelRow) -> StoredRow? {
    var candidates = history(storageID, label.entityID)
    if let knownAt = label.knownAt { candidates = candidates.filter { $0.createdTime <= knownAt } }
    return PointInTime.latestRow(in: candidates, asOf: label.time)
  }

  /// `results[i][j]`: column j for label i, as `FeatureStore.historical` lays them out.
  func results(_ labels: [LabelRow], _ columns: [ResolvedFeature]) -> [[FeatureResult]] {
    let groups = Set(columns.map(\.group.storageID))
    return labels.map { label in
      var chosen: [UInt32: StoredRow?] = [:]
      for sid in groups { chosen[sid] = row(sid, label) }
      return columns.map { c in
        PointInTime.result(row: chosen[c.group.storageID]!, featureIndex: c.featureIndex, group: c.group, reference: label.time)
      }
    }
  }
}

// MARK: - Row form vs columnar form

/// Row-form results (`results[i][j]`) in the columnar layout `ColumnBlock` documents: the status code,
/// 1 where there is a value, the value in the dtype's dense array (0, "" or zeros where null, nothing
/// in the other arrays), and the event time of the row (0 where none).
private func columnBlocks(_ results: [[FeatureResult]], _ columns: [ResolvedFeature]) -> [ColumnBlock] {
  columns.indices.map { j in
    var block = ColumnBlock()
    for row in results {
      let result = row[j]
      block.statuses.append(ColumnBlock.code(result.status))
      block.hasValue.append(result.value == nil ? 0 : 1)
      block.eventTimes.append(result.eventTime?.microseconds ?? 0)
      switch (columns[j].feature.dtype, result.value) {
      case (.float, .float(let v)?): block.floats.append(v)
      case (.float, _): block.floats.append(0)
      case (.int, .int(let v)?): block.ints.append(v)
      case (.int, _): block.ints.append(0)
      case (.string, .string(let v)?): block.strings.append(v)
      case (.string, _): block.strings.append("")
      case (.embedding, .embedding(let v)?): block.embeddings.append(contentsOf: v)
      case (.embedding(let d), _): block.embeddings.append(contentsOf: repeatElement(0, count: d))
      }
    }
    return block
  }
}

/// Rows `range` of `block`.
private func slice(_ block: ColumnBlock, _ range: Range<Int>, dtype: DType) -> ColumnBlock {
  var out = ColumnBlock()
  out.statuses = Array(block.statuses[range])
  out.hasValue = Array(block.hasValue[range])
  out.eventTimes = Array(block.eventTimes[range])
  switch dtype {
  case .float: out.floats = Array(block.floats[range])
  case .int: out.ints = Array(block.ints[range])
  case .string: out.strings = Array(block.strings[range])
  case .embedding(let d): out.embeddings = Array(block.embeddings[(range.lowerBound * d)..<(range.upperBound * d)])
  }
  return out
}

/// Row `i` of `block` as text, values bit for bit (`==` on floats does not tell -0.0 from 0.0, nor
/// `==` on strings "é" from "e\u{301}").
private func cell(_ block: ColumnBlock, _ i: Int, _ dtype: DType) -> String {
  func at<T>(_ array: [T], _ i: Int) -> T? { i < array.count ? array[i] : nil }
  let value: String =
    switch dtype {
    case .float: at(block.floats, i).map { "float \($0) [\($0.bitPattern)]" } ?? "no float"
    case .int: at(block.ints, i).map { "int \($0)" } ?? "no int"
    case .string: at(block.strings, i).map { "string \(Array($0.utf8))" } ?? "no string"
    case .embedding(let d):
      (i + 1) * d <= block.embeddings.count
        ? "embedding \(block.embeddings[(i * d)..<((i + 1) * d)].map(\.bitPattern))" : "no embedding"
    }
  let status = at(block.statuses, i).map(String.init) ?? "-"
  let mask = at(block.hasValue, i).map(String.init) ?? "-"
  let event = at(block.eventTimes, i).map(String.init) ?? "-"
  return "status \(status) mask \(mask) event \(event) \(value)"
}

/// Expects `got` to equal `expected` column for column and row for row (values bit for bit, and
/// array lengths exactly as documented), recording up to three differing cells.
private func expectSameColumns(
  _ got: [ColumnBlock], _ expected: [ColumnBlock], _ columns: [ResolvedFeature], _ labels: [LabelRow], _ what: String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(got.count == expected.count && expected.count == columns.count, "\(what): column count", sourceLocation: sourceLocation)
  var differences: [String] = []
  var count = 0
  for j in columns.indices where j < got.count && j < expected.count {
    let dtype = columns[j].feature.dtype
    let (g, e) = (got[j], expected[j])
    var sameCells = g.statuses.count == labels.count
    for i in labels.indices {
      let (a, b) = (cell(g, i, dtype), cell(e, i, dtype))
      guard a != b else { continue }
      sameCells = false
      count += 1
      if differences.count < 3 {
        let label = labels[i]
        differences.append(
          "column \(columns[j].qualifiedName) label \(i) (\(Array(label.entityID.utf8))@\(label.time.microseconds) knownAt \(String(describing: label.knownAt?.microseconds))): got \(a), expected \(b)")
      }
    }
    if sameCells && g != e {
      count += 1
      differences.append("column \(columns[j].qualifiedName): equal cells but different arrays (lengths or unused dtype arrays)")
    }
  }
  #expect(count == 0, "\(what): \(count) differences, e.g. \(differences)", sourceLocation: sourceLocation)
}

/// Expects row-form results to be equal, recording up to three differing labels.
private func expectSameRows(
  _ got: [[FeatureResult]], _ expected: [[FeatureResult]], _ labels: [LabelRow], _ what: String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(got.count == expected.count, "\(what)", sourceLocation: sourceLocation)
  let differing = labels.indices.filter { $0 < got.count && $0 < expected.count && got[$0] != expected[$0] }
  let examples = differing.prefix(3).map { "label \($0) \(labels[$0]): got \(got[$0]), expected \(expected[$0])" }
  #expect(differing.isEmpty, "\(what): \(differing.count) labels differ, e.g. \(examples)", sourceLocation: sourceLocation)
}

private func present(_ value: FeatureValue, _ event: Timestamp) -> FeatureResult {
  FeatureResult(value: value, status: .present, eventTime: event)
}

private func bitPatterns(_ value: FeatureValue?) -> String {
  switch value {
  case nil: "nil"
  case .float(let d)?: "float \(d.bitPattern)"
  case .int(let i)?: "int \(i)"
  case .string(let s)?: "string \(Array(s.utf8))"
  case .embedding(let e)?: "embedding \(e.map(\.bitPattern))"
  }
}

// MARK: - Random values

/// Mostly 0 (ties), sometimes one microsecond either side.
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
    // Some longer than 15 UTF-8 bytes (not stored inline in a Swift string), and the NFC / NFD pair.
    return .string(
      random.below(4) == 0
        ? random.element(of: ["", "\u{E9}", "e\u{301}", "日本", "🙂", "a string longer than sixteen bytes"]) : "s\(random.below(50))")
  case .embedding(let dimension):
    return .embedding((0..<dimension).map { _ in random.oneIn(10) ? -0.0 : Float(random.below(200)) / 4 - 25 })
  }
}

// MARK: - Access to the cache's state

extension HistoryImages {
  /// The image currently held for group version `sid`, if any.
  fileprivate func image(_ sid: UInt32) -> HistoryImage? { state.withLock { $0.entries[sid]?.image } }

  /// The tokens recorded as written since the held image of `sid` was scanned (nil: no entry at all).
  fileprivate func touched(_ sid: UInt32) -> Set<UInt64>? { state.withLock { $0.entries[sid]?.touched } }
}
