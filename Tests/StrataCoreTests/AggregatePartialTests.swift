import StrataTestSupport
import Testing

@testable import StrataCore

private func event(_ t: Int64, created: Int64? = nil, seq: UInt64, _ value: FeatureValue?) -> AggregationEvent {
  AggregationEvent(
    eventTime: Timestamp(microseconds: t), createdTime: Timestamp(microseconds: created ?? t), sequence: seq, value: value)
}

private func partial(_ type: AggregateFieldType, _ events: [AggregationEvent]) -> AggregatePartial {
  var p = AggregatePartial(fieldType: type)
  for e in events { p.add(e) }
  return p
}

private func hex(_ bytes: [UInt8]) -> String {
  bytes.map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined()
}

@Suite("AggregatePartial: exact merges and the stored tile format")
struct AggregatePartialTests {
  @Test("pinned bytes of a FLOAT tile (format version 1, little-endian)")
  func goldenFloat() throws {
    let p = partial(
      .float,
      [event(1_000, created: 2_000, seq: 7, .float(1.5)), event(1_000, created: 1_500, seq: 3, nil),
        event(500, created: 3_000, seq: 9, .float(-2.25))])
    let expected =
      "0101"  // version 1, FLOAT
      + "0300000000000000" + "0200000000000000"  // 3 events, 2 values
      + "dc05000000000000" + "b80b000000000000"  // created 1500...3000
      + "1000" + "0100" + "000000000000fdff"  // sum -0.75 = -3 * 2^-2: limb 16 (bits 1024...1087), one limb
      + "00000000000002c0" + "000000000000f83f"  // min -2.25, max 1.5
      + "e803000000000000" + "d007000000000000" + "0700000000000000" + "000000000000f83f"  // last: (1000, 2000, 7) 1.5
    #expect(hex(p.encoded()) == expected)
    #expect(try AggregatePartial(encoded: p.encoded()) == p)
  }

  @Test("pinned bytes of STRING and INT tiles, and of an empty one")
  func goldenOthers() throws {
    let s = partial(.string, [event(-5, seq: 1, .string("é")), event(-5, seq: 2, .string("Z"))])
    #expect(
      hex(s.encoded())
        == "0103" + "0200000000000000" + "0200000000000000" + "fbffffffffffffff" + "fbffffffffffffff"
        + "010000005a" + "02000000c3a9"  // min "Z" (0x5a) < max "é" (c3 a9): byte order
        + "fbffffffffffffff" + "fbffffffffffffff" + "0200000000000000" + "010000005a")
    let i = partial(.int, [event(0, seq: 1, .int(-1))])
    // -1 = all ones from bit 1074 up: limb 16 = 0xfffc000000000000 (bits 50...63), then sign.
    #expect(
      hex(i.encoded())
        == "0102" + "0100000000000000" + "0100000000000000" + "0000000000000000" + "0000000000000000"
        + "1000" + "0100" + "000000000000fcff"
        + "ffffffffffffffff" + "ffffffffffffffff" + "0000000000000000" + "0000000000000000" + "0100000000000000"
        + "ffffffffffffffff")
    #expect(hex(AggregatePartial(fieldType: .int).encoded()) == "0102" + "0000000000000000" + "0000000000000000" + "0000" + "0000")
    for p in [s, i, AggregatePartial(fieldType: .float), AggregatePartial(fieldType: .string)] {
      #expect(try AggregatePartial(encoded: p.encoded()) == p)
    }
  }

  @Test("random partials round-trip, and the same events give the same bytes in any order and grouping")
  func randomRoundTrip() throws {
    var rng = SplitMix64.forTest("AggregatePartial.randomRoundTrip")
    let seed = rng.seedDescription
    for round in 0..<400 {
      let type = rng.element(of: AggregateFieldType.allCases)
      let events = (0..<rng.below(30)).map { k in
        event(
          Int64(rng.below(1_000)) - 500, created: Int64(rng.below(50)), seq: UInt64(k),
          rng.oneIn(4) ? nil : Self.randomValue(type, &rng))
      }
      let whole = partial(type, events)
      let bytes = whole.encoded()
      let decoded = try AggregatePartial(encoded: bytes)
      guard decoded == whole, decoded.encoded() == bytes else {
        Issue.record("round \(round): \(whole) did not round-trip; \(seed)")
        return
      }
      var shuffled = events
      shuffled.shuffle(using: &rng)
      var merged = AggregatePartial(fieldType: type)
      var i = 0
      while i < shuffled.count {
        let n = rng.below(6) + 1
        let piece = partial(type, Array(shuffled[i..<min(i + n, shuffled.count)]))
        // Through the stored form, as tiles would be.
        merged.merge(try AggregatePartial(encoded: piece.encoded()))
        i += n
      }
      guard merged.encoded() == bytes else {
        Issue.record("round \(round): merging pieces gave other bytes than adding \(events); \(seed)")
        return
      }
    }
  }

  @Test("corrupt bytes are rejected with INTERNAL, never misread")
  func rejectsCorrupt() {
    let good = partial(.string, [event(1, seq: 1, .string("ab")), event(2, seq: 2, nil)]).encoded()
    // Every truncation.
    for n in 0..<good.count {
      expectStrataError(.internalError, mentioning: ["corrupt"]) { () throws(StrataError) in
        try AggregatePartial(encoded: Array(good.prefix(n)))
      }
    }
    expectStrataError(.internalError, mentioning: ["trailing"]) { () throws(StrataError) in
      try AggregatePartial(encoded: good + [0])
    }
    var version = good
    version[0] = 2
    expectStrataError(.internalError, mentioning: ["version 2"]) { () throws(StrataError) in
      try AggregatePartial(encoded: version)
    }
    var type = good
    type[1] = 9
    expectStrataError(.internalError, mentioning: ["field type 9"]) { () throws(StrataError) in
      try AggregatePartial(encoded: type)
    }
    var counts = good
    counts[10] = 5  // 5 values of 2 events
    expectStrataError(.internalError, mentioning: ["inconsistent"]) { () throws(StrataError) in
      try AggregatePartial(encoded: counts)
    }
    // Invalid UTF-8 in the minimum.
    var utf8 = good
    let at = 2 + 8 + 8 + 16 + 4
    utf8[at] = 0xff
    expectStrataError(.internalError, mentioning: ["UTF-8"]) { () throws(StrataError) in
      try AggregatePartial(encoded: utf8)
    }
    // A non-canonical sum: 1.0 with a redundant zero sign limb on top.
    let one = partial(.float, [event(0, seq: 1, .float(1))]).encoded()
    #expect(Array(one[34..<38]) == [16, 0, 1, 0])  // base 16, one limb
    var padded = Array(one[0..<36]) + [2, 0] + Array(one[38..<46]) + [UInt8](repeating: 0, count: 8) + Array(one[46...])
    expectStrataError(.internalError, mentioning: ["canonical"]) { () throws(StrataError) in
      try AggregatePartial(encoded: padded)
    }
    padded = one
    padded[46 + 7] = 0x7f
    padded[46 + 6] = 0xf0  // minimum := +infinity's neighbourhood: exponent all ones
    expectStrataError(.internalError, mentioning: ["non-finite"]) { () throws(StrataError) in
      try AggregatePartial(encoded: padded)
    }
    // Minimum above maximum.
    let two = partial(.int, [event(0, seq: 1, .int(1)), event(0, seq: 2, .int(2))]).encoded()
    var swapped = two
    #expect(Array(two[38..<46]) == [0, 0, 0, 0, 0, 0, 0x0c, 0])  // sum 3 at bit 1074: 3 << 50, one limb
    swapped.replaceSubrange(46..<62, with: Array(two[54..<62]) + Array(two[46..<54]))
    expectStrataError(.internalError, mentioning: ["minimum above maximum"]) { () throws(StrataError) in
      try AggregatePartial(encoded: swapped)
    }
  }

  @Test("results: count counts nulls, the others ignore them; sums of empty windows are 0")
  func results() {
    let p = partial(.int, [event(1, seq: 1, .int(4)), event(2, seq: 2, nil), event(3, seq: 3, .int(-1))])
    #expect(p.result(.count) == .present(.int(3)))
    #expect(p.result(.sum) == .present(.int(3)))
    #expect(p.result(.avg) == .present(.float(1.5)))
    #expect(p.result(.min) == .present(.int(-1)))
    #expect(p.result(.max) == .present(.int(4)))
    #expect(p.result(.last) == .present(.int(-1)))
    let nulls = partial(.float, [event(1, seq: 1, nil)])
    #expect(nulls.result(.count) == .present(.int(1)))
    #expect(AggregationOracle.sameBits(nulls.result(.sum), .present(.float(0))))
    for f in [AggregateFunction.avg, .min, .max, .last] { #expect(nulls.result(f) == .missing) }
    let empty = AggregatePartial(fieldType: .int)
    #expect(empty.result(.count) == .present(.int(0)))
    #expect(empty.result(.sum) == .present(.int(0)))
  }

  static func randomValue(_ type: AggregateFieldType, _ rng: inout SplitMix64) -> FeatureValue {
    switch type {
    case .float: .float(ExactSumTests.randomDouble(&rng))
    case .int: .int(rng.oneIn(3) ? Int64(truncatingIfNeeded: rng.next()) : Int64(rng.below(21) - 10))
    case .string: .string(rng.element(of: AggregationStringPool.strings))
    }
  }
}

/// Strings whose byte order differs from Unicode collation and from UTF-16 order, canonically
/// equivalent pairs with different bytes, the empty string and an embedded NUL.
enum AggregationStringPool {
  static let strings = ["", "a", "b", "Z", "ab", "a\u{0}", "\u{E9}", "e\u{301}", "\u{FFFF}", "\u{1F600}", "ä", "zz"]
}
