import StrataCore
import StrataTestSupport
import Testing

@testable import StrataStorage

/// `HistoryImage.partial` (a window's run of rows summed from the image's columns) against the
/// partial `AggregatePartial.add` builds from the same rows' events one at a time: equal as values
/// (counts, exact sum, min, max, latest, created-time bounds), for every field type, random runs and
/// `knownAt` cuts; and `HistoryImage.latest` against `AggregateRows.latest` over the events.
@Suite("History image partials")
struct HistoryImagePartialTests {
  @Test("a run of rows summed from the columns equals adding its events one by one, for floats (signed zeros, extremes), ints (extremes), strings and nulls, with and without knownAt")
  func columnPartialsEqualAdds() async throws {
    var rng = SplitMix64.forTest("HistoryImagePartialTests.columnPartialsEqualAdds")
    try await withStreamStore(.memory) { store, clock in
      let entities = ["a", "b", "c"]
      let floats: [Double] = [
        0.0, -0.0, 1.5, -1.5, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude,
        -.leastNonzeroMagnitude, 1e300, -1e-300, 0.1, 3,
      ]
      let ints: [Int64] = [0, 1, -1, .max, .min, 42, -7]
      let strings = ["", "a", "b", "ab", "\u{e9}", "e\u{301}", "zz"]
      for _ in 0..<30 {
        clock.advance(microseconds: Int64(rng.below(20_000_000)))
        var rows: [WriteRequest.Row] = []
        for _ in 0..<(1 + rng.below(25)) {
          // Event times on a few shared instants too: ties are ordered by created time and sequence.
          let back = rng.oneIn(3) ? Int64(rng.below(3)) * 1_000_000 : Int64(rng.below(3_600_000_000))
          let amount: FeatureValue? = rng.oneIn(5) ? nil : .float(rng.element(of: floats))
          let n: FeatureValue? = rng.oneIn(5) ? nil : .int(rng.element(of: ints))
          let tag: FeatureValue? = rng.oneIn(4) ? nil : .string(rng.element(of: strings))
          rows.append(WriteRequest.Row(entityID: rng.element(of: entities), eventTime: clock.now.subtracting(microseconds: back), values: [amount, n, tag]))
        }
        _ = try await store.write(WriteRequest(group: "purchases", features: ["amount", "n", "tag"], rows: rows, events: true))
      }
      let stream = try store.catalog.group(named: "purchases")
      let image = try #require(try store.shard.imageForJoin(stream, labels: .max, policy: imagesAlways)).image
      let types = StreamTiles.fieldTypes(stream)
      var checked = 0
      var withValues = 0
      for entity in entities {
        let e = try #require(image.entity(entity, token: EntityToken.of(entity)))
        let all = Int(image.rowStart[e])..<Int(image.rowStart[e + 1])
        #expect(all.count > 20, "entity \(entity) has \(all.count) rows")
        let created = all.map { image.created[$0] }
        for _ in 0..<300 {
          let lower = all.lowerBound + rng.below(all.count + 1)
          let rows = lower..<(lower + rng.below(all.upperBound - lower + 1))
          // A cut among the rows' created times (or just around them), or none.
          let knownAt: Timestamp? = rng.oneIn(3) ? nil : Timestamp(microseconds: rng.element(of: created) + Int64(rng.below(3)) - 1)
          for field in types.indices {
            var want = AggregatePartial(fieldType: types[field])
            for event in image.aggregationEvents(field: field, rows: rows) where knownAt.map({ event.createdTime <= $0 }) ?? true {
              want.add(event)
            }
            let got = image.partial(field: field, fieldType: types[field], rows: rows, knownAt: knownAt)
            #expect(got == want, "\(entity) rows \(rows) field \(field) knownAt \(String(describing: knownAt)) \(rng.seedDescription)")
            checked += 1
            if want.valueCount > 1 { withValues += 1 }
          }
          // The order key of a probe: the latest row in the run's event times at or after a floor.
          let events = image.aggregationEvents(field: 0, rows: all)
          let time = Timestamp(microseconds: image.events[rng.below(all.count) + all.lowerBound] + Int64(rng.below(3)) - 1)
          let floor = time.subtracting(microseconds: Int64(rng.below(1_800_000_000)))
          let key = { (k: (Timestamp, Timestamp, UInt64)) in "\(k.0.microseconds) \(k.1.microseconds) \(k.2)" }
          #expect(
            image.latest(in: all, at: time, floor: floor, knownAt: knownAt).map(key)
              == AggregateRows.latest(in: events, at: time, floor: floor, knownAt: knownAt) { ($0.eventTime, $0.createdTime, $0.sequence) }.map(key),
            "latest at \(time) \(rng.seedDescription)")
        }
      }
      #expect(checked == 2_700 && withValues > 1_000, "\(withValues) of \(checked) partials had several values")
    }
  }
}
