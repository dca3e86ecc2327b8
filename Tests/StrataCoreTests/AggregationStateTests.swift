import StrataTestSupport
import Testing

@testable import StrataCore

private let second: Int64 = 1_000_000
private let minute = 60 * second
private let hour = 60 * minute
private let day = 24 * hour

/// A round reference time (2024-05-01T12:00:00Z) on every tile boundary of the ladder.
private let noon = Timestamp.seconds(1_714_564_800)

private func at(_ offset: Int64) -> Timestamp { noon.adding(microseconds: offset) }

private func ev(_ t: Int64, created: Int64? = nil, seq: UInt64, _ value: FeatureValue?) -> AggregationEvent {
  AggregationEvent(eventTime: at(t), createdTime: at(created ?? t), sequence: seq, value: value)
}

private func window(_ micros: Int64) -> AggregationWindow {
  try! AggregationWindow(microseconds: micros)  // the tests' windows are valid constants
}

private func spec(_ f: AggregateFunction, _ type: AggregateFieldType, _ w: Int64) -> AggregateSpec {
  try! AggregateSpec(function: f, fieldType: type, window: window(w))
}

private func state(_ type: AggregateFieldType, windows: [Int64], _ events: [AggregationEvent]) -> AggregationState {
  var s = AggregationState(fieldType: type, tiling: AggregationTiling(windows: windows.map(window)))
  for e in events { #expect(throws: Never.self) { try s.insert(e) } }
  return s
}

/// An `AggregationSource` that counts what a read touches.
private final class CountingSource: AggregationSource {
  typealias Failure = Never
  let inner: AggregationState
  var tilesRead = 0
  var eventsRead = 0
  init(_ inner: AggregationState) { self.inner = inner }
  var fieldType: AggregateFieldType { inner.fieldType }
  var tiling: AggregationTiling { inner.tiling }
  func forEachTile(width: Int64, indices: ClosedRange<Int64>, _ body: (Int64, AggregatePartial) -> Void) {
    inner.forEachTile(width: width, indices: indices) { i, t in
      tilesRead += 1
      body(i, t)
    }
  }
  func forEachEvent(eventTimes: ClosedRange<Timestamp>, _ body: (AggregationEvent) -> Void) {
    inner.forEachEvent(eventTimes: eventTimes) { e in
      eventsRead += 1
      body(e)
    }
  }
}

@Suite("AggregationState: windowed aggregates over one entity's events")
struct AggregationStateTests {
  @Test("an event exactly at T counts, one exactly at T - window does not (for every tiling)")
  func windowEdges() throws {
    for tiling in [AggregationTiling(windows: [window(hour)]), .rawEvents, try AggregationTiling(widths: [hour])] {
      var s = AggregationState(fieldType: .int, tiling: tiling)
      try s.insert(ev(-hour, seq: 1, .int(1)))  // exactly T - window: out
      try s.insert(ev(-hour + 1, seq: 2, .int(10)))  // one microsecond later: in
      try s.insert(ev(0, seq: 3, .int(100)))  // exactly T: in
      try s.insert(ev(1, seq: 4, .int(1_000)))  // one microsecond after T: out
      let sum = spec(.sum, .int, hour)
      #expect(s.value(of: sum, at: noon, knownAt: nil) == .present(.int(110)))
      #expect(s.value(of: sum, at: at(-1), knownAt: nil) == .present(.int(11)))  // (-1h - 1, -1]: both early ones
      #expect(s.value(of: sum, at: at(1), knownAt: nil) == .present(.int(1_100)))
      #expect(s.value(of: sum, at: at(-hour), knownAt: nil) == .present(.int(1)))
      #expect(s.value(of: spec(.count, .int, hour), at: at(hour), knownAt: nil) == .present(.int(1)))
      #expect(s.value(of: spec(.last, .int, hour), at: at(hour), knownAt: nil) == .present(.int(1_000)))
      #expect(s.value(of: spec(.last, .int, hour), at: at(hour + 1), knownAt: nil) == .missing)
    }
  }

  @Test("an empty window: count and sum are 0 (PRESENT), avg, min, max and last MISSING (or DEFAULTED)")
  func emptyWindow() {
    let s = state(.float, windows: [minute], [ev(-2 * minute, seq: 1, .float(3))])
    let present: [AggregateFunction: AggregateResult] = [.count: .present(.int(0)), .sum: .present(.float(0))]
    for f in AggregateFunction.allCases {
      let r = s.value(of: spec(f, .float, minute), at: noon, knownAt: nil)
      #expect(AggregationOracle.sameBits(r, present[f] ?? .missing), "\(f): \(r)")
    }
    #expect(
      AggregateResult.missing.featureResult(defaultValue: .float(-1))
        == FeatureResult(value: .float(-1), status: .defaulted, eventTime: nil))
    #expect(AggregateResult.missing.featureResult(defaultValue: nil) == FeatureResult(value: nil, status: .missing, eventTime: nil))
    #expect(
      AggregateResult.present(.int(0)).featureResult(defaultValue: .int(7))
        == FeatureResult(value: .int(0), status: .present, eventTime: nil))
    #expect(
      AggregateResult.overflow.featureResult(defaultValue: .int(0)) == FeatureResult(value: nil, status: .missing, eventTime: nil))
  }

  @Test("nulls count for count only: avg divides by non-null values, last skips a later null")
  func nulls() {
    let s = state(
      .float, windows: [hour],
      [ev(-3, seq: 1, .float(1)), ev(-2, seq: 2, .float(2)), ev(-1, seq: 3, nil), ev(-1, seq: 4, nil)])
    func v(_ f: AggregateFunction) -> AggregateResult { s.value(of: spec(f, .float, hour), at: noon, knownAt: nil) }
    #expect(v(.count) == .present(.int(4)))
    #expect(v(.sum) == .present(.float(3)))
    #expect(v(.avg) == .present(.float(1.5)))
    #expect(v(.last) == .present(.float(2)))
    #expect(v(.min) == .present(.float(1)))
    let onlyNulls = state(.string, windows: [hour], [ev(-1, seq: 1, nil)])
    #expect(onlyNulls.value(of: spec(.count, .string, hour), at: noon, knownAt: nil) == .present(.int(1)))
    #expect(onlyNulls.value(of: spec(.max, .string, hour), at: noon, knownAt: nil) == .missing)
  }

  @Test("known_at excludes events ingested after it; one ingested exactly at known_at counts")
  func knownAt() throws {
    // Events of one 6 h tile (and every finer one) ingested at different times, plus late ones.
    var events: [AggregationEvent] = []
    for k in 0..<40 {
      let t = -Int64(k) * 37 * minute  // spread over a day
      events.append(ev(t, created: t + Int64(k % 5) * hour, seq: UInt64(k), .int(Int64(k))))
    }
    events.append(ev(-20 * hour, created: 10 * day, seq: 100, .int(1_000)))  // very late
    let s = state(.int, windows: [30 * day], events)
    let sum = spec(.sum, .int, 30 * day)
    let count = spec(.count, .int, 30 * day)
    for knownAt in [nil, at(-30 * hour), at(-10 * hour), at(0), at(2 * hour), at(10 * day - 1), at(10 * day)] as [Timestamp?]
    {
      let known = events.filter { e in knownAt.map { e.createdTime <= $0 } ?? true }
      let want = known.reduce(Int64(0)) { acc, e in if case .int(let x)? = e.value { acc + x } else { acc } }
      #expect(s.value(of: sum, at: noon, knownAt: knownAt) == .present(.int(want)), "knownAt \(String(describing: knownAt))")
      #expect(s.value(of: count, at: noon, knownAt: knownAt) == .present(.int(Int64(known.count))))
    }
    // Exactly at a created time: included; one microsecond before: excluded.
    let late = spec(.max, .int, 30 * day)
    #expect(s.value(of: late, at: noon, knownAt: at(10 * day)) == .present(.int(1_000)))
    #expect(s.value(of: late, at: noon, knownAt: at(10 * day - 1)) == .present(.int(39)))
  }

  @Test("a late event lands in the tile of its event time and counts for every window containing it")
  func lateEvents() throws {
    var s = state(.float, windows: [5 * minute, day], [ev(-10 * minute, seq: 1, .float(1)), ev(0, seq: 2, .float(2))])
    let fiveMinutes = spec(.sum, .float, 5 * minute)
    let oneDay = spec(.sum, .float, day)
    #expect(s.value(of: oneDay, at: noon, knownAt: nil) == .present(.float(3)))
    // Arrives an hour later with an event time 3 hours ago.
    try s.insert(ev(-3 * hour, created: hour, seq: 3, .float(0.5)))
    #expect(s.value(of: oneDay, at: noon, knownAt: nil) == .present(.float(3.5)))
    #expect(s.value(of: oneDay, at: noon, knownAt: noon) == .present(.float(3)))  // not known at noon
    #expect(s.value(of: fiveMinutes, at: at(-3 * hour + 5 * minute - 1), knownAt: nil) == .present(.float(0.5)))
    #expect(s.value(of: fiveMinutes, at: at(-3 * hour + 5 * minute), knownAt: nil) == .present(.float(0)))
    // The coarsest width for a day is 10 minutes: the late event has its own tile, 3 hours back.
    let tenMinutes = 10 * minute
    #expect(s.tiling.widths.first == tenMinutes)
    #expect(
      s.tiles(width: tenMinutes).map(\.index)
        == [noon.microseconds - 3 * hour, noon.microseconds - 10 * minute, noon.microseconds].map { $0 / tenMinutes })
    #expect(s.tiles(width: tenMinutes)[0].tile.result(.sum) == .present(.float(0.5)))
  }

  @Test("the same event inserted again is ignored; a wrong value type is rejected and changes nothing")
  func duplicatesAndBadValues() throws {
    var s = state(.int, windows: [hour], [ev(-5, seq: 1, .int(2))])
    #expect(try s.insert(ev(-5, seq: 1, .int(2))) == false)
    #expect(try s.insert(ev(-5, seq: 2, .int(2))) == true)  // another write id: another event
    #expect(s.value(of: spec(.count, .int, hour), at: noon, knownAt: nil) == .present(.int(2)))
    let before = s.events
    expectStrataError(.invalidArgument, mentioning: ["INT", "FLOAT"]) { () throws(StrataError) in
      try s.insert(ev(-1, seq: 9, .float(1)))
    }
    var f = AggregationState(fieldType: .float, tiling: .rawEvents)
    expectStrataError(.invalidArgument, mentioning: ["finite"]) { () throws(StrataError) in
      try f.insert(ev(-1, seq: 9, .float(.nan)))
    }
    #expect(s.events == before)
    #expect(f.events.isEmpty)
  }

  @Test("an INT sum outside Int64 is an overflow result, back to a value when the window's sum fits again")
  func intOverflow() {
    let s = state(
      .int, windows: [minute],
      [ev(-89 * second, seq: 1, .int(.max)), ev(-30 * second, seq: 2, .int(.max)), ev(0, seq: 3, .int(-.max))])
    let sum = spec(.sum, .int, minute)
    #expect(s.value(of: sum, at: at(-30 * second), knownAt: nil) == .overflow)  // max + max
    #expect(s.value(of: sum, at: noon, knownAt: nil) == .present(.int(0)))  // max - max, the first left the window
    #expect(s.value(of: sum, at: at(-31 * second), knownAt: nil) == .present(.int(.max)))
    #expect(s.value(of: spec(.avg, .int, minute), at: at(-30 * second), knownAt: nil) == .present(.float(0x1p63)))
    let wide = state(.int, windows: [day], [ev(-2, seq: 1, .int(.max)), ev(-1, seq: 2, .int(.max)), ev(0, seq: 3, .int(-.max))])
    #expect(wide.value(of: spec(.sum, .int, day), at: noon, knownAt: nil) == .present(.int(.max)))  // only the total counts
  }

  @Test("a FLOAT sum is rounded once: 0.1 + 0.2 + 0.3 is 0.6, in any order, and never overflows midway")
  func floatSums() {
    for order in [[0.1, 0.2, 0.3], [0.3, 0.2, 0.1], [0.2, 0.3, 0.1]] {
      let s = state(.float, windows: [hour], order.enumerated().map { ev(-Int64($0.offset) * hour / 4, seq: UInt64($0.offset), .float($0.element)) })
      #expect(s.value(of: spec(.sum, .float, hour), at: noon, knownAt: nil) == .present(.float(0.6)))
      #expect(s.value(of: spec(.avg, .float, hour), at: noon, knownAt: nil) == .present(.float(0.2)))
    }
    let big = state(.float, windows: [hour], [ev(-3, seq: 1, .float(1e308)), ev(-2, seq: 2, .float(1e308)), ev(-1, seq: 3, .float(-1e308))])
    #expect(big.value(of: spec(.sum, .float, hour), at: noon, knownAt: nil) == .present(.float(1e308)))
    #expect(big.value(of: spec(.sum, .float, hour), at: at(-2), knownAt: nil) == .overflow)
    #expect(big.value(of: spec(.avg, .float, hour), at: at(-2), knownAt: nil) == .present(.float(1e308)))
  }

  @Test("min and max: byte-wise UTF-8 for strings, totalOrder for floats (-0.0 below +0.0)")
  func orders() {
    let strings = state(
      .string, windows: [hour],
      ["\u{FFFF}", "\u{1F600}", "e\u{301}", "\u{E9}", "Z", "a"].enumerated().map { ev(-Int64($0.offset), seq: UInt64($0.offset), .string($0.element)) })
    func bytes(_ r: AggregateResult) -> [UInt8]? { if case .present(.string(let s)) = r { Array(s.utf8) } else { nil } }
    // "Z" (5a) < "a" (61) < "e\u{301}" (65 cc 81) < "é" (c3 a9) < U+FFFF (ef bf bf) < U+1F600 (f0 9f 98 80);
    // in UTF-16 U+FFFF would be above U+1F600 (d83d de00).
    #expect(bytes(strings.value(of: spec(.min, .string, hour), at: noon, knownAt: nil)) == Array("Z".utf8))
    #expect(bytes(strings.value(of: spec(.max, .string, hour), at: noon, knownAt: nil)) == Array("\u{1F600}".utf8))
    let noEmoji = state(.string, windows: [hour], [ev(-2, seq: 1, .string("\u{FFFF}")), ev(-1, seq: 2, .string("e\u{301}")), ev(0, seq: 3, .string("\u{E9}"))])
    #expect(bytes(noEmoji.value(of: spec(.max, .string, hour), at: noon, knownAt: nil)) == Array("\u{FFFF}".utf8))
    let decomposed = state(.string, windows: [hour], [ev(-2, seq: 1, .string("\u{E9}")), ev(-1, seq: 2, .string("e\u{301}"))])
    #expect(bytes(decomposed.value(of: spec(.min, .string, hour), at: noon, knownAt: nil)) == Array("e\u{301}".utf8))

    for order in [[0.0, -0.0], [-0.0, 0.0]] {
      let zeros = state(.float, windows: [hour], order.enumerated().map { ev(-Int64($0.offset), seq: UInt64($0.offset), .float($0.element)) })
      guard case .present(.float(let lo)) = zeros.value(of: spec(.min, .float, hour), at: noon, knownAt: nil),
        case .present(.float(let hi)) = zeros.value(of: spec(.max, .float, hour), at: noon, knownAt: nil)
      else {
        Issue.record("no min/max")
        return
      }
      #expect(lo.bitPattern == (-0.0).bitPattern)
      #expect(hi.bitPattern == (0.0).bitPattern)
    }
  }

  @Test("last: the greatest event time, then created time, then sequence; nulls skipped")
  func lastTieBreaks() {
    let s = state(
      .string, windows: [hour],
      [
        ev(-10, created: 5, seq: 9, .string("older event, latest write")),
        ev(0, created: 1, seq: 7, .string("created later")),
        ev(0, created: 0, seq: 8, .string("created earlier, higher sequence")),
        ev(0, created: 1, seq: 3, .string("same created, lower sequence")),
        ev(0, created: 2, seq: 1, nil),  // the latest event, but null
      ])
    #expect(s.value(of: spec(.last, .string, hour), at: noon, knownAt: nil) == .present(.string("created later")))
    #expect(s.value(of: spec(.last, .string, hour), at: noon, knownAt: at(0)) == .present(.string("created earlier, higher sequence")))
    #expect(s.value(of: spec(.last, .string, hour), at: at(-1), knownAt: nil) == .present(.string("older event, latest write")))
  }

  @Test("times before 1970 and at the ends of the Int64 range (negative tiles, clamped window starts)")
  func extremeTimes() throws {
    let w = window(minute)
    var s = AggregationState(fieldType: .int, tiling: AggregationTiling(windows: [w]))
    let times: [Int64] = [.min, .min + 1, -minute - 1, -minute, -1, 0, 1, .max - 1, .max]
    for (i, t) in times.enumerated() {
      try s.insert(AggregationEvent(eventTime: Timestamp(microseconds: t), createdTime: .epoch, sequence: UInt64(i), value: .int(1)))
    }
    let count = try AggregateSpec(function: .count, fieldType: .int, window: w)
    for t in times + [-minute + 1, minute - 1, minute] {
      let time = Timestamp(microseconds: t)
      let want = AggregationOracle.eventsInWindow(s.events, window: w, at: time, knownAt: nil).count
      #expect(s.value(of: count, at: time, knownAt: nil) == .present(.int(Int64(want))), "at \(t)")
    }
    #expect(AggregationState.tileIndex(of: Timestamp(microseconds: -1), width: second) == -1)
    #expect(AggregationState.tileIndex(of: Timestamp(microseconds: -second), width: second) == -1)
    #expect(AggregationState.tileIndex(of: Timestamp(microseconds: -second - 1), width: second) == -2)
  }

  @Test("a 30-day read over a busy entity touches at most 426 tiles and the events of 2 s, not the month")
  func readCost() throws {
    let month = window(30 * day)
    var s = AggregationState(fieldType: .float, tiling: AggregationTiling(windows: [month]))
    // One event every 97 s (prime, so the edges fall anywhere in the tiles) for 32 days: ~28.5k events.
    var t = -32 * day
    var seq: UInt64 = 0
    while t <= 0 {
      try s.insert(ev(t, seq: seq, .float(Double(seq % 13) * 0.25)))
      seq += 1
      t += 97 * second
    }
    let counting = CountingSource(s)
    let sum = try AggregateSpec(function: .sum, fieldType: .float, window: month)
    for offset in [0, -13 * second - 7, -day / 3 - 12_345] as [Int64] {
      counting.tilesRead = 0
      counting.eventsRead = 0
      let r = counting.value(of: sum, at: at(offset), knownAt: nil)
      #expect(counting.tilesRead <= 360 + 66, "\(counting.tilesRead) tiles")
      #expect(counting.eventsRead <= 2, "\(counting.eventsRead) raw events")
      let expected = AggregationOracle.expected(
        .sum, fieldType: .float, events: AggregationOracle.eventsInWindow(s.events, window: month, at: at(offset), knownAt: nil))
      #expect(AggregationOracle.matches(r, expected))
    }
    // known_at one hour before the read time: only the tiles straddling it are split.
    counting.tilesRead = 0
    counting.eventsRead = 0
    _ = counting.value(of: sum, at: noon, knownAt: at(-hour - 5 * second))
    // One chain of straddling tiles, each split into the finer width: 6 + 6 + 10 + 6 + 10 more.
    #expect(counting.tilesRead <= 360 + 66 + 6 + 6 + 10 + 6 + 10, "\(counting.tilesRead) tiles")
    #expect(counting.eventsRead <= 3, "\(counting.eventsRead) raw events")
  }

  @Test("a state built in one pass from sorted events equals the state of the same events inserted in any order: every tile and every read")
  func sortedBuildEqualsInserts() throws {
    var rng = SplitMix64.forTest("AggregationState.sortedBuildEqualsInserts")
    let windows = [window(hour), window(30 * day)]
    let tiling = AggregationTiling(windows: windows)
    for round in 0..<20 {
      // Events over 40 days, many on shared instants (ties broken by created time and sequence), some null.
      var events: [AggregationEvent] = []
      for k in 0..<(1 + rng.below(400)) {
        let t = rng.oneIn(3) ? -Int64(rng.below(40)) * day : -Int64(rng.below(Int(40 * day)))
        events.append(AggregationEvent(
          eventTime: at(t), createdTime: at(t + Int64(rng.below(3))), sequence: UInt64(k),
          value: rng.oneIn(6) ? nil : .float(Double(rng.below(2_001)) / 8 - 125)))
      }
      var inserted = AggregationState(fieldType: .float, tiling: tiling)
      for e in events.shuffled(using: &rng) { try inserted.insert(e) }
      let built = AggregationState(
        fieldType: .float, tiling: tiling, sortedEvents: events.sorted { $1.isLater(than: $0) })
      #expect(built.events == inserted.events, "round \(round) \(rng.seedDescription)")
      for width in tiling.widths {
        let a = built.tiles(width: width)
        let b = inserted.tiles(width: width)
        #expect(a.map(\.index) == b.map(\.index) && a.map(\.tile) == b.map(\.tile), "round \(round) width \(width) \(rng.seedDescription)")
      }
      for _ in 0..<20 {
        let t = at(-Int64(rng.below(Int(41 * day))))
        let knownAt: Timestamp? = rng.oneIn(2) ? nil : t.subtracting(microseconds: Int64(rng.below(Int(day))))
        for w in windows {
          #expect(built.partial(window: w, at: t, knownAt: knownAt) == inserted.partial(window: w, at: t, knownAt: knownAt))
        }
      }
    }
  }
}
