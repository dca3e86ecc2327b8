import StrataCore
import StrataTestSupport
import Testing

@testable import StrataStorage

/// `FeatureStore.removeEntities(where:)` and `FeatureStore.historyRowCount(where:)`: through the store's
/// own reads. The reference is the store itself before the removal, asked the same questions with
/// every label and lookup of a removed entity renamed to an id that was never written: after the
/// removal, removed entities must look exactly like that, and every other answer must be unchanged.
///
/// Random tests print their seed; `STRATA_TEST_SEED=<seed>` replays a run.
@Suite("FeatureStore removal: exports, lookups and counts after a cleanup")
struct FeatureStoreRemovalTests {
  /// Whether the history images built before the removal are kept (the removed entities are answered
  /// from storage) or rebuilt by the next export.
  enum Images: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case kept
    case rebuilt

    var policy: HistoryImagePolicy {
      HistoryImagePolicy(budgetBytes: 1 << 30, minLabelsToBuild: 1, maxStaleFraction: self == .kept ? 1e9 : 0)
    }
    var testDescription: String { rawValue }
  }

  /// Proves that after a removal the columnar export (image path, with the images built before the
  /// removal), the row export (storage path) and online lookups answer the removed entities as never
  /// written (defaults, MISSING, no row order) and every other entity exactly as before; that
  /// `historyRowCount` counts the rows written to the matching entities and then 0; and that an
  /// entity written again after its removal is served its new rows only.
  @Test("exports and lookups after a removal: removed entities as never written, others unchanged", arguments: EngineKind.allCases, Images.allCases)
  func exportsAfterRemoval(kind: EngineKind, images: Images) async throws {
    var random = SplitMix64.forTest("FeatureStoreRemoval.exports.\(kind).\(images)")
    let context = "engine \(kind), images \(images), \(random.seedDescription)"
    try await withStoreDirectory { path in
      let clock = ManualClock(at(1_000))
      let store = try FeatureStore(engine: kind.open(at: path), imagePolicy: images.policy, clock: clock.function)
      _ = try await store.apply([specA, specB])
      let entities = (0..<80).map { "e\($0)" }
      let threshold = entities.map(EntityToken.of).sorted()[20 + random.below(40)]
      let matches: @Sendable (UInt64) -> Bool = { $0 < threshold }
      var rowsOfMatching: UInt64 = 0
      for _ in 0..<60 {
        let spec = random.oneIn(2) ? specA : specB
        let rows = (0..<(1 + random.below(15))).map { _ in
          WriteRequest.Row(
            entityID: random.element(of: entities), eventTime: at(Int64(random.below(30))),
            createdTime: random.oneIn(3) ? nil : at(Int64(random.below(5))),
            values: spec.features.map { random.oneIn(5) ? nil : value($0.dtype, &random) })
        }
        rowsOfMatching += UInt64(rows.filter { matches(EntityToken.of($0.entityID)) }.count)
        _ = try await store.write(WriteRequest(group: spec.name, features: spec.features.map(\.name), rows: rows))
        clock.set(clock.now.adding(microseconds: 1_000_000))
      }
      let columns = try store.resolve(["a:*", "b:*"].map { ref throws(StrataError) in try FeatureRef(parsing: ref) })
      let labels = (entities + ["nobody"]).flatMap { entity in
        (0..<3).map { _ in LabelRow(entityID: entity, time: at(Int64(random.below(34)) - 2)) }
      }
      // The same questions, removed entities renamed to an id never written.
      let unwritten = "never-written"
      let renamed = labels.map { matches(EntityToken.of($0.entityID)) ? LabelRow(entityID: unwritten, time: $0.time) : $0 }
      let lookups = entities + ["nobody"]
      let renamedLookups = lookups.map { matches(EntityToken.of($0)) ? unwritten : $0 }

      let before = try await store.historicalColumns(labels: labels, columns: columns, withOrder: true)
      #expect(store.historyImages.builds == 2, "\(context)")
      let expectedColumns = try await store.historicalColumns(labels: renamed, columns: columns, withOrder: true)
      let expectedRows = try await store.historical(labels: renamed, columns: columns)
      let expectedOnline = try await store.online(entityIDs: renamedLookups, columns: columns, withOrder: true)
      #expect(store.historyImages.builds == 2, "\(context)")
      #expect(expectedColumns.orders != before.orders, "\(context): the removal changes some answers")
      #expect(rowsOfMatching > 0, "\(context)")

      #expect(try await store.historyRowCount(where: matches) == rowsOfMatching, "\(context)")
      let report = try await store.removeEntities(where: matches)
      #expect(report.historyRows == rowsOfMatching, "\(context)")
      #expect(try await store.historyRowCount(where: matches) == 0, "\(context)")

      let after = try await store.historicalColumns(labels: labels, columns: columns, withOrder: true)
      #expect(store.historyImages.builds == (images == .kept ? 2 : 4), "\(context)")
      #expect(after.orders == expectedColumns.orders, "\(context)")
      #expect(after.blocks == expectedColumns.blocks, "\(context)")
      #expect(try await store.historical(labels: labels, columns: columns) == expectedRows, "\(context)")
      let online = try await store.online(entityIDs: lookups, columns: columns, withOrder: true)
      #expect(online.vectors == expectedOnline.vectors, "\(context)")
      #expect(online.orders == expectedOnline.orders, "\(context)")

      // A removed entity written again: only its new row.
      let removed = entities.first { matches(EntityToken.of($0)) }!
      _ = try await store.write(
        WriteRequest(group: "a", features: ["x"], rows: [WriteRequest.Row(entityID: removed, eventTime: at(1), values: [.int(-42)])]))
      let again = try await store.historical(labels: [LabelRow(entityID: removed, time: at(100))], columns: columns)
      #expect(again[0][0] == FeatureResult(value: .int(-42), status: .present, eventTime: at(1)), "\(context)")
      let columnsAgain = try await store.historicalColumns(labels: [LabelRow(entityID: removed, time: at(100))], columns: columns)
      #expect(columnsAgain[0].ints == [-42], "\(context)")
      #expect(try await store.online(entityIDs: [removed], columns: columns)[0][0].value == .int(-42), "\(context)")
      #expect(try await store.historyRowCount(where: matches) == 1, "\(context)")
    }
  }
}

// MARK: - Fixtures

private let base = Timestamp.seconds(1_700_000_000)

/// `base` plus `seconds`.
private func at(_ seconds: Int64) -> Timestamp { base.adding(microseconds: seconds * 1_000_000) }

/// x INT, s STRING (default "none").
private let specA = FeatureGroupSpec(
  name: "a",
  features: [FeatureSpec(name: "x", dtype: .int), FeatureSpec(name: "s", dtype: .string, defaultValue: .string("none"))])
/// f FLOAT (default 0.5), e EMBEDDING(2); max age 10 s.
private let specB = FeatureGroupSpec(
  name: "b", maxAgeSeconds: 10,
  features: [FeatureSpec(name: "f", dtype: .float, defaultValue: .float(0.5)), FeatureSpec(name: "e", dtype: .embedding(dimension: 2))])

private func value(_ dtype: DType, _ random: inout SplitMix64) -> FeatureValue {
  switch dtype {
  case .int: .int(Int64(random.below(1_000)))
  case .float: .float(Double(random.below(1_000)) / 8)
  case .string: .string("s\(random.below(50))")
  case .embedding(let d): .embedding((0..<d).map { _ in Float(random.below(100)) / 4 })
  }
}
