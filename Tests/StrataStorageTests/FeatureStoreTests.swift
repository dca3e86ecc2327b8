import Foundation
import StrataCore
import Synchronization
import Testing

@testable import StrataStorage

/// `FeatureStore` end to end over each engine, with a clock the test sets: point-in-time rules on hand-made
/// cases, validation (and that a rejected batch changes nothing), and registry persistence.
@Suite("FeatureStore")
struct FeatureStoreTests {
  // MARK: Point-in-time rules

  @Test("equal event times: the greater created time wins (a correction written later), online and historical", arguments: EngineKind.allCases)
  func createdTimeBreaksTies(kind: EngineKind) async throws {
    try await withStore(kind) { store, clock in
      clock.set(at(1_000))
      #expect(try await store.put(stats, rows: [row("u1", at(100), created: at(150), clicks: 1)]).lateRows == 0)
      #expect(try await store.put(stats, rows: [row("u1", at(100), created: at(200), clicks: 2)]).lateRows == 0)
      // An older correction and an older event (with the newest created time) are late.
      #expect(try await store.put(stats, rows: [row("u1", at(100), created: at(120), clicks: 3)]).lateRows == 1)
      #expect(try await store.put(stats, rows: [row("u1", at(90), clicks: 4)]).lateRows == 1)  // created = now

      #expect(try await store.onlineResult("u1", "user_stats:clicks") == present(.int(2), at(100)))
      let labels = [(at(89), nil), (at(90), 4), (at(99), 4), (at(100), 2), (at(1_000), 2)] as [(Timestamp, Int64?)]
      let results = try await store.historicalResults(labels.map { ("u1", $0.0) }, ["user_stats:clicks"])
      for (i, (time, clicks)) in labels.enumerated() {
        let expected = clicks.map { present(.int($0), $0 == 4 ? at(90) : at(100)) } ?? defaulted(.int(0), nil)
        #expect(results[i][0] == expected, "label \(time)")
      }
      #expect(store.counterValues.rowsWritten == 4)
      #expect(store.counterValues.lateRows == 2)
    }
  }

  @Test("equal event and created times: the later write wins, across batches and within one", arguments: EngineKind.allCases)
  func laterWriteWins(kind: EngineKind) async throws {
    try await withStore(kind) { store, clock in
      clock.set(at(1_000))
      _ = try await store.put(stats, rows: [row("u1", at(100), created: at(100), clicks: 1)])
      #expect(try await store.put(stats, rows: [row("u1", at(100), created: at(100), clicks: 2)]).lateRows == 0)
      _ = try await store.put(
        stats, rows: [row("u2", at(100), created: at(100), clicks: 5), row("u2", at(100), created: at(100), clicks: 6)])

      #expect(try await store.onlineResult("u1", "user_stats:clicks") == present(.int(2), at(100)))
      #expect(try await store.onlineResult("u2", "user_stats:clicks") == present(.int(6), at(100)))
      let historical = try await store.historicalResults([("u1", at(100)), ("u2", at(100)), ("u2", at(500))], ["user_stats:clicks"])
      #expect(historical.map { $0[0].value } == [.int(2), .int(6), .int(6)])
      // Nothing was overwritten in history.
      let group = try store.catalog.group(named: "user_stats")
      #expect(try store.shard.history(entityID: "u1", group: group).count == 2)
      #expect(try store.shard.history(entityID: "u2", group: group).count == 2)
    }
  }

  @Test("max age is an inclusive bound, against the clock online and against the label time offline", arguments: EngineKind.allCases)
  func maxAgeBound(kind: EngineKind) async throws {
    try await withStore(kind) { store, clock in
      clock.set(at(1_000))
      _ = try await store.put(stats, rows: [row("u1", at(1_000), clicks: 7, spend: 2.5)])
      _ = try await store.put(profile, features: ["tier"], rows: [.init(entityID: "u1", eventTime: at(1_000), values: [.string("gold")])])
      let edge = at(1_000 + 3_600)
      let justPast = edge.adding(microseconds: 1)
      let columns = ["user_stats:clicks", "user_stats:spend", "user_stats:country", "profile:tier"]

      let historical = try await store.historicalResults([("u1", edge), ("u1", justPast), ("u1", at(10_000_000))], columns)
      #expect(historical[0] == [present(.int(7), at(1_000)), present(.float(2.5), at(1_000)), defaulted(.string("unknown"), at(1_000)), present(.string("gold"), at(1_000))])
      #expect(historical[1] == [expired(.int(0), at(1_000)), expired(nil, at(1_000)), expired(.string("unknown"), at(1_000)), present(.string("gold"), at(1_000))])
      // A group without max age never expires.
      #expect(historical[2][3] == present(.string("gold"), at(1_000)))

      clock.set(edge)
      #expect(try await store.onlineResults(["u1"], columns)[0] == historical[0])
      clock.set(justPast)
      #expect(try await store.onlineResults(["u1"], columns)[0] == historical[1])
    }
  }

  @Test("DEFAULTED vs MISSING vs a real zero, and absent entities", arguments: EngineKind.allCases)
  func defaultsAndMissing(kind: EngineKind) async throws {
    try await withStore(kind) { store, clock in
      clock.set(at(1_000))
      _ = try await store.put(
        stats,
        rows: [
          .init(entityID: "u1", eventTime: at(100), values: [nil, nil, .string(""), nil]),
          .init(entityID: "u2", eventTime: at(100), values: [.int(0), .float(0), nil, .embedding([0, -0.0, 0])]),
        ])
      let u1: [FeatureResult] = [
        defaulted(.int(0), at(100)), missing(at(100)), present(.string(""), at(100)), missing(at(100)),
      ]
      let u2: [FeatureResult] = [
        present(.int(0), at(100)), present(.float(0), at(100)), defaulted(.string("unknown"), at(100)),
        present(.embedding([0, -0.0, 0]), at(100)),
      ]
      let nobody: [FeatureResult] = [defaulted(.int(0), nil), missing(nil), defaulted(.string("unknown"), nil), missing(nil)]

      #expect(try await store.onlineResults(["u1", "u2", "nobody", "u1"], ["user_stats:*"]) == [u1, u2, nobody, u1])
      let historical = try await store.historicalResults(
        [("u1", at(100)), ("u2", at(100)), ("nobody", at(100)), ("u1", at(99)), ("u2", at(0))], ["user_stats:*"])
      #expect(historical == [u1, u2, nobody, nobody, nobody])
    }
  }

  @Test("version pinning: g@1:f reads version 1, g:f the newest ACTIVE version", arguments: EngineKind.allCases)
  func versionPinning(kind: EngineKind) async throws {
    try await withStore(kind, apply: []) { store, clock in
      clock.set(at(1_000))
      let v1 = FeatureGroupSpec(name: "g", features: [FeatureSpec(name: "a", dtype: .int), FeatureSpec(name: "b", dtype: .string)])
      var v2 = v1
      v2.features.append(FeatureSpec(name: "c", dtype: .float))
      let first = try await store.apply([v1])
      #expect(first.map(\.outcome) == [.created])
      _ = try await store.put("g", features: ["a", "b"], rows: [.init(entityID: "u1", eventTime: at(100), values: [.int(1), .string("v1")])])
      let second = try await store.apply([v2])
      #expect(second.map(\.outcome) == [.newVersion])
      #expect(second[0].group.version == 2)
      #expect(second[0].group.storageID != first[0].group.storageID)
      // Unpinned writes go to version 2, pinned ones to version 1.
      _ = try await store.put("g", features: ["c", "a"], rows: [.init(entityID: "u1", eventTime: at(200), values: [.float(2.5), .int(2)])])
      _ = try await store.put("g", version: 1, features: ["a"], rows: [.init(entityID: "u1", eventTime: at(300), values: [.int(11)])])

      let refs = ["g@1:a", "g:a", "g@2:a", "g@1:b", "g:c", "g@2:b"]
      #expect(
        try await store.onlineResults(["u1"], refs)[0]
          == [present(.int(11), at(300)), present(.int(2), at(200)), present(.int(2), at(200)), missing(at(300)), present(.float(2.5), at(200)), missing(at(200))])
      let historical = try await store.historicalResults([("u1", at(250)), ("u1", at(150))], refs)
      #expect(
        historical[0] == [present(.int(1), at(100)), present(.int(2), at(200)), present(.int(2), at(200)), present(.string("v1"), at(100)), present(.float(2.5), at(200)), missing(at(200))])
      #expect(historical[1] == [present(.int(1), at(100)), missing(nil), missing(nil), present(.string("v1"), at(100)), missing(nil), missing(nil)])

      // Version 1 has no feature c; there is no version 3.
      expectError(.notFound, mentioning: ["g@1", "'c'"]) { () throws(StrataError) in try store.resolve([FeatureRef(parsing: "g@1:c")]) }
      expectError(.notFound, mentioning: ["version 3"]) { () throws(StrataError) in try store.resolve([FeatureRef(parsing: "g@3:a")]) }

      // Deprecating version 2 makes g:a resolve to version 1 again.
      _ = try await store.setStatus(.deprecated, group: "g", version: 2)
      #expect(try await store.onlineResults(["u1"], ["g:a", "g@2:a"])[0] == [present(.int(11), at(300)), present(.int(2), at(200))])
    }
  }

  @Test("group:* expands in definition order; other references keep request order and duplicates", arguments: EngineKind.allCases)
  func starOrder(kind: EngineKind) async throws {
    let spec = FeatureGroupSpec(
      name: "order_test",
      features: [FeatureSpec(name: "zeta", dtype: .int), FeatureSpec(name: "alpha", dtype: .string), FeatureSpec(name: "mid", dtype: .float)])
    try await withStore(kind, apply: [spec]) { store, clock in
      clock.set(at(1_000))
      _ = try await store.put(
        "order_test", features: ["mid", "zeta", "alpha"],
        rows: [.init(entityID: "u1", eventTime: at(1), values: [.float(0.5), .int(9), .string("a")])])
      let star = try store.resolve([FeatureRef(parsing: "order_test:*")])
      #expect(star.map(\.feature.name) == ["zeta", "alpha", "mid"])
      let mixed = try store.resolve(["order_test:mid", "order_test:*", "order_test:mid"].map { ref throws(StrataError) in try FeatureRef(parsing: ref) })
      #expect(mixed.map(\.feature.name) == ["mid", "zeta", "alpha", "mid", "mid"])
      let values = try await store.online(entityIDs: ["u1"], columns: mixed)[0].map(\.value)
      #expect(values == [.float(0.5), .int(9), .string("a"), .float(0.5), .float(0.5)])
      let historical = try await store.historical(labels: [LabelRow(entityID: "u1", time: at(1))], columns: mixed)[0].map(\.value)
      #expect(historical == values)
    }
  }

  @Test("online never serves a row from the future: event times ahead of the clock (within the allowed skew) are not used yet", arguments: EngineKind.allCases)
  func onlineNoFutureRows(kind: EngineKind) async throws {
    try await withStore(kind) { store, clock in
      clock.set(at(1_000))
      _ = try await store.put(stats, rows: [row("u1", at(900), clicks: 1)])
      _ = try await store.put(stats, rows: [row("u1", at(1_100), clicks: 2)])  // 100 s ahead: accepted (skew 300 s)
      _ = try await store.put(stats, rows: [row("u2", at(1_200), clicks: 3)])

      // PointInTime: "Online reads use `now` as the reference"; "a row with eventTime > reference is never used".
      let historical = try await store.historicalResults([("u1", at(1_000)), ("u2", at(1_000))], ["user_stats:clicks"])
      #expect(historical.map { $0[0] } == [present(.int(1), at(900)), defaulted(.int(0), nil)])
      let online = try await store.onlineResults(["u1", "u2"], ["user_stats:clicks"])
      #expect(online.map { $0[0] } == historical.map { $0[0] }, "online at \(at(1_000)) must equal the point-in-time value at the clock")

      clock.set(at(1_200))
      #expect(try await store.onlineResults(["u1", "u2"], ["user_stats:clicks"]).map { $0[0].value } == [.int(2), .int(3)])
    }
  }

  // MARK: Validation

  @Test("a rejected batch gets the right code and an actionable message, and writes nothing", arguments: EngineKind.allCases)
  func rejectedBatches(kind: EngineKind) async throws {
    let limits = StoreLimits(maxRowsPerBatch: 3, maxStringBytes: 16)
    try await withStore(kind, limits: limits, apply: [stats, retired]) { store, clock in
      clock.set(at(1_000))
      _ = try await store.put(stats, rows: [row("u1", at(100), clicks: 1), row("u2", at(100), clicks: 2)])
      _ = try await store.put("retired_stats", features: ["x"], rows: [.init(entityID: "u1", eventTime: at(100), values: [.int(1)])])
      _ = try await store.setStatus(.retired, group: "retired_stats", version: 1)
      let before = try Snapshot(store)

      let features = ["clicks", "spend", "country", "vec"]
      /// Row 0 is valid (and would replace u1's online row), row 1 is `bad`.
      func batch(_ bad: WriteRequest.Row, features: [String] = features) -> WriteRequest {
        WriteRequest(group: "user_stats", features: features, rows: [row("u1", at(500), clicks: 100), bad])
      }
      let good = row("u2", at(500), clicks: 200)
      func with(_ change: (inout WriteRequest.Row) -> Void) -> WriteRequest.Row {
        var r = good
        change(&r)
        return r
      }
      let skew = Timestamp(microseconds: clock.now.microseconds + limits.maxClockSkewMicros)

      let cases: [(String, WriteRequest, StrataError.Code, [String])] = [
        ("dtype mismatch", batch(with { $0.values[0] = .float(1) }), .invalidArgument, ["row 1", "'u2'", "user_stats@1", "'clicks'", "INT", "FLOAT"]),
        ("string for an int", batch(with { $0.values[0] = .string("5") }), .invalidArgument, ["row 1", "'clicks'", "STRING"]),
        ("NaN", batch(with { $0.values[1] = .float(.nan) }), .invalidArgument, ["row 1", "'spend'", "NaN"]),
        ("infinity", batch(with { $0.values[1] = .float(-.infinity) }), .invalidArgument, ["row 1", "'spend'", "infinite"]),
        ("NaN in an embedding", batch(with { $0.values[3] = .embedding([1, .nan, 3]) }), .invalidArgument, ["row 1", "'vec'", "NaN"]),
        ("wrong embedding dimension", batch(with { $0.values[3] = .embedding([1, 2]) }), .invalidArgument, ["row 1", "'vec'", "EMBEDDING(3)", "2 elements"]),
        ("empty entity id", batch(with { $0.entityID = "" }), .invalidArgument, ["row 1", "entity id is empty"]),
        ("entity id too long", batch(with { $0.entityID = String(repeating: "x", count: 1_025) }), .invalidArgument, ["row 1", "1025", "1024"]),
        ("event beyond the skew", batch(with { $0.eventTime = skew.adding(microseconds: 1) }), .invalidArgument, ["row 1", "event_timestamp", "ahead of the server clock", "300s"]),
        ("created beyond the skew", batch(with { $0.createdTime = at(100_000) }), .invalidArgument, ["row 1", "created_timestamp", "ahead"]),
        ("event before 1970", batch(with { $0.eventTime = Timestamp(microseconds: -1) }), .invalidArgument, ["row 1", "event_timestamp", "1970"]),
        ("too many values", batch(with { $0.values.append(nil) }), .invalidArgument, ["row 1", "5 values", "4 features"]),
        ("string over the limit", batch(with { $0.values[2] = .string(String(repeating: "é", count: 9)) }), .invalidArgument, ["row 1", "'country'", "18 bytes", "16"]),
        ("unknown feature", batch(good, features: ["clicks", "nope", "country", "vec"]), .notFound, ["'nope'", "user_stats@1", "clicks, spend, country, vec"]),
        ("duplicate column", batch(good, features: ["clicks", "spend", "clicks", "vec"]), .invalidArgument, ["'clicks'", "twice"]),
        ("batch over the limit", WriteRequest(group: "user_stats", features: features, rows: Array(repeating: good, count: 4)), .resourceExhausted, ["4 rows", "limit is 3"]),
        ("unknown group", WriteRequest(group: "nogroup", features: ["x"], rows: [good]), .notFound, ["'nogroup'"]),
        ("unknown version", WriteRequest(group: "user_stats", version: 9, features: features, rows: [good]), .notFound, ["version 9"]),
        ("RETIRED group", WriteRequest(group: "retired_stats", version: 1, features: ["x"], rows: [.init(entityID: "u1", eventTime: at(500), values: [.int(5)])]), .failedPrecondition, ["retired_stats@1", "RETIRED"]),
        ("no ACTIVE version", WriteRequest(group: "retired_stats", features: ["x"], rows: [.init(entityID: "u1", eventTime: at(500), values: [.int(5)])]), .failedPrecondition, ["retired_stats", "ACTIVE"]),
      ]
      for (name, request, code, fragments) in cases {
        await expectAsyncError(code, mentioning: fragments, name) { try await store.write(request) }
        #expect(try Snapshot(store) == before, "\(name) changed the store")
      }
    }
  }

  @Test("timestamps at the limits are accepted: exactly the allowed skew ahead, and the epoch", arguments: EngineKind.allCases)
  func timestampLimits(kind: EngineKind) async throws {
    try await withStore(kind) { store, clock in
      clock.set(at(1_000))
      let skew = clock.now.adding(microseconds: StoreLimits.defaults.maxClockSkewMicros)
      _ = try await store.put(stats, rows: [row("u1", skew, created: skew, clicks: 1), row("u2", .epoch, created: .epoch, clicks: 2)])
      let group = try store.catalog.group(named: "user_stats")
      #expect(try store.shard.history(entityID: "u1", group: group).map(\.eventTime) == [skew])
      #expect(try store.shard.history(entityID: "u2", group: group).map(\.createdTime) == [.epoch])
      // created omitted: the server clock at commit.
      _ = try await store.put(stats, rows: [row("u3", at(5), clicks: 3)])
      #expect(try store.shard.history(entityID: "u3", group: group).map(\.createdTime) == [at(1_000)])
    }
  }

  @Test("read requests are validated: empty, too many, empty ids, unknown and RETIRED references", arguments: EngineKind.allCases)
  func readValidation(kind: EngineKind) async throws {
    let limits = StoreLimits(maxEntitiesPerLookup: 2, maxFeaturesPerRequest: 3, maxLabelsPerMessage: 2)
    try await withStore(kind, limits: limits, apply: [stats, retired]) { store, clock in
      clock.set(at(1_000))
      _ = try await store.setStatus(.retired, group: "retired_stats", version: 1)
      let columns = try store.resolve([FeatureRef(parsing: "user_stats:clicks")])
      await expectAsyncError(.invalidArgument, mentioning: ["no entity"]) { try await store.online(entityIDs: [], columns: columns) }
      await expectAsyncError(.invalidArgument, mentioning: ["entity id 1", "empty"]) { try await store.online(entityIDs: ["u1", ""], columns: columns) }
      await expectAsyncError(.resourceExhausted, mentioning: ["3 entities", "limit is 2"]) {
        try await store.online(entityIDs: ["a", "b", "c"], columns: columns)
      }
      await expectAsyncError(.resourceExhausted, mentioning: ["3 label rows", "limit is 2"]) {
        try await store.historical(labels: (0..<3).map { LabelRow(entityID: "u\($0)", time: at(1)) }, columns: columns)
      }
      await expectAsyncError(.invalidArgument, mentioning: ["label row 1", "empty"]) {
        try await store.historical(labels: [LabelRow(entityID: "u1", time: at(1)), LabelRow(entityID: "", time: at(1))], columns: columns)
      }
      #expect(try await store.historical(labels: [], columns: columns).isEmpty)
      expectError(.invalidArgument, mentioning: ["no features"]) { () throws(StrataError) in try store.resolve([]) }
      expectError(.resourceExhausted, mentioning: ["4 feature columns", "limit is 3"]) { () throws(StrataError) in
        try store.resolve([FeatureRef(parsing: "user_stats:*")])
      }
      expectError(.notFound, mentioning: ["'nogroup'"]) { () throws(StrataError) in try store.resolve([FeatureRef(parsing: "nogroup:x")]) }
      expectError(.notFound, mentioning: ["'nope'", "user_stats@1"]) { () throws(StrataError) in
        try store.resolve([FeatureRef(parsing: "user_stats:nope")])
      }
      expectError(.failedPrecondition, mentioning: ["retired_stats@1", "RETIRED"]) { () throws(StrataError) in
        try store.resolve([FeatureRef(parsing: "retired_stats@1:x")])
      }
    }
  }

  // MARK: Registry persistence

  @Test("the registry survives reopening: same catalog and storage ids, numbering continues, data still readable", arguments: EngineKind.allCases)
  func registryPersistence(kind: EngineKind) async throws {
    let tricky = FeatureGroupSpec(
      name: "tricky", entityType: .item, description: "défauts \"spéciaux\"\n🙂", owner: "team-ü",
      refreshIntervalSeconds: 3_600, maxAgeSeconds: .max,
      features: [
        FeatureSpec(name: "f_tenth", dtype: .float, defaultValue: .float(0.1), description: "0.1"),
        FeatureSpec(name: "f_negzero", dtype: .float, defaultValue: .float(-0.0)),
        FeatureSpec(name: "f_subnormal", dtype: .float, defaultValue: .float(.leastNormalMagnitude / 3)),
        FeatureSpec(name: "f_huge", dtype: .float, defaultValue: .float(-.greatestFiniteMagnitude)),
        FeatureSpec(name: "i_max", dtype: .int, defaultValue: .int(.max)),
        FeatureSpec(name: "i_min", dtype: .int, defaultValue: .int(.min)),
        FeatureSpec(name: "s", dtype: .string, defaultValue: .string("héllo \"q\" \\ \n\t🙂")),
        FeatureSpec(name: "s_empty", dtype: .string, defaultValue: .string("")),
        FeatureSpec(name: "e", dtype: .embedding(dimension: 3), defaultValue: .embedding([0.1, -0.0, .greatestFiniteMagnitude])),
        FeatureSpec(name: "plain", dtype: .embedding(dimension: 2)),
      ],
      lineage: Lineage(
        source: "s3://lake/défauts/", transformation: "SELECT 1\n-- \"q\" 🙂", upstream: ["user_stats", "profile@1"], pipeline: "nightly"))
    try await withStoreDirectory { path in
      let memory = InMemoryEngine()
      let clock = ManualClock(at(1_000))
      func open() async throws -> FeatureStore {
        if kind == .memory { return try FeatureStore(engine: memory, clock: clock.function) }
        return try FeatureStore(engine: try await openRetryingLock(kind, at: path), clock: clock.function)
      }
      var catalogBefore = Catalog()
      var statsBefore: [UInt32: GroupWriteStats] = [:]
      var onlineBefore: [[FeatureResult]] = []
      var historicalBefore: [[FeatureResult]] = []
      let refs = ["user_stats@1:*", "user_stats:*", "tricky:*", "profile@1:tier"]
      let labels = [("u1", at(150)), ("u1", at(50)), ("u2", at(500))]
      do {
        let store = try await open()
        #expect(try await store.apply([stats, profile, tricky]).map(\.group.storageID) == [1, 2, 3])
        clock.set(at(1_100))
        var stats2 = stats
        stats2.features.append(FeatureSpec(name: "extra", dtype: .int))
        let v2 = try await store.apply([stats2, profile])
        #expect(v2.map(\.outcome) == [.newVersion, .unchanged])
        #expect(v2.map(\.group.storageID) == [4, 2])
        _ = try await store.setStatus(.deprecated, group: "profile", version: 1, note: StatusNote(by: "alice", reason: "replaced by profile@2 🙂"))
        _ = try await store.put("user_stats", version: 1, features: ["clicks"], rows: [.init(entityID: "u1", eventTime: at(100), values: [.int(1)])])
        _ = try await store.put("user_stats", features: ["extra"], rows: [.init(entityID: "u1", eventTime: at(200), values: [.int(2)])])
        _ = try await store.put("tricky", features: ["i_max"], rows: [.init(entityID: "u2", eventTime: at(300), values: [.int(-5)])])
        _ = try await store.put("profile", version: 1, features: ["tier"], rows: [.init(entityID: "u2", eventTime: at(300), values: [.string("x")])])
        catalogBefore = store.catalog
        statsBefore = store.shard.writeStats
        onlineBefore = try await store.onlineResults(["u1", "u2"], refs)
        historicalBefore = try await store.historicalResults(labels, refs)
        #expect(store.counterValues.rowsWritten == 4)
      }

      let store = try await open()
      #expect(store.catalog == catalogBefore)
      #expect(store.catalog.allVersions.map(\.storageID) == catalogBefore.allVersions.map(\.storageID))
      #expect(store.catalog.allVersions.map(\.createdAt) == catalogBefore.allVersions.map(\.createdAt))
      #expect(try store.catalog.group(named: "profile", version: 1).status == .deprecated)
      // Defaults come back bit for bit (== on floats would not tell -0.0 from 0.0).
      let reopenedTricky = try store.catalog.group(named: "tricky").spec.features.map(\.defaultValue)
      #expect(reopenedTricky.map(bitPatterns) == tricky.features.map(\.defaultValue).map(bitPatterns))
      #expect(store.shard.writeStats == statsBefore)
      #expect(store.counterValues == FeatureStore.Counters())
      // Reads after the reopen give what they gave before it.
      #expect(try await store.onlineResults(["u1", "u2"], refs) == onlineBefore)
      #expect(try await store.historicalResults(labels, refs) == historicalBefore)

      // Re-applying the same definitions changes nothing; new ones continue the numbering.
      clock.set(at(1_200))
      let again = try await store.apply([tricky])
      #expect(again.map(\.outcome) == [.unchanged])
      var profile2 = profile
      profile2.description = "changed"
      let next = try await store.apply([FeatureGroupSpec(name: "brand_new", features: [FeatureSpec(name: "x", dtype: .int)]), profile2])
      #expect(next.map(\.group.storageID) == [5, 6])
      #expect(next.map(\.group.version) == [1, 2])
      #expect(store.catalog.nextStorageID == 7)
    }
  }
}

// MARK: - Fixtures

private let base = Timestamp.seconds(1_700_000_000)

/// `base` plus `seconds`.
private func at(_ seconds: Int64) -> Timestamp { base.adding(microseconds: seconds * 1_000_000) }

/// clicks INT (default 0), spend FLOAT, country STRING (default "unknown"), vec EMBEDDING(3); max age 1 h.
private let stats = FeatureGroupSpec(
  name: "user_stats", maxAgeSeconds: 3_600,
  features: [
    FeatureSpec(name: "clicks", dtype: .int, defaultValue: .int(0)),
    FeatureSpec(name: "spend", dtype: .float),
    FeatureSpec(name: "country", dtype: .string, defaultValue: .string("unknown")),
    FeatureSpec(name: "vec", dtype: .embedding(dimension: 3)),
  ])

/// No max age.
private let profile = FeatureGroupSpec(name: "profile", features: [FeatureSpec(name: "tier", dtype: .string)])

private let retired = FeatureGroupSpec(name: "retired_stats", features: [FeatureSpec(name: "x", dtype: .int)])

/// A `user_stats` row over all four features.
private func row(_ entity: String, _ event: Timestamp, created: Timestamp? = nil, clicks: Int64?, spend: Double? = nil) -> WriteRequest.Row {
  .init(entityID: entity, eventTime: event, createdTime: created, values: [clicks.map { .int($0) }, spend.map { .float($0) }, nil, nil])
}

private func present(_ value: FeatureValue, _ event: Timestamp) -> FeatureResult {
  FeatureResult(value: value, status: .present, eventTime: event)
}

private func defaulted(_ value: FeatureValue, _ event: Timestamp?) -> FeatureResult {
  FeatureResult(value: value, status: .defaulted, eventTime: event)
}

private func missing(_ event: Timestamp?) -> FeatureResult {
  FeatureResult(value: nil, status: .missing, eventTime: event)
}

private func expired(_ value: FeatureValue?, _ event: Timestamp) -> FeatureResult {
  FeatureResult(value: value, status: .expired, eventTime: event)
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

/// Everything a write could change: history and online rows of the entities the batches name, the
/// persisted write statistics and the counters.
private struct Snapshot: Equatable {
  var history: [[StoredRow]] = []
  var online: [[StoredRow?]] = []
  var stats: [UInt32: GroupWriteStats]
  var counters: FeatureStore.Counters

  init(_ store: FeatureStore) throws {
    let entities = ["u1", "u2", "", String(repeating: "x", count: 1_025)]
    for group in store.catalog.allVersions {
      for entity in entities { history.append(try store.shard.history(entityID: entity, group: group)) }
      online.append(try store.shard.onlineRows(entityIDs: entities, group: group))
    }
    stats = store.shard.writeStats
    counters = store.counterValues
  }
}

extension FeatureStore {
  /// Writes `rows` (values for every feature of `spec`, in definition order) to the newest ACTIVE version.
  fileprivate func put(_ spec: FeatureGroupSpec, rows: [WriteRequest.Row]) async throws -> AppendOutcome {
    try await write(WriteRequest(group: spec.name, features: spec.features.map(\.name), rows: rows))
  }

  fileprivate func put(_ spec: FeatureGroupSpec, features: [String], rows: [WriteRequest.Row]) async throws -> AppendOutcome {
    try await write(WriteRequest(group: spec.name, features: features, rows: rows))
  }

  fileprivate func put(_ group: String, version: Int? = nil, features: [String], rows: [WriteRequest.Row]) async throws -> AppendOutcome {
    try await write(WriteRequest(group: group, version: version, features: features, rows: rows))
  }

  fileprivate func onlineResults(_ entities: [String], _ refs: [String]) async throws -> [[FeatureResult]] {
    try await online(entityIDs: entities, columns: resolve(refs.map { ref throws(StrataError) in try FeatureRef(parsing: ref) }))
  }

  fileprivate func onlineResult(_ entity: String, _ ref: String) async throws -> FeatureResult {
    try await onlineResults([entity], [ref])[0][0]
  }

  fileprivate func historicalResults(_ labels: [(String, Timestamp)], _ refs: [String]) async throws -> [[FeatureResult]] {
    try await historical(
      labels: labels.map { LabelRow(entityID: $0.0, time: $0.1) },
      columns: resolve(refs.map { ref throws(StrataError) in try FeatureRef(parsing: ref) }))
  }
}

/// Runs `body` with a fresh store over a fresh engine of `kind`, `specs` applied, and its clock.
private func withStore(
  _ kind: EngineKind, limits: StoreLimits = .defaults, apply specs: [FeatureGroupSpec] = [stats, profile],
  _ body: (FeatureStore, ManualClock) async throws -> Void
) async throws {
  try await withStoreDirectory { path in
    let clock = ManualClock(at(0))
    let store = try FeatureStore(engine: kind.open(at: path), limits: limits, clock: clock.function)
    if !specs.isEmpty { _ = try await store.apply(specs) }
    try await body(store, clock)
  }
}

private func expectError<R>(
  _ code: StrataError.Code, mentioning fragments: [String], _ context: String = "",
  sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws(StrataError) -> R
) {
  do {
    let value = try body()
    Issue.record("\(context): expected a '\(code)' error, got \(value)", sourceLocation: sourceLocation)
  } catch {
    check(error, code, fragments, context, sourceLocation)
  }
}

private func expectAsyncError<R>(
  _ code: StrataError.Code, mentioning fragments: [String], _ context: String = "",
  sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> R
) async {
  do {
    _ = try await body()
    Issue.record("\(context): expected a '\(code)' error, but the call succeeded", sourceLocation: sourceLocation)
  } catch let error as StrataError {
    check(error, code, fragments, context, sourceLocation)
  } catch {
    Issue.record("\(context): expected a StrataError, got \(error)", sourceLocation: sourceLocation)
  }
}

private func check(_ error: StrataError, _ code: StrataError.Code, _ fragments: [String], _ context: String, _ sourceLocation: SourceLocation) {
  #expect(error.code == code, "\(context): wrong code for \(error)", sourceLocation: sourceLocation)
  for fragment in fragments {
    #expect(error.message.contains(fragment), "\(context): message \"\(error.message)\" should mention \"\(fragment)\"", sourceLocation: sourceLocation)
  }
}

// MARK: - Shared with PointInTimePropertyTests

/// A clock the test sets by hand, for `FeatureStore(clock:)`.
final class ManualClock: Sendable {
  private let current: Mutex<Timestamp>

  init(_ start: Timestamp) { current = Mutex(start) }

  var now: Timestamp { current.withLock { $0 } }

  func set(_ time: Timestamp) { current.withLock { $0 = time } }

  func advance(microseconds: Int64) { current.withLock { $0 = $0.adding(microseconds: microseconds) } }

  /// The clock as the closure `FeatureStore` takes.
  var function: @Sendable () -> Timestamp { { [self] in now } }
}

/// Opens the engine at `path`. A RocksDB directory whose previous engine was just dropped can stay locked
/// for a moment (a storage thread may still be releasing its last reference), so a lock error is retried.
func openRetryingLock(_ kind: EngineKind, at path: String) async throws -> any StorageEngine {
  for _ in 0..<100 {
    do {
      return try kind.open(at: path)
    } catch let error as StrataError where error.code == .unavailable {
      try await Task.sleep(for: .milliseconds(10))
    }
  }
  return try kind.open(at: path)
}

/// `withTemporaryDirectory` for async bodies: the path of a directory that does not exist yet, removed
/// afterwards.
func withStoreDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
  let url = FileManager.default.temporaryDirectory
    .appendingPathComponent("strata-store-tests-\(UUID().uuidString)", isDirectory: true)
  defer { try? FileManager.default.removeItem(at: url) }
  return try await body(url.path)
}
