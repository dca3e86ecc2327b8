import StrataTestSupport
import Foundation
import Testing

@testable import StrataCore
@testable import StrataStorage

/// The merge-based point-in-time engine (`AsOfJoin`) against a brute-force oracle, on both engines:
/// the single-thread path, the multi-thread path (chunks over `parallelThreshold`), and as-of-known-time.
@Suite("AsOfJoin: sorted merge against an oracle")
struct AsOfJoinTests {
  static let group = FeatureGroup(
    spec: FeatureGroupSpec(name: "g", features: [FeatureSpec(name: "n", dtype: .int)]),
    version: 1, status: .active, createdAt: .epoch, storageID: 7)
  static let otherGroup = FeatureGroup(
    spec: FeatureGroupSpec(name: "h", features: [FeatureSpec(name: "n", dtype: .int)]),
    version: 1, status: .active, createdAt: .epoch, storageID: 8)

  /// The oracle: greatest (event, created, sequence) with event <= asOf and created <= knownAt.
  static func oracle(_ history: [StoredRow], _ probe: AsOfProbe) -> StoredRow? {
    history.filter { row in row.eventTime <= probe.asOf && (probe.knownAt.map { row.createdTime <= $0 } ?? true) }
      .max { ($0.eventTime, $0.createdTime, $0.sequence) < ($1.eventTime, $1.createdTime, $1.sequence) }
  }

  @Test("random histories and 6000 unsorted probes: every answer equals the oracle, for 1 and 3 threads", arguments: EngineKind.allCases)
  func matchesOracle(kind: EngineKind) throws {
    let seed = SplitMix64.testSeed()
    print("[AsOfJoin.matchesOracle \(kind)] seed \(seed) (replay with STRATA_TEST_SEED=\(seed))")
    var rng = SplitMix64(seed: seed)
    try kind.withEngine { engine in
      let shard = try LocalShard(engine: engine)
      // Prefix-sharing ids, many ties on event and created times, rows in both groups.
      let entities = (0..<60).map { "e\($0)" } + ["e1x", "é", "e\u{301}"]
      for _ in 0..<30 {
        var rows: [RowToStore] = []
        var other: [RowToStore] = []
        for _ in 0..<(1 + rng.below(40)) {
          let row = RowToStore(
            entityID: rng.element(of: entities), eventTime: Timestamp(microseconds: Int64(rng.below(20))),
            createdTime: Timestamp(microseconds: Int64(rng.below(5))), values: [.int(Int64(rng.below(1000)))])
          if rng.below(4) == 0 { other.append(row) } else { rows.append(row) }
        }
        _ = try shard.append(rows, to: Self.group, now: .epoch)
        if !other.isEmpty { _ = try shard.append(other, to: Self.otherGroup, now: .epoch) }
      }
      // Keyed by UTF-8 bytes: "é" and "e\u{301}" are equal Swift strings but distinct entities.
      var histories: [[UInt8]: [StoredRow]] = [:]
      for e in entities { histories[Array(e.utf8)] = try shard.history(entityID: e, group: Self.group) }
      var probes: [AsOfProbe] = []
      for _ in 0..<6_000 {
        let e = rng.below(10) == 0 ? "unknown\(rng.below(3))" : rng.element(of: entities)
        let knownAt = rng.below(5) == 0 ? Timestamp(microseconds: Int64(rng.below(6))) : nil
        probes.append(AsOfProbe(entityID: e, asOf: Timestamp(microseconds: Int64(rng.below(24)) - 2), knownAt: knownAt))
      }
      probes.append(contentsOf: probes.prefix(50))  // duplicates answer identically
      let expected = probes.map { Self.oracle(histories[Array($0.entityID.utf8)] ?? [], $0) }
      for threads in [1, 3] {
        let got = try shard.rowsAsOf(probes, group: Self.group, parallelism: threads)
        #expect(got.count == probes.count)
        var mismatches = 0
        for i in probes.indices where got[i] != expected[i] {
          mismatches += 1
          if mismatches <= 3 {
            Issue.record("probe \(i) \(probes[i]) with \(threads) threads: got \(String(describing: got[i])), expected \(String(describing: expected[i])) (seed \(seed))")
          }
        }
        #expect(mismatches == 0, "\(mismatches) of \(probes.count) probes differ with \(threads) threads (seed \(seed))")
      }
    }
  }

  @Test("known-at hides rows created later, including a late correction of the same event", arguments: EngineKind.allCases)
  func knownAt(kind: EngineKind) throws {
    try kind.withEngine { engine in
      let shard = try LocalShard(engine: engine)
      func row(_ event: Int64, _ created: Int64, _ n: Int64) -> RowToStore {
        RowToStore(entityID: "u", eventTime: Timestamp(microseconds: event), createdTime: Timestamp(microseconds: created), values: [.int(n)])
      }
      _ = try shard.append([row(10, 11, 1), row(20, 21, 2), row(10, 50, 3)], to: Self.group, now: .epoch)
      func value(_ asOf: Int64, _ knownAt: Int64?) throws -> FeatureValue? {
        try shard.rowsAsOf([AsOfProbe(entityID: "u", asOf: Timestamp(microseconds: asOf), knownAt: knownAt.map { Timestamp(microseconds: $0) })], group: Self.group)[0]?.values[0]
      }
      #expect(try value(15, nil) == .int(3), "the correction (created 50) wins without known-at")
      #expect(try value(15, 49) == .int(1), "known at 49 the correction did not exist yet")
      #expect(try value(25, 20) == .int(1), "the row created at 21 is unknown at 20")
      #expect(try value(25, 21) == .int(2), "created == knownAt counts")
      #expect(try value(25, 10) == nil, "nothing was known at 10")
    }
  }

  @Test("partitions cover every probe once and cut only between entities")
  func partitionCutsAtEntityBoundaries() {
    var rng = SplitMix64(seed: SplitMix64.testSeed())
    for _ in 0..<200 {
      let n = 1 + rng.below(300)
      let prefixes = (0..<n).map { _ in [UInt8(rng.below(6))] }
      let order = Array(0..<n).sorted { prefixes[$0].lexicographicallyPrecedes(prefixes[$1]) }
      let parts = 1 + rng.below(5)
      let ranges = AsOfJoin.partition(order: order, prefixes: prefixes, parts: parts)
      #expect(ranges.count <= parts)
      #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == n)
      for (a, b) in zip(ranges, ranges.dropFirst()) {
        #expect(a.upperBound == b.lowerBound && !a.isEmpty)
        #expect(prefixes[order[a.upperBound - 1]] != prefixes[order[b.lowerBound]], "a cut splits an entity run")
      }
    }
  }
}
