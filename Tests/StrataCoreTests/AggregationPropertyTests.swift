import StrataTestSupport
import Testing

@testable import StrataCore

private let second: Int64 = 1_000_000
private let minute = 60 * second
private let hour = 60 * minute
private let day = 24 * hour

@Suite("Aggregation: tiled reads against the brute-force oracle on random streams")
struct AggregationPropertyTests {
  /// Window lengths at the rule's boundaries and the usual ones; plus random lengths.
  static let windowLengths: [Int64] = [
    minute, 5 * minute, 6 * minute, 6 * minute + 1, hour, hour + 1, 6 * hour, day, 7 * day, 15 * day + 1, 30 * day, 90 * day,
  ]

  /// Tilings other than the rule's: none, any subset of the ladder, and widths off the ladder; half of
  /// them read the raw events of tiles holding fewer than 2 to 6 events instead of their finer tiles.
  static func randomTiling(_ rng: inout SplitMix64) -> AggregationTiling {
    let finerFrom: Int64 = rng.oneIn(2) ? 1 : Int64(2 + rng.below(5))
    switch rng.below(4) {
    case 0: return .rawEvents
    case 1:
      return try! AggregationTiling(
        widths: [90 * minute, 45 * minute, 15 * minute, 75 * second, 15 * second], finerTilesFrom: finerFrom)
    default:
      let subset = AggregationTiling.ladder.filter { _ in rng.oneIn(2) }
      return try! AggregationTiling(widths: subset.reversed(), finerTilesFrom: finerFrom)
    }
  }

  /// What the generator reached, so that a weak generator fails instead of proving little.
  struct Coverage {
    var reads = 0
    var emptyWindows = 0
    var knownAtExcluded = 0
    var eventAtLowerEdge = 0
    var eventAtUpperEdge = 0
    var tiesInWindow = 0
    var lateEventsInWindow = 0
    var overflows = 0
    var means = 0
    var missing = 0
    var beforeAll = 0
    var afterAll = 0
    var nullsInWindow = 0
  }

  @Test("all functions, field types, windows, read times and known_at agree with the oracle bit for bit, for any insertion order and tiling")
  func randomStreams() throws {
    var rng = SplitMix64.forTest("Aggregation.randomStreams")
    let seed = rng.seedDescription
    var cov = Coverage()

    for round in 0..<160 {
      let type = rng.element(of: AggregateFieldType.allCases)
      let windows: [AggregationWindow] = try (0...rng.below(3)).map { _ throws(StrataError) in
        try AggregationWindow(
          microseconds: rng.oneIn(4)
            ? Int64.random(in: AggregationWindow.minimumMicroseconds...AggregationWindow.maximumMicroseconds, using: &rng)
            : rng.element(of: Self.windowLengths))
      }
      let events = Self.randomEvents(type: type, around: rng.element(of: windows), &rng)

      // The same events in two orders under the rule's tiling, and in a third order under another.
      let ruleTiling = AggregationTiling(windows: windows)
      var a = AggregationState(fieldType: type, tiling: ruleTiling)
      var b = AggregationState(fieldType: type, tiling: ruleTiling)
      var c = AggregationState(fieldType: type, tiling: Self.randomTiling(&rng))
      for state in 0..<3 {
        var order = events
        order.shuffle(using: &rng)
        for e in order {
          switch state {
          case 0: _ = try a.insert(e)
          case 1:
            _ = try b.insert(e)
            if rng.oneIn(5) {
              guard try !b.insert(e) else {
                Issue.record("round \(round): a duplicate insert was accepted; \(seed)")
                return
              }
            }
          default: _ = try c.insert(e)
          }
        }
      }
      guard a.events == events.sorted(by: { $1.isLater(than: $0) }), b.events == a.events, c.events == a.events else {
        Issue.record("round \(round): the states hold different events; \(seed)")
        return
      }
      for width in ruleTiling.widths {
        guard a.tiles(width: width).map({ $0.tile.encoded() }) == b.tiles(width: width).map({ $0.tile.encoded() }) else {
          Issue.record("round \(round): tiles of width \(width) depend on the insertion order; \(seed)")
          return
        }
      }

      let (times, knownAts) = Self.readPoints(events: events, windows: windows, &rng)
      let first = events.map(\.eventTime).min()
      let last = events.map(\.eventTime).max()
      for _ in 0..<24 {
        let time = rng.element(of: times)
        let knownAt = rng.oneIn(3) ? nil : rng.element(of: knownAts)
        if let first, time < first { cov.beforeAll += 1 }
        if let last, let w = windows.first, time.subtracting(microseconds: w.microseconds) >= last { cov.afterAll += 1 }
        for window in windows {
          cov.reads += 1
          let inWindow = AggregationOracle.eventsInWindow(events, window: window, at: time, knownAt: knownAt)
          let anyKnown = AggregationOracle.eventsInWindow(events, window: window, at: time, knownAt: nil)
          if inWindow.isEmpty { cov.emptyWindows += 1 }
          if inWindow.count < anyKnown.count { cov.knownAtExcluded += 1 }
          if events.contains(where: { $0.eventTime.microseconds == time.microseconds &- window.microseconds }) {
            cov.eventAtLowerEdge += 1
          }
          if inWindow.contains(where: { $0.eventTime == time }) { cov.eventAtUpperEdge += 1 }
          if Set(inWindow.map(\.eventTime)).count < inWindow.count { cov.tiesInWindow += 1 }
          if inWindow.contains(where: { $0.createdTime.microseconds - $0.eventTime.microseconds > hour }) {
            cov.lateEventsInWindow += 1
          }
          if inWindow.contains(where: { $0.value == nil }) { cov.nullsInWindow += 1 }

          let pa = a.partial(window: window, at: time, knownAt: knownAt)
          let pb = b.partial(window: window, at: time, knownAt: knownAt)
          let pc = c.partial(window: window, at: time, knownAt: knownAt)
          var direct = AggregatePartial(fieldType: type)
          for e in inWindow { direct.add(e) }
          let bytes = pa.encoded()
          guard pb.encoded() == bytes, pc.encoded() == bytes, direct.encoded() == bytes else {
            Issue.record(
              "round \(round): \(window) at \(time.microseconds) knownAt \(String(describing: knownAt?.microseconds)): partials differ (order: \(pb.encoded() == bytes), tiling \(c.tiling.widths): \(pc.encoded() == bytes), raw: \(direct.encoded() == bytes)); \(seed)"
            )
            return
          }
          for function in AggregateFunction.allCases where function.accepts(type) {
            let spec = try AggregateSpec(function: function, fieldType: type, window: window)
            let got = a.value(of: spec, at: time, knownAt: knownAt)
            let want = AggregationOracle.expected(function, fieldType: type, events: inWindow)
            switch got {
            case .overflow: cov.overflows += 1
            case .missing: cov.missing += 1
            case .present: if case .mean = want { cov.means += 1 }
            }
            guard AggregationOracle.matches(got, want) else {
              Issue.record(
                "round \(round): \(spec) at \(time.microseconds) knownAt \(String(describing: knownAt?.microseconds)) over \(inWindow.count) events: got \(got), expected \(want); \(seed)"
              )
              return
            }
          }
        }
      }
    }
    let c = cov
    for (name, n, atLeast) in [
      ("empty windows", c.emptyWindows, c.reads / 20), ("known_at cuts", c.knownAtExcluded, c.reads / 20),
      ("events exactly at T - window", c.eventAtLowerEdge, 100), ("events exactly at T", c.eventAtUpperEdge, 100),
      ("event-time ties", c.tiesInWindow, c.reads / 10), ("late events", c.lateEventsInWindow, c.reads / 10),
      ("overflowing sums", c.overflows, 20), ("means", c.means, 500), ("missing results", c.missing, 500),
      ("reads before all events", c.beforeAll, 50), ("reads after all events", c.afterAll, 50),
      ("nulls", c.nullsInWindow, c.reads / 10),
    ] {
      #expect(n >= atLeast, "the generator reached \(name) \(n) times in \(c.reads) reads (want >= \(atLeast)); \(seed)")
    }
  }

  /// 0...80 events of one entity around one window's length: clustered in time (spans from 1/200 of
  /// the window to 4 windows), with exact event-time ties, equal created times, events on tile
  /// boundaries, late events (ingested hours to weeks after their event time), some ingested
  /// before their event time, nulls, and values that tie, cancel, overflow INT sums or need exact
  /// FLOAT rounding.
  static func randomEvents(type: AggregateFieldType, around window: AggregationWindow, _ rng: inout SplitMix64)
    -> [AggregationEvent]
  {
    let count = rng.oneIn(10) ? 0 : rng.below(80) + 1
    let w = window.microseconds
    let span = max(1, rng.element(of: [w / 200, w / 20, w / 2, w, 2 * w, 4 * w]))
    // Mostly 2024, sometimes before 1970 (negative times and tile indices).
    let origin: Int64 = rng.oneIn(5) ? -Int64(rng.below(1 << 30)) * second : 1_714_564_800 * second + Int64(rng.below(1 << 20))
    var sequences = Array(UInt64(0)..<UInt64(count * 2 + 1))
    sequences.shuffle(using: &rng)
    var events: [AggregationEvent] = []
    for k in 0..<count {
      var t = origin + Int64.random(in: 0..<span, using: &rng)
      if !events.isEmpty && rng.oneIn(4) {
        t = rng.element(of: events).eventTime.microseconds  // an event-time tie
      } else if rng.oneIn(8) {
        let width = rng.element(of: AggregationTiling.ladder)
        t = (t / width) * width - (rng.oneIn(2) ? 1 : 0)  // on (or just before) a tile boundary
      }
      var created = t + Int64(rng.below(5 * Int(second)))
      switch rng.below(12) {
      case 0, 1: created = t + Int64.random(in: hour...(20 * day), using: &rng)  // late
      case 2: created = t - Int64(rng.below(Int(hour)))  // ingested before its event time
      case 3: if let other = events.last { created = other.createdTime.microseconds }  // equal created times
      default: break
      }
      let value: FeatureValue? = rng.oneIn(5) ? nil : Self.randomValue(type, &rng)
      events.append(
        AggregationEvent(
          eventTime: Timestamp(microseconds: t), createdTime: Timestamp(microseconds: created), sequence: sequences[k],
          value: value))
    }
    return events
  }

  static func randomValue(_ type: AggregateFieldType, _ rng: inout SplitMix64) -> FeatureValue {
    switch type {
    case .float: return .float(ExactSumTests.randomDouble(&rng))
    case .int:
      switch rng.below(10) {
      case 0: return .int(rng.oneIn(2) ? .max : .min)
      case 1: return .int(Int64(truncatingIfNeeded: rng.next()))
      default: return .int(Int64(rng.below(21) - 10))
      }
    case .string: return .string(rng.element(of: AggregationStringPool.strings))
    }
  }

  /// Read times: at, just before and just after event times; at `eventTime + window` (the event is
  /// exactly at the excluded lower edge) and one microsecond earlier; tile boundaries; before and
  /// after all events; random. known_at: created times exactly and one microsecond before, random,
  /// before and after all.
  static func readPoints(events: [AggregationEvent], windows: [AggregationWindow], _ rng: inout SplitMix64)
    -> (times: [Timestamp], knownAts: [Timestamp])
  {
    guard let lo = events.map(\.eventTime.microseconds).min(), let hi = events.map(\.eventTime.microseconds).max() else {
      return ([Timestamp(microseconds: Int64(rng.below(1 << 40)))], [.epoch])
    }
    let longest = windows.map(\.microseconds).max()!
    var times: [Int64] = [lo - 1, lo - longest, hi + 3 * longest, hi + longest + 1]
    for e in events {
      let t = e.eventTime.microseconds
      let w = rng.element(of: windows).microseconds
      times += [t, t - 1, t + 1, t + w, t + w - 1, t + w + 1]
      let width = rng.element(of: AggregationTiling.ladder)
      let boundary = (t / width + 1) * width
      times += [boundary, boundary - 1]
    }
    for _ in 0..<10 { times.append(Int64.random(in: (lo - longest)...(hi + longest), using: &rng)) }
    let created = events.map(\.createdTime.microseconds)
    var knownAts: [Int64] = [created.min()! - 1, created.max()!]
    for c in created { knownAts += [c, c - 1] }
    for _ in 0..<5 { knownAts.append(Int64.random(in: (created.min()! - 1)...created.max()!, using: &rng)) }
    return (times.map(Timestamp.init(microseconds:)), knownAts.map(Timestamp.init(microseconds:)))
  }
}
