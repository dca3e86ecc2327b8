import StrataCore
import StrataTestSupport
import Testing

@testable import StrataStorage

/// Repair's reads: per-bucket digests and bucket pages, against an oracle computed from the rows
/// written.
@Suite("History digests and bucket rows")
struct HistoryDigestTests {
  static func group(_ name: String, storageID: UInt32) -> FeatureGroup {
    FeatureGroup(
      spec: FeatureGroupSpec(name: name, features: [FeatureSpec(name: "n", dtype: .int), FeatureSpec(name: "s", dtype: .string)]),
      version: 1, status: .active, createdAt: .epoch, storageID: storageID)
  }

  static let now = Timestamp(microseconds: 1_764_000_000_000_000)

  /// Random rows (with write ids) for groups "a" and "b".
  static func rows(_ rng: inout SplitMix64, count: Int) -> [(group: String, row: RowToStore)] {
    var clock = WriteIDClock(slot: 3)
    return (0..<count).map { i in
      let row = RowToStore(
        entityID: "e\(rng.below(300))", eventTime: Timestamp(microseconds: Int64(rng.below(50))),
        createdTime: Timestamp(microseconds: Int64(rng.below(4))),
        values: [rng.oneIn(5) ? nil : .int(Int64(rng.below(1000))), rng.oneIn(3) ? nil : .string("v\(i)")],
        writeID: clock.next(now: now))
      return (rng.oneIn(3) ? "b" : "a", row)
    }
  }

  /// The oracle: digests from the rows' parts.
  static func oracle(_ rows: [(group: String, row: RowToStore)], including: (UInt64) -> Bool) -> [BucketGroup: HistoryDigest] {
    var out: [BucketGroup: HistoryDigest] = [:]
    for (g, r) in rows {
      let token = EntityToken.of(r.entityID)
      guard including(token) else { continue }
      let hash = HistoryDigest.rowHash(
        entityID: r.entityID, eventTime: r.eventTime, createdTime: r.createdTime, writeID: r.writeID!.rawValue,
        encodedValues: RowCodec.encode(r.values, dtypes: [.int, .string]))
      out[BucketGroup(bucket: HistoryDigest.bucket(ofToken: token), group: g, version: 1), default: HistoryDigest()].add(hash: hash)
    }
    return out
  }

  /// Writes `rows` into a fresh shard with the two groups at `ids`, in shuffled batches, some twice.
  static func store(
    _ rows: [(group: String, row: RowToStore)], ids: (UInt32, UInt32), engine: any StorageEngine, rng: inout SplitMix64
  ) throws -> (LocalShard, [UInt32: FeatureGroup]) {
    let shard = try LocalShard(engine: engine, writeIDSlot: 9)
    let groups = ["a": group("a", storageID: ids.0), "b": group("b", storageID: ids.1)]
    var delivery = rows + (0..<rows.count / 5).map { _ in rows[rng.below(rows.count)] }
    delivery.shuffle(using: &rng)
    for item in delivery { _ = try shard.append([item.row], to: groups[item.group]!, now: now) }
    return (shard, Dictionary(uniqueKeysWithValues: groups.values.map { ($0.storageID, $0) }))
  }

  /// The oracle of `bucketRows`: the rows of `group` in `bucket` whose token passes `including`, in
  /// repair key order.
  static func oracleRows(
    _ rows: [(group: String, row: RowToStore)], group: FeatureGroup, bucket: Int, including: (UInt64) -> Bool
  ) -> [BucketRow] {
    rows.filter {
      $0.group == group.name && including(EntityToken.of($0.row.entityID))
        && HistoryDigest.bucket(ofToken: EntityToken.of($0.row.entityID)) == bucket
    }.map {
      BucketRow(
        entityID: $0.row.entityID,
        row: StoredRow(eventTime: $0.row.eventTime, createdTime: $0.row.createdTime, sequence: $0.row.writeID!.rawValue, values: $0.row.values))
    }.sorted { $0.repairKey < $1.repairKey }
  }

  static func allDigests(_ shard: LocalShard, groups: [UInt32: FeatureGroup], including: (UInt64) -> Bool) throws -> [BucketGroup: HistoryDigest] {
    var all: [BucketGroup: HistoryDigest] = [:]
    for b in 0..<HistoryDigest.bucketCount { all.merge(try shard.digests(bucket: b, groups: groups, including: including)) { a, _ in a } }
    return all
  }

  @Test("digests equal the oracle's, whatever the write order and the local storage ids", arguments: EngineKind.allCases)
  func digestsMatchOracle(kind: EngineKind) throws {
    var rng = SplitMix64.forTest("HistoryDigest.oracle.\(kind)")
    for round in 0..<4 {
      let rows = Self.rows(&rng, count: 400)
      let modulus = UInt64(1 + rng.below(3))
      let including: @Sendable (UInt64) -> Bool = { $0 % modulus == 0 || $0 >> 63 == 1 }
      let want = Self.oracle(rows, including: including)
      var got: [[BucketGroup: HistoryDigest]] = []
      for ids in [(UInt32(1), UInt32(2)), (7, 3)] {
        try kind.withEngine { engine throws in
          let (shard, groups) = try Self.store(rows, ids: ids, engine: engine, rng: &rng)
          got.append(try Self.allDigests(shard, groups: groups, including: including))
        }
      }
      #expect(got[0] == want, "round \(round); seed \(SplitMix64.hex(rng.seed))")
      #expect(got[1] == want, "round \(round), other storage ids; seed \(SplitMix64.hex(rng.seed))")
    }
  }

  @Test("a row missing, added or changed changes its bucket's digest and no other")
  func digestsDetectDifferences() throws {
    var rng = SplitMix64.forTest("HistoryDigest.differences")
    let rows = Self.rows(&rng, count: 200)
    let base = Self.oracle(rows, including: { _ in true })
    var fewer = rows
    let removed = fewer.remove(at: rng.below(fewer.count))
    let key = BucketGroup(bucket: HistoryDigest.bucket(ofToken: EntityToken.of(removed.row.entityID)), group: removed.group, version: 1)
    let without = Self.oracle(fewer, including: { _ in true })
    #expect(without[key] != base[key])
    #expect(base.filter { $0.key != key } == without.filter { $0.key != key })
    var changed = rows
    let i = rng.below(changed.count)
    changed[i].row.values[0] = .int(-1)
    let k2 = BucketGroup(bucket: HistoryDigest.bucket(ofToken: EntityToken.of(changed[i].row.entityID)), group: changed[i].group, version: 1)
    #expect(Self.oracle(changed, including: { _ in true })[k2] != base[k2])
  }

  @Test("bucket rows, page by page, are the bucket's rows of the group in key order", arguments: EngineKind.allCases)
  func bucketRowsPaged(kind: EngineKind) throws {
    var rng = SplitMix64.forTest("HistoryDigest.pages.\(kind)")
    let rows = Self.rows(&rng, count: 3_000)
    let including: @Sendable (UInt64) -> Bool = { $0 % 2 == 0 }
    try kind.withEngine { engine throws in
      let (shard, groups) = try Self.store(rows, ids: (4, 5), engine: engine, rng: &rng)
      for (sid, group) in groups {
        for bucket in [0, 17, 128, 255] + (0..<4).map({ _ in rng.below(256) }) {
          let want = Self.oracleRows(rows, group: group, bucket: bucket, including: including)
          let limit = 1 + rng.below(4)
          var got: [BucketRow] = []
          var after: [UInt8]?
          var pages = 0
          repeat {
            let page = try shard.bucketRows(bucket: bucket, group: group, including: including, after: after, limit: limit)
            #expect(page.rows.count <= limit)
            got += page.rows
            after = page.resumeAfter
            pages += 1
          } while after != nil && pages < 10_000
          #expect(got == want, "group \(sid) bucket \(bucket) limit \(limit); seed \(SplitMix64.hex(rng.seed))")
        }
      }
    }
  }
  /// Random ascending, disjoint, non-adjacent token ranges, bounds often at (or next to) an entity's
  /// token, some spanning bucket boundaries.
  static func randomRanges(_ rng: inout SplitMix64) -> [ClosedRange<UInt64>] {
    let tokens = (0..<300).map { EntityToken.of("e\($0)") }
    var points: Set<UInt64> = []
    for _ in 0..<(2 + 2 * rng.below(20)) {
      switch rng.below(4) {
      case 0: points.insert(rng.next())
      case 1: points.insert(tokens[rng.below(tokens.count)])
      case 2: points.insert(tokens[rng.below(tokens.count)] &+ 1)
      default: points.insert(UInt64(rng.below(256)) << 56)
      }
    }
    var sorted = points.sorted()
    if sorted.count % 2 == 1 { sorted.removeLast() }
    var out: [ClosedRange<UInt64>] = []
    for k in stride(from: 0, to: sorted.count, by: 2) {
      let r = sorted[k]...sorted[k + 1]
      if let last = out.last, last.upperBound &+ 1 >= r.lowerBound { continue }
      out.append(r)
    }
    return out
  }

  @Test("reads limited to token ranges (within) seek over the rest and equal the oracle's for those ranges", arguments: EngineKind.allCases)
  func readsWithinRanges(kind: EngineKind) throws {
    var rng = SplitMix64.forTest("HistoryDigest.within.\(kind)")
    let rows = Self.rows(&rng, count: 2_000)
    try kind.withEngine { engine throws in
      let (shard, groups) = try Self.store(rows, ids: (4, 5), engine: engine, rng: &rng)
      for round in 0..<12 {
        let ranges = round == 0 ? [] : Self.randomRanges(&rng)
        let set = TokenRangeSet(ranges)
        let including: @Sendable (UInt64) -> Bool = { set.contains($0) }
        var digests: [BucketGroup: HistoryDigest] = [:]
        for b in 0..<HistoryDigest.bucketCount {
          digests.merge(try shard.digests(bucket: b, groups: groups, including: including, within: ranges)) { a, _ in a }
        }
        #expect(digests == Self.oracle(rows, including: including), "round \(round), \(ranges.count) ranges; seed \(SplitMix64.hex(rng.seed))")
        for (sid, group) in groups {
          for bucket in ranges.prefix(3).map({ HistoryDigest.bucket(ofToken: $0.lowerBound) }) + [rng.below(256)] {
            let want = Self.oracleRows(rows, group: group, bucket: bucket, including: including)
            let limit = 1 + rng.below(5)
            var got: [BucketRow] = []
            var after: [UInt8]?
            var pages = 0
            repeat {
              let page = try shard.bucketRows(bucket: bucket, group: group, including: including, after: after, limit: limit, within: ranges)
              got += page.rows
              after = page.resumeAfter
              pages += 1
            } while after != nil && pages < 10_000
            #expect(got == want, "group \(sid) bucket \(bucket) limit \(limit), round \(round); seed \(SplitMix64.hex(rng.seed))")
          }
        }
      }
    }
  }
}

/// Ascending disjoint ranges, searched one by one (the test's own oracle, not `TokenRanges`).
struct TokenRangeSet: Sendable {
  let ranges: [ClosedRange<UInt64>]
  init(_ ranges: [ClosedRange<UInt64>]) { self.ranges = ranges }
  func contains(_ token: UInt64) -> Bool { ranges.contains { $0.contains(token) } }
}
