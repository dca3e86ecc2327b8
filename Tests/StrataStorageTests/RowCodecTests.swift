import StrataTestSupport
import StrataCore
import Testing

@testable import StrataStorage

/// The compact row encoding. Round trips go through a real engine (stored, read back, decoded) so the
/// bytes the engine hands back are what gets decoded.
@Suite("RowCodec")
struct RowCodecTests {
  @Test("random rows of every dtype round-trip bit for bit, nulls and edge values included", arguments: EngineKind.allCases)
  func randomRoundTrip(kind: EngineKind) throws {
    var random = SplitMix64(seed: 0x0c0d_ec)
    var rows: [(dtypes: [DType], values: [FeatureValue?])] = []
    // Hand-picked rows first: every edge value of every dtype, all null, nothing at all.
    rows.append((
      [.float, .float, .float, .float, .int, .int, .int, .string, .string, .string, .string, .embedding(dimension: 3)],
      [
        .float(-0.0), .float(.leastNonzeroMagnitude), .float(.greatestFiniteMagnitude), .float(-.greatestFiniteMagnitude),
        .int(.min), .int(.max), .int(0), .string(""), .string("日本語 🙂👍🏽 e\u{301}"), .string("\u{0}"),
        .string(String(repeating: "x", count: 300)), .embedding([-0.0, .greatestFiniteMagnitude, -.leastNonzeroMagnitude]),
      ]
    ))
    rows.append(([.int, .string, .float, .embedding(dimension: 2)], [nil, nil, nil, nil]))
    rows.append(([], []))
    for _ in 0..<300 {
      let dtypes = (0..<(1 + random.below(20))).map { _ in randomDType(&random) }
      rows.append((dtypes, dtypes.map { random.below(4) == 0 ? nil : randomValue(of: $0, &random) }))
    }

    try kind.withEngine { engine throws in
      var batch = WriteBatch()
      for (i, row) in rows.enumerated() {
        batch.put(rowKey(i), RowCodec.encode(row.values, dtypes: row.dtypes), in: .history)
      }
      try engine.write(batch)
      for (i, row) in rows.enumerated() {
        let bytes = try #require(try engine.get(rowKey(i), in: .history))
        let decoded = try RowCodec.decode(bytes, dtypes: row.dtypes)
        #expect(decoded.count == row.values.count)
        #expect(bitwiseEqual(decoded, row.values), "row \(i): \(row.dtypes) \(row.values) decoded as \(decoded)")
        // Decoded after a header (as online values are), the same values.
        let prefix = [UInt8](repeating: UInt8(i & 0xFF), count: i % 30)
        let offset = try RowCodec.decode(prefix + bytes, from: prefix.count, dtypes: row.dtypes)
        #expect(bitwiseEqual(offset, row.values), "row \(i) after \(prefix.count) header bytes")
      }
    }
  }

  @Test("corrupt bytes (truncated, trailing garbage, wrong format byte, flipped bits) throw internalError, never crash", arguments: EngineKind.allCases)
  func corruptBytes(kind: EngineKind) throws {
    var random = SplitMix64(seed: 0xbad_b17e)
    var rows: [(dtypes: [DType], bytes: [UInt8])] = []
    for _ in 0..<60 {
      let dtypes = (0..<(1 + random.below(10))).map { _ in randomDType(&random) }
      let values = dtypes.map { random.below(4) == 0 ? nil : randomValue(of: $0, &random) }
      rows.append((dtypes, RowCodec.encode(values, dtypes: dtypes)))
    }
    // Corrupt rows are read back from the engine like real stored values.
    try kind.withEngine { engine throws in
      var batch = WriteBatch()
      for (i, row) in rows.enumerated() { batch.put(rowKey(i), row.bytes, in: .history) }
      try engine.write(batch)

      for (i, row) in rows.enumerated() {
        let bytes = try #require(try engine.get(rowKey(i), in: .history))
        func expectCorrupt(_ bad: [UInt8], _ what: String) {
          let error = #expect(throws: StrataError.self, "row \(i) \(what): \(bad)") {
            try RowCodec.decode(bad, dtypes: row.dtypes)
          }
          #expect(error?.code == .internalError, "row \(i) \(what)")
        }
        // Every strict prefix is truncated.
        for n in 0..<bytes.count { expectCorrupt(Array(bytes.prefix(n)), "truncated to \(n)") }
        // Trailing garbage.
        expectCorrupt(bytes + [0], "+ 0x00")
        expectCorrupt(bytes + [0xff, 0xff, 0xff], "+ ff ff ff")
        // Another format byte.
        for format: UInt8 in [0, 2, 0x80, 0xff] {
          var wrong = bytes
          wrong[0] = format
          expectCorrupt(wrong, "format \(format)")
        }
        // Random damage and the wrong schema must not crash (an error or some value are both fine).
        for _ in 0..<20 {
          var damaged = bytes
          damaged[random.below(damaged.count)] ^= UInt8(truncatingIfNeeded: 1 + random.below(255))
          _ = try? RowCodec.decode(damaged, dtypes: row.dtypes)
        }
        let otherSchema = (0..<(1 + random.below(10))).map { _ in randomDType(&random) }
        do throws(StrataError) {
          _ = try RowCodec.decode(bytes, dtypes: otherSchema)
        } catch {
          #expect(error.code == .internalError)
        }
      }
    }

    // A string length varint that claims more than 2^63 bytes, or never ends.
    for bad: [UInt8] in [
      [1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
      [1, 1] + [UInt8](repeating: 0x80, count: 12),
      [1, 1, 0x80],
      [1, 1, 5, 0x61],
    ] {
      let error = #expect(throws: StrataError.self, "\(bad)") { try RowCodec.decode(bad, dtypes: [.string]) }
      #expect(error?.code == .internalError)
    }
    // Garbage of every short length against several schemas.
    for length in 0..<24 {
      for schema: [DType] in [[.int], [.string, .float], [.embedding(dimension: 4)], Array(repeating: .string, count: 9)] {
        let garbage = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        _ = try? RowCodec.decode(garbage, dtypes: schema)
      }
    }
  }

  @Test("the encoding is compact and its format is pinned", arguments: EngineKind.allCases)
  func compactness(kind: EngineKind) throws {
    let threeInts = RowCodec.encode([.int(1), .int(-1), .int(.max)], dtypes: [.int, .int, .int])
    #expect(threeInts.count == 1 + 1 + 24)
    #expect(
      threeInts == [1, 0b111] + [1, 0, 0, 0, 0, 0, 0, 0] + [UInt8](repeating: 0xff, count: 8) + [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])
    // Nulls cost one bit.
    #expect(RowCodec.encode([nil, .int(5), nil], dtypes: [.int, .int, .int]).count == 1 + 1 + 8)
    #expect(RowCodec.encode(Array(repeating: nil, count: 9), dtypes: Array(repeating: .float, count: 9)) == [1, 0, 0])
    // Strings carry a varint length; embeddings 4 bytes per element and no length.
    #expect(
      RowCodec.encode([.int(1), nil, .string("\u{E9}")], dtypes: [.int, .float, .string])
        == [1, 0b101, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0xC3, 0xA9])
    #expect(RowCodec.encode([.string(String(repeating: "a", count: 200))], dtypes: [.string]).count == 1 + 1 + 2 + 200)
    #expect(RowCodec.encode([.embedding([1, 2, 3, 4])], dtypes: [.embedding(dimension: 4)]).count == 1 + 1 + 16)
    #expect(RowCodec.encode([.float(-0.0)], dtypes: [.float]) == [1, 1, 0, 0, 0, 0, 0, 0, 0, 0x80])

    // Stored as is: the engine holds exactly those bytes.
    try kind.withEngine { engine throws in
      try engine.put([1], threeInts, in: .online)
      #expect(try engine.get([1], in: .online) == threeInts)
    }
  }

  @Test("online values (header + row) round-trip, and a short header throws internalError", arguments: EngineKind.allCases)
  func onlineValueLayout(kind: EngineKind) throws {
    let dtypes: [DType] = [.int, .string]
    for (e, c, s) in [(Int64.min, Int64.max, UInt64.max), (-1, 0, 1), (1_700_000_000_000_000, 1_700_000_000_000_001, 42)] {
      let row = StoredRow(
        eventTime: Timestamp(microseconds: e), createdTime: Timestamp(microseconds: c), sequence: s, values: [.int(7), nil])
      let bytes = OnlineValue.encode(row, encodedValues: RowCodec.encode(row.values, dtypes: dtypes))
      #expect(bytes.count == 24 + 1 + 1 + 8)
      try kind.withEngine { engine throws in
        try engine.put([0], bytes, in: .online)
        let stored = try #require(try engine.get([0], in: .online))
        #expect(try OnlineValue.decode(stored, dtypes: dtypes) == row)
        var header = row
        header.values = []
        #expect(try OnlineValue.decodeHeader(stored) == header)
        for n in [0, 8, 23, 24, 25] {
          let error = #expect(throws: StrataError.self, "truncated to \(n)") {
            try OnlineValue.decode(Array(stored.prefix(n)), dtypes: dtypes)
          }
          #expect(error?.code == .internalError)
        }
      }
    }
  }
}

// MARK: - Helpers

private func rowKey(_ i: Int) -> [UInt8] {
  [UInt8(truncatingIfNeeded: i >> 8), UInt8(truncatingIfNeeded: i)]
}

private func randomDType(_ random: inout SplitMix64) -> DType {
  switch random.below(4) {
  case 0: return .float
  case 1: return .int
  case 2: return .string
  default:
    let maxDimension = random.below(4) == 0 ? 300 : 8
    return .embedding(dimension: 1 + random.below(maxDimension))
  }
}

private func randomValue(of dtype: DType, _ random: inout SplitMix64) -> FeatureValue {
  switch dtype {
  case .float:
    if random.below(2) == 0 {
      return .float(random.element(of: [0, -0.0, 1.5, -2.25, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -1e-300, .pi]))
    }
    var d = Double(bitPattern: random.next())
    while !d.isFinite { d = Double(bitPattern: random.next()) }
    return .float(d)
  case .int:
    return .int(random.below(2) == 0 ? random.element(of: [0, 1, -1, .min, .max, 255, 256]) : Int64(bitPattern: random.next()))
  case .string:
    if random.below(2) == 0 {
      return .string(random.element(of: ["", "a", "\u{E9}", "e\u{301}", "日本語", "🙂👍🏽", "\u{0}", "tab\there", String(repeating: "z", count: 130)]))
    }
    let scalars = ["a", "Z", "9", " ", "\u{DF}", "\u{20AC}", "𝄞", "\u{0}", "\n"]
    return .string((0..<random.below(30)).map { _ in random.element(of: scalars) }.joined())
  case .embedding(let dimension):
    return .embedding(
      (0..<dimension).map { _ in
        if random.below(3) == 0 { return random.element(of: [0, -0.0, .greatestFiniteMagnitude, -.leastNonzeroMagnitude, 1]) }
        var f = Float(bitPattern: UInt32(truncatingIfNeeded: random.next()))
        while !f.isFinite { f = Float(bitPattern: UInt32(truncatingIfNeeded: random.next())) }
        return f
      })
  }
}

/// Equality that tells -0.0 from 0.0 (the `==` of floats does not).
private func bitwiseEqual(_ a: [FeatureValue?], _ b: [FeatureValue?]) -> Bool {
  guard a.count == b.count else { return false }
  return zip(a, b).allSatisfy { x, y in
    switch (x, y) {
    case (nil, nil): true
    case (.float(let p)?, .float(let q)?): p.bitPattern == q.bitPattern
    case (.embedding(let p)?, .embedding(let q)?): p.map(\.bitPattern) == q.map(\.bitPattern)
    case (.int(let p)?, .int(let q)?): p == q
    case (.string(let p)?, .string(let q)?): Array(p.utf8) == Array(q.utf8)
    default: false
    }
  }
}
