import StrataTestSupport
import Testing

@testable import StrataCore

// MARK: - Fixtures

/// Feature 0: `score` FLOAT with default -1. Feature 1: `label` STRING without default.
private let scoreDefault = FeatureValue.float(-1)

private func group(maxAgeSeconds: Int64? = nil) -> FeatureGroup {
  FeatureGroup(
    spec: FeatureGroupSpec(
      name: "user_stats", maxAgeSeconds: maxAgeSeconds,
      features: [
        FeatureSpec(name: "score", dtype: .float, defaultValue: scoreDefault),
        FeatureSpec(name: "label", dtype: .string),
      ]),
    version: 1, status: .active, createdAt: .epoch, storageID: 1)
}

private let label = Timestamp.seconds(1_714_564_800)

private func at(_ seconds: Int64, micros: Int64 = 0) -> Timestamp {
  label.adding(microseconds: seconds * 1_000_000 + micros)
}

private func row(
  _ event: Timestamp, created: Timestamp? = nil, seq: UInt64 = 0, score: Double? = 1, text: String? = "x"
) -> StoredRow {
  StoredRow(
    eventTime: event, createdTime: created ?? event, sequence: seq, values: [score.map { .float($0) }, text.map { .string($0) }])
}

/// Every ordering of `rows` (all permutations up to 5 rows), so "any order" is really checked.
private func permutations(_ rows: [StoredRow]) -> [[StoredRow]] {
  guard rows.count > 1 else { return [rows] }
  var out: [[StoredRow]] = []
  for i in rows.indices {
    var rest = rows
    let head = rest.remove(at: i)
    for tail in permutations(rest) { out.append([head] + tail) }
  }
  return out
}

/// Asserts that every ordering of `rows` picks `expected` at `reference`.
private func expectLatest(
  _ rows: [StoredRow], asOf reference: Timestamp, is expected: StoredRow?, sourceLocation: SourceLocation = #_sourceLocation
) {
  for ordering in permutations(rows) {
    let got = PointInTime.latestRow(in: ordering, asOf: reference)
    #expect(got == expected, "rows in order \(ordering.map(\.sequence))", sourceLocation: sourceLocation)
  }
}

@Suite("PointInTime: choosing the row and turning it into a value")
struct PointInTimeTests {
  // MARK: Choosing the row

  @Test("a row exactly at the label time counts (event == label)")
  func exactEquality() {
    let older = row(at(-10), seq: 1, score: 1)
    let exact = row(label, seq: 2, score: 2)
    expectLatest([older, exact], asOf: label, is: exact)
    let r = PointInTime.result(row: exact, featureIndex: 0, group: group(), reference: label)
    #expect(r == FeatureResult(value: .float(2), status: .present, eventTime: label))
  }

  @Test("among equal event times the greater created time wins (a later correction), whatever the sequence")
  func createdTimeBreaksTies() {
    let original = row(at(-5), created: at(-5), seq: 9, score: 1)
    let correction = row(at(-5), created: at(100), seq: 1, score: 2)  // written later, but lower sequence
    let older = row(at(-6), created: at(200), seq: 20, score: 3)  // newest write, but older event
    expectLatest([original, correction, older], asOf: label, is: correction)
  }

  @Test("among equal event and created times the greater sequence wins")
  func sequenceBreaksTies() {
    let first = row(at(-5), created: at(0), seq: 3, score: 1)
    let second = row(at(-5), created: at(0), seq: 7, score: 2)
    let third = row(at(-5), created: at(0), seq: 5, score: 3)
    expectLatest([first, second, third], asOf: label, is: second)
  }

  @Test("a row from the future is never used, not even one microsecond ahead")
  func noFutureRows() {
    let past = row(at(-60), seq: 1, score: 1)
    let future = row(at(0, micros: 1), created: at(1_000), seq: 99, score: 2)
    expectLatest([past, future], asOf: label, is: past)
    expectLatest([future], asOf: label, is: nil)
    // One microsecond later the same row is the answer.
    expectLatest([past, future], asOf: at(0, micros: 1), is: future)
    // A future row cannot become a value either.
    let g = group()
    let r = PointInTime.result(row: PointInTime.latestRow(in: [future], asOf: label), featureIndex: 0, group: g, reference: label)
    #expect(r == FeatureResult(value: scoreDefault, status: .defaulted, eventTime: nil))
  }

  @Test("no rows at all (an absent entity) gives no row")
  func absentEntity() {
    let history: [String: [StoredRow]] = ["u1": [row(at(-1))]]
    expectLatest(history["u2"] ?? [], asOf: label, is: nil)
    let g = group(maxAgeSeconds: 60)
    let rows = history["u2"] ?? []
    let winner = PointInTime.latestRow(in: rows, asOf: label)
    #expect(
      PointInTime.result(row: winner, featureIndex: 0, group: g, reference: label)
        == FeatureResult(value: scoreDefault, status: .defaulted, eventTime: nil))
    #expect(
      PointInTime.result(row: winner, featureIndex: 1, group: g, reference: label)
        == FeatureResult(value: nil, status: .missing, eventTime: nil))
  }

  // MARK: Turning the row into a value

  @Test("a stored value is PRESENT with the row's event time")
  func present() {
    let r = row(at(-30), score: 0, text: "")
    let g = group()
    // A real 0 and a real empty string are PRESENT, distinguishable from defaults.
    #expect(
      PointInTime.result(row: r, featureIndex: 0, group: g, reference: label)
        == FeatureResult(value: .float(0), status: .present, eventTime: at(-30)))
    #expect(
      PointInTime.result(row: r, featureIndex: 1, group: g, reference: label)
        == FeatureResult(value: .string(""), status: .present, eventTime: at(-30)))
  }

  @Test("no row: DEFAULTED with the default, or MISSING with null when there is no default")
  func noRowDefaults() {
    let g = group(maxAgeSeconds: 10)
    #expect(
      PointInTime.result(row: nil, featureIndex: 0, group: g, reference: label)
        == FeatureResult(value: scoreDefault, status: .defaulted, eventTime: nil))
    #expect(
      PointInTime.result(row: nil, featureIndex: 1, group: g, reference: label)
        == FeatureResult(value: nil, status: .missing, eventTime: nil))
  }

  @Test("a winning row whose slot is null: DEFAULTED/MISSING with that row's event time, no fallback to older rows")
  func nullSlot() {
    let olderWithValues = row(at(-20), seq: 1, score: 5, text: "old")
    let newerNulls = row(at(-10), seq: 2, score: nil, text: nil)
    let winner = PointInTime.latestRow(in: [olderWithValues, newerNulls], asOf: label)
    #expect(winner == newerNulls)
    let g = group(maxAgeSeconds: 3_600)
    #expect(
      PointInTime.result(row: winner, featureIndex: 0, group: g, reference: label)
        == FeatureResult(value: scoreDefault, status: .defaulted, eventTime: at(-10)))
    #expect(
      PointInTime.result(row: winner, featureIndex: 1, group: g, reference: label)
        == FeatureResult(value: nil, status: .missing, eventTime: at(-10)))
  }

  @Test("max age is inclusive: event == label - maxAge is PRESENT, one microsecond older is EXPIRED")
  func maxAgeBoundary() {
    let g = group(maxAgeSeconds: 3_600)
    #expect(g.maxAgeMicros == 3_600_000_000)
    let edge = row(at(-3_600), score: 7, text: "edge")
    #expect(
      PointInTime.result(row: edge, featureIndex: 0, group: g, reference: label)
        == FeatureResult(value: .float(7), status: .present, eventTime: at(-3_600)))
    #expect(
      PointInTime.result(row: edge, featureIndex: 1, group: g, reference: label)
        == FeatureResult(value: .string("edge"), status: .present, eventTime: at(-3_600)))

    let stale = row(at(-3_600, micros: -1), score: 7, text: "stale")
    // EXPIRED carries the default (or null) but still reports when the stale row was written.
    #expect(
      PointInTime.result(row: stale, featureIndex: 0, group: g, reference: label)
        == FeatureResult(value: scoreDefault, status: .expired, eventTime: at(-3_600, micros: -1)))
    #expect(
      PointInTime.result(row: stale, featureIndex: 1, group: g, reference: label)
        == FeatureResult(value: nil, status: .expired, eventTime: at(-3_600, micros: -1)))

    // The reference matters, not the wall clock: the same row is fresh for an earlier label.
    #expect(
      PointInTime.result(row: stale, featureIndex: 0, group: g, reference: label.subtracting(microseconds: 1)).status
        == .present)
  }

  @Test("an expired row with a null slot is EXPIRED (expiry is decided before the slot)")
  func expiredNullSlot() {
    let g = group(maxAgeSeconds: 60)
    let stale = row(at(-61), score: nil, text: nil)
    #expect(
      PointInTime.result(row: stale, featureIndex: 0, group: g, reference: label)
        == FeatureResult(value: scoreDefault, status: .expired, eventTime: at(-61)))
    #expect(
      PointInTime.result(row: stale, featureIndex: 1, group: g, reference: label)
        == FeatureResult(value: nil, status: .expired, eventTime: at(-61)))
  }

  @Test("without a max age, values never expire")
  func noMaxAge() {
    let g = group(maxAgeSeconds: nil)
    #expect(g.maxAgeMicros == nil)
    let ancient = row(Timestamp(microseconds: -62_135_596_800_000_000), score: 3)  // year 1
    #expect(PointInTime.result(row: ancient, featureIndex: 0, group: g, reference: label).status == .present)
    #expect(PointInTime.result(row: row(.min), featureIndex: 0, group: g, reference: .max).status == .present)
  }

  @Test("extreme references and max ages saturate instead of trapping")
  func saturation() {
    // label - maxAge underflows: nothing can be older than the bound, so nothing expires.
    let g = group(maxAgeSeconds: 60)
    let nearMin = Timestamp.min.adding(microseconds: 5)
    #expect(PointInTime.result(row: row(.min), featureIndex: 0, group: g, reference: nearMin).status == .present)
    // A max age too large for microseconds behaves as "practically never".
    let huge = group(maxAgeSeconds: .max)
    #expect(huge.maxAgeMicros == .max)
    #expect(PointInTime.result(row: row(.epoch), featureIndex: 0, group: huge, reference: label).status == .present)
    #expect(PointInTime.result(row: row(label), featureIndex: 0, group: huge, reference: .max).status == .present)
    // latestRow at the extremes.
    expectLatest([row(.min, seq: 1), row(.max, seq: 2)], asOf: .min, is: row(.min, seq: 1))
    expectLatest([row(.min, seq: 1), row(.max, seq: 2)], asOf: .max, is: row(.max, seq: 2))
  }

  // MARK: - Properties

  /// Brute force: sort by (event, created, sequence) and take the last row with event <= reference.
  static func oracleLatest(_ rows: [StoredRow], asOf reference: Timestamp) -> StoredRow? {
    rows
      .sorted {
        ($0.eventTime.microseconds, $0.createdTime.microseconds, $0.sequence)
          < ($1.eventTime.microseconds, $1.createdTime.microseconds, $1.sequence)
      }
      .last { $0.eventTime.microseconds <= reference.microseconds }
  }

  /// The value rules, written independently (exact 128-bit age arithmetic, seconds of max age).
  static func oracleResult(
    _ row: StoredRow?, feature: FeatureSpec, slot: Int, maxAgeSeconds: Int64?, reference: Timestamp
  ) -> FeatureResult {
    let defaultStatus: ValueStatus = feature.defaultValue == nil ? .missing : .defaulted
    guard let row else { return FeatureResult(value: feature.defaultValue, status: defaultStatus, eventTime: nil) }
    if let maxAgeSeconds {
      let age = Int128(reference.microseconds) - Int128(row.eventTime.microseconds)
      if age > Int128(maxAgeSeconds) * 1_000_000 {
        return FeatureResult(value: feature.defaultValue, status: .expired, eventTime: row.eventTime)
      }
    }
    if let value = row.values[slot] { return FeatureResult(value: value, status: .present, eventTime: row.eventTime) }
    return FeatureResult(value: feature.defaultValue, status: defaultStatus, eventTime: row.eventTime)
  }

  @Test("latestRow and result agree with brute-force oracles on random rows with frequent ties")
  func randomAgainstOracle() {
    var rng = SplitMix64.forTest("PointInTime.randomAgainstOracle")
    let seed = rng.seedDescription
    let base = label.microseconds
    let step: Int64 = 500_000  // half a second: max ages of whole seconds land exactly on the grid
    var statusCounts: [ValueStatus: Int] = [:]
    var rowFound = 0
    var lookups = 0
    var ties = 0

    func jitter(_ rng: inout SplitMix64) -> Int64 {
      switch Int.random(in: 0..<6, using: &rng) {
      case 0: -1
      case 1: 1
      default: 0
      }
    }

    for _ in 0..<3_000 {
      // A random group: each feature with or without a default, with or without a max age.
      let features = [
        FeatureSpec(name: "f", dtype: .float, defaultValue: Bool.random(using: &rng) ? .float(-1) : nil),
        FeatureSpec(name: "i", dtype: .int, defaultValue: Bool.random(using: &rng) ? .int(0) : nil),
      ]
      let maxAge: Int64? = Int.random(in: 0..<4, using: &rng) == 0 ? nil : Int64.random(in: 1...4, using: &rng)
      let g = FeatureGroup(
        spec: FeatureGroupSpec(name: "g", maxAgeSeconds: maxAge, features: features), version: 1, status: .active,
        createdAt: .epoch, storageID: 1)

      // Rows in a tiny time range (12 grid points, 4 created times), unique sequences.
      let count = Int.random(in: 0...12, using: &rng)
      var sequences = Array(UInt64(0)..<UInt64(count * 3))
      sequences.shuffle(using: &rng)
      var rows: [StoredRow] = []
      for k in 0..<count {
        let event = base + Int64.random(in: 0..<12, using: &rng) * step + jitter(&rng)
        let created = base + Int64.random(in: 0..<4, using: &rng) * 1_000
        rows.append(
          StoredRow(
            eventTime: Timestamp(microseconds: event), createdTime: Timestamp(microseconds: created), sequence: sequences[k],
            values: [
              Bool.random(using: &rng) ? .float(Double(k)) : nil,
              Int.random(in: 0..<3, using: &rng) > 0 ? .int(Int64(k)) : nil,
            ]))
      }
      if Set(rows.map(\.eventTime)).count < rows.count { ties += 1 }

      for _ in 0..<8 {
        let reference = Timestamp(microseconds: base + Int64.random(in: -2..<16, using: &rng) * step + jitter(&rng))
        let expected = Self.oracleLatest(rows, asOf: reference)
        let got = PointInTime.latestRow(in: rows, asOf: reference)
        lookups += 1
        guard got == expected else {
          Issue.record(
            "latestRow at \(reference.microseconds - base) over \(rows.map { ($0.eventTime.microseconds - base, $0.createdTime.microseconds - base, $0.sequence) }): expected \(String(describing: expected)), got \(String(describing: got)); \(seed)"
          )
          return
        }
        if got != nil { rowFound += 1 }
        for slot in 0..<2 {
          let want = Self.oracleResult(
            expected, feature: features[slot], slot: slot, maxAgeSeconds: maxAge, reference: reference)
          let have = PointInTime.result(row: got, featureIndex: slot, group: g, reference: reference)
          statusCounts[have.status, default: 0] += 1
          guard have == want else {
            Issue.record(
              "result slot \(slot) at \(reference.microseconds - base), maxAge \(String(describing: maxAge)), row \(String(describing: got)): expected \(want), got \(have); \(seed)"
            )
            return
          }
        }
      }
    }
    // The generator must actually reach every case, or the comparison proves little.
    for status in [ValueStatus.present, .defaulted, .missing, .expired] {
      #expect(statusCounts[status, default: 0] > 100, "status \(status) seen \(statusCounts[status, default: 0]) times; \(seed)")
    }
    #expect(rowFound > lookups / 3, "\(seed)")
    #expect(ties > 600, "\(seed)")
  }

  @Test("latestRow agrees with the oracle over the full Int64 time range (sign and saturation)")
  func randomFullRange() {
    var rng = SplitMix64.forTest("PointInTime.randomFullRange")
    let seed = rng.seedDescription
    let interesting: [Int64] = [.min, .min + 1, -1, 0, 1, .max - 1, .max]
    func time(_ rng: inout SplitMix64) -> Timestamp {
      Timestamp(
        microseconds: Bool.random(using: &rng)
          ? interesting.randomElement(using: &rng)! : Int64.random(in: .min ... .max, using: &rng))
    }
    for _ in 0..<2_000 {
      let maxAge: Int64? = Bool.random(using: &rng) ? nil : Int64.random(in: 1...(Int64.max / 1_000_000), using: &rng)
      let feature = FeatureSpec(name: "f", dtype: .int, defaultValue: Bool.random(using: &rng) ? .int(7) : nil)
      let g = FeatureGroup(
        spec: FeatureGroupSpec(name: "g", maxAgeSeconds: maxAge, features: [feature]), version: 1, status: .active,
        createdAt: .epoch, storageID: 1)
      let rows = (0..<Int.random(in: 0...6, using: &rng)).map { k in
        StoredRow(
          eventTime: time(&rng), createdTime: time(&rng), sequence: UInt64(k) &* 0x9E37_79B9_7F4A_7C15,
          values: [Bool.random(using: &rng) ? .int(Int64(k)) : nil])
      }
      for _ in 0..<4 {
        let reference = time(&rng)
        let expected = Self.oracleLatest(rows, asOf: reference)
        let got = PointInTime.latestRow(in: rows, asOf: reference)
        #expect(got == expected, "\(seed)")
        let want = Self.oracleResult(expected, feature: feature, slot: 0, maxAgeSeconds: maxAge, reference: reference)
        let have = PointInTime.result(row: got, featureIndex: 0, group: g, reference: reference)
        #expect(have == want, "reference \(reference.microseconds), maxAge \(String(describing: maxAge)), row \(String(describing: got)); \(seed)")
        if got != expected || have != want { return }
      }
    }
  }
}
