import StrataTestSupport
import GRPCCore
import StrataCore
import StrataProto
import SwiftProtobuf
import Testing

/// GetHistoricalFeatures (the point-in-time join) over the bidirectional stream.
@Suite("GetHistoricalFeatures RPC")
struct HistoricalRPCTests {
  @Test("the first response carries the columns; rows come back in label order across several request messages")
  func orderAcrossMessages() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      _ = try await s.write(
        "user_stats", features: ["score"],
        rows: [
          writeRow("a", .t0(-60), [.float(1)]), writeRow("a", .t0(-20), [.float(2)]),
          writeRow("b", .t0(-70), [.float(10)]), writeRow("c", .t0(-15), [.float(100)]),
        ])
      let messages = [
        historicalRequest(features: ["user_stats:score", "user_stats:clicks"], labels: [label("a", .t0(-50)), label("b", .t0(-50))]),
        historicalRequest(labels: [label("c", .t0(-10)), label("a", .t0(-5)), label("b", .t0(-100)), label("a", .t0(-50))]),
        historicalRequest(labels: [label("b", .t0(-1))]),
      ]
      let responses = try await s.historical(messages)
      try #require(!responses.isEmpty)
      #expect(responses[0].columns.map(\.ref) == ["user_stats@1:score", "user_stats@1:clicks"])
      #expect(responses.dropFirst().allSatisfy { $0.columns.isEmpty }, "only the first response carries columns")

      let rows = responses.flatMap(\.rows)
      let sent = messages.flatMap(\.labels)
      #expect(rows.map(\.entityID) == sent.map(\.entityID))
      #expect(rows.map(\.labelTimestampMicros) == sent.map(\.labelTimestampMicros))
      #expect(rows.map { $0.results.map(\.value) } == [
        [.float(1), .int(0)], [.float(10), .int(0)], [.float(100), .int(0)], [.float(2), .int(0)],
        [Strata_V1_Value(), .int(0)], [.float(1), .int(0)], [.float(10), .int(0)],
      ])
      #expect(rows[4].results.map(\.status) == [.missing, .defaulted])
      #expect(rows[3].results.map(\.status) == [.present, .defaulted])
    }
  }

  @Test("features are read from the first message only; a message without labels yields no rows")
  func featuresOnlyFromFirstMessage() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      _ = try await s.write("user_stats", features: ["score", "clicks"], rows: [writeRow("a", .t0(-5), [.float(1), .int(2)])])
      let responses = try await s.historical([
        historicalRequest(features: ["user_stats:score"], labels: []),
        historicalRequest(features: ["user_stats:clicks", "user_stats:country"], labels: [label("a", .t0(0))]),
      ])
      #expect(responses.first?.columns.map(\.ref) == ["user_stats@1:score"])
      let rows = responses.flatMap(\.rows)
      #expect(rows.map(\.results) == [[result(.float(1), .present, event: .t0(-5))]])
    }
  }

  @Test("point-in-time rule: event == label counts, future rows never used, ties by created time, then the later write")
  func exactSemantics() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      // Separate calls, so "later write" is unambiguous.
      for (event, created, value) in [
        (-300, -300, 1.0), (-100, -100, 5.0), (-200, -200, 2.0), (-200, -150, 3.0), (-200, -180, 4.0), (-200, -150, 6.0),
      ] as [(Int64, Int64, Double)] {
        _ = try await s.write(
          "user_stats", features: ["score"], rows: [writeRow("e", .t0(event), created: .t0(created), [.float(value)])])
      }
      let cases: [(Timestamp, Strata_V1_FeatureResult)] = [
        (.t0(-301), result(nil, .missing, event: nil)),  // only future rows exist
        (.t0(-300), result(.float(1), .present, event: .t0(-300))),  // equal counts
        (.t0(-250), result(.float(1), .present, event: .t0(-300))),
        (.t0(-200, micros: -1), result(.float(1), .present, event: .t0(-300))),
        (.t0(-200), result(.float(6), .present, event: .t0(-200))),  // greatest created; equal created: later write
        (.t0(-101), result(.float(6), .present, event: .t0(-200))),
        (.t0(-100, micros: -1), result(.float(6), .present, event: .t0(-200))),
        (.t0(-100), result(.float(5), .present, event: .t0(-100))),
        (.t0(0), result(.float(5), .present, event: .t0(-100))),
        (.t0(1_000_000), result(.float(5), .present, event: .t0(-100))),  // a label far in the future is fine
      ]
      let rows = try await s.historicalRows(["user_stats:score"], cases.map { label("e", $0.0) })
      try #require(rows.count == cases.count)
      for (i, c) in cases.enumerated() {
        #expect(rows[i].results == [c.1], "label \(c.0)")
      }
      // Online agrees with the latest row.
      #expect(try await s.online(["e"], ["user_stats:score"]).vectors[0].results == [result(.float(5), .present, event: .t0(-100))])
    }
  }

  @Test("max age is checked against the label time (inclusive), not against now")
  func maxAgeAgainstLabelTime() async throws {
    try await withStrata { s in
      _ = try await s.apply(groupSpec("fresh", maxAgeSeconds: 60, [featureSpec("v", .int, default: .int(-1)), featureSpec("w", .string)]))
      _ = try await s.write("fresh", features: ["v", "w"], rows: [writeRow("e", .t0(-200), [.int(1), .string("x")])])
      let cases: [(Timestamp, [Strata_V1_FeatureResult])] = [
        (.t0(-201), [result(.int(-1), .defaulted, event: nil), result(nil, .missing, event: nil)]),
        (.t0(-200), [result(.int(1), .present, event: .t0(-200)), result(.string("x"), .present, event: .t0(-200))]),
        (.t0(-140), [result(.int(1), .present, event: .t0(-200)), result(.string("x"), .present, event: .t0(-200))]),
        (.t0(-140, micros: 1), [result(.int(-1), .expired, event: .t0(-200)), result(nil, .expired, event: .t0(-200))]),
        (.t0(0), [result(.int(-1), .expired, event: .t0(-200)), result(nil, .expired, event: .t0(-200))]),
      ]
      let rows = try await s.historicalRows(["fresh:*"], cases.map { label("e", $0.0) })
      try #require(rows.count == cases.count)
      for (i, c) in cases.enumerated() {
        #expect(rows[i].results == c.1, "label \(c.0)")
      }
    }
  }

  @Test("a message of 2,500 labels comes back split into responses of at most 1,024 rows, in order")
  func largeMessageIsSplit() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      _ = try await s.write(
        "user_stats", features: ["clicks"], rows: (0..<50).map { writeRow("e\($0)", .t0(-Int64($0) - 1), [.int(Int64($0))]) })
      let labels = (0..<2_500).map { i in label("e\((i * 7) % 53)", .t0(-Int64(i % 60))) }
      let responses = try await s.historical([historicalRequest(features: ["user_stats:clicks"], labels: labels)])
      let rowCounts = responses.map(\.rows.count).filter { $0 > 0 }
      #expect(rowCounts == [1_024, 1_024, 452])
      let rows = responses.flatMap(\.rows)
      #expect(rows.map(\.entityID) == labels.map(\.entityID))
      #expect(rows.map(\.labelTimestampMicros) == labels.map(\.labelTimestampMicros))
      for (i, row) in rows.enumerated() {
        let n = (i * 7) % 53
        let expected =
          n < 50 && -Int64(n) - 1 <= -Int64(i % 60)
          ? result(.int(Int64(n)), .present, event: .t0(-Int64(n) - 1)) : result(.int(0), .defaulted, event: nil)
        if row.results != [expected] {
          Issue.record("label \(i) (e\(n) at -\(i % 60)s): got \(row.results), expected \(expected)")
          break
        }
      }
    }
  }

  // MARK: Random property test

  /// A row as the oracle remembers it.
  struct OracleRow {
    var group: String
    var entity: String
    var event: Int64
    var created: Int64
    /// Global write order (the store's sequence order).
    var sequence: Int
    /// Full-width values, in the group's feature order.
    var values: [Strata_V1_Value?]
  }

  struct PropGroup {
    var spec: Strata_V1_FeatureGroupSpec
    var maxAgeMicros: Int64?
    var names: [String] { spec.features.map(\.name) }
    var defaults: [Strata_V1_Value?] { spec.features.map { $0.hasDefaultValue ? $0.defaultValue : nil } }

    func value(feature: Int, sequence: Int) -> Strata_V1_Value {
      switch spec.features[feature].dtype {
      case .float: .float(Double(sequence) + 0.5)
      case .int: .int(Int64(sequence) * 10)
      case .string: .string("row-\(sequence)")
      default: .embedding([Float(sequence), -Float(sequence)])
      }
    }
  }

  static let propGroups: [PropGroup] = [
    PropGroup(
      spec: groupSpec("prop", maxAgeSeconds: 3, [featureSpec("a", .float), featureSpec("b", .int, default: .int(7))]),
      maxAgeMicros: 3_000_000),
    PropGroup(
      spec: groupSpec(
        "keep", [featureSpec("s", .string), featureSpec("e", .embedding, dim: 2, default: .embedding([0.5, 0.25]))]),
      maxAgeMicros: nil),
  ]

  /// What the point-in-time rule says for `rows` (one entity and group) at `reference`.
  static func oracle(_ rows: [OracleRow], asOf reference: Int64, group: PropGroup, feature: Int) -> Strata_V1_FeatureResult {
    let winner = rows.filter { $0.event <= reference }.max { ($0.event, $0.created, $0.sequence) < ($1.event, $1.created, $1.sequence) }
    let fallback = group.defaults[feature]
    guard let winner else { return result(fallback, fallback == nil ? .missing : .defaulted, event: nil) }
    let event = Timestamp(microseconds: winner.event)
    if let maxAge = group.maxAgeMicros, winner.event < reference - maxAge {
      return result(fallback, .expired, event: event)
    }
    if let v = winner.values[feature] { return result(v, .present, event: event) }
    return result(fallback, fallback == nil ? .missing : .defaulted, event: event)
  }

  @Test("random rows with many ties, random labels: every joined value and status matches a brute-force oracle")
  func randomAgainstOracle() async throws {
    let seed = SplitMix64.testSeed()
    print("HistoricalRPCTests.randomAgainstOracle: seed \(seed) (STRATA_TEST_SEED=\(seed) replays it)")
    var random = SplitMix64(seed: seed)
    for round in 0..<4 {
      try await Self.randomRound(&random, context: "seed \(seed), round \(round)")
    }
  }

  static func randomRound(_ random: inout SplitMix64, context: String) async throws {
    let entities = ["e1", "e10", "e2", "x"]
    let base = Timestamp.t0(-8).microseconds
    let second: Int64 = 1_000_000
    try await withStrata { s in
      _ = try await s.apply(propGroups.map(\.spec))
      var written: [OracleRow] = []
      var expectedLate: UInt64 = 0

      // Writes: a few calls of a few batches of a few rows, with many equal event and created times.
      for _ in 0..<(3 + random.below(5)) {
        var batches: [Strata_V1_WriteFeaturesRequest] = []
        for _ in 0..<(1 + random.below(3)) {
          let g = random.element(of: propGroups)
          // A random subset of the features, in random order (sometimes none at all).
          var columns = Array(g.names.indices)
          for i in columns.indices.reversed() { columns.swapAt(i, random.below(i + 1)) }
          columns = Array(columns.prefix(random.below(columns.count + 1)))
          let before = written
          var rows: [Strata_V1_WriteRow] = []
          for _ in 0..<(1 + random.below(6)) {
            let sequence = written.count
            let entity = random.element(of: entities)
            let event = base + Int64(random.below(6)) * second + (random.oneIn(6) ? 1 : 0)
            let created: Int64? = random.oneIn(4) ? nil : base + Int64(random.below(4)) * second
            var full = [Strata_V1_Value?](repeating: nil, count: g.names.count)
            var sent: [Strata_V1_Value] = []
            for c in columns {
              if random.oneIn(4) {
                sent.append(.null)
              } else {
                let v = g.value(feature: c, sequence: sequence)
                full[c] = v
                sent.append(v)
              }
            }
            rows.append(
              writeRow(
                entity, Timestamp(microseconds: event), created: created.map { Timestamp(microseconds: $0) }, sent))
            let row = OracleRow(
              group: g.spec.name, entity: entity, event: event, created: created ?? s.clock.now.microseconds,
              sequence: sequence, values: full)
            // Late: the online row stored before this batch has a greater (event, created).
            if let old = before.filter({ $0.group == row.group && $0.entity == entity }).max(by: {
              ($0.event, $0.created, $0.sequence) < ($1.event, $1.created, $1.sequence)
            }), (old.event, old.created) > (row.event, row.created) {
              expectedLate += 1
            }
            written.append(row)
          }
          batches.append(writeBatch(g.spec.name, features: columns.map { g.names[$0] }, rows: rows))
        }
        _ = try await s.write(batches)
      }
      let status = try await s.status()
      #expect(status.rowsWritten == UInt64(written.count), Comment(rawValue: context))
      #expect(status.lateRows == expectedLate, Comment(rawValue: context))

      // Labels over both groups' features, in a few messages.
      let refs = ["prop:*", "keep:s", "keep:e"]
      let columns: [(PropGroup, Int)] = [(propGroups[0], 0), (propGroups[0], 1), (propGroups[1], 0), (propGroups[1], 1)]
      var labels: [Strata_V1_LabelRow] = []
      for _ in 0..<(100 + random.below(100)) {
        let entity = random.oneIn(10) ? "ghost" : random.element(of: entities)
        let t = base + Int64(random.below(9) - 1) * second + Int64(random.element(of: [-1, 0, 0, 0, 1]))
        labels.append(label(entity, Timestamp(microseconds: t)))
      }
      var messages: [Strata_V1_GetHistoricalFeaturesRequest] = []
      var rest = labels[...]
      while !rest.isEmpty || messages.isEmpty {
        let n = min(rest.count, random.below(80))
        messages.append(historicalRequest(features: messages.isEmpty ? refs : [], labels: Array(rest.prefix(n))))
        rest = rest.dropFirst(n)
      }
      let responses = try await s.historical(messages)
      #expect(responses.first?.columns.map(\.ref) == ["prop@1:a", "prop@1:b", "keep@1:s", "keep@1:e"], Comment(rawValue: context))
      let rows = responses.flatMap(\.rows)
      try #require(rows.count == labels.count, Comment(rawValue: context))

      var mismatches = 0
      for (i, (row, l)) in zip(rows, labels).enumerated() {
        #expect(row.entityID == l.entityID && row.labelTimestampMicros == l.labelTimestampMicros, Comment(rawValue: context))
        for (j, (g, f)) in columns.enumerated() {
          let history = written.filter { $0.group == g.spec.name && $0.entity == l.entityID }
          let expected = oracle(history, asOf: l.labelTimestampMicros, group: g, feature: f)
          if row.results[j] != expected, mismatches < 5 {
            mismatches += 1
            Issue.record(
              "\(context): label \(i) \(l.entityID)@\(l.labelTimestampMicros - base)µs column \(g.names[f]) got \(row.results[j]) expected \(expected); rows: \(history.map { "(\($0.event - base), \($0.created - base), #\($0.sequence))" })"
            )
          }
        }
      }

      // Online is the same rule with reference = now and every row in the past.
      let now = s.clock.now.microseconds
      let online = try await s.online(entities + ["ghost"], refs)
      for (k, entity) in (entities + ["ghost"]).enumerated() {
        for (j, (g, f)) in columns.enumerated() {
          let history = written.filter { $0.group == g.spec.name && $0.entity == entity }
          let expected = oracle(history, asOf: now, group: g, feature: f)
          #expect(online.vectors[k].results[j] == expected, "\(context): online \(entity) \(g.names[f])")
        }
      }
    }
  }
}
