import StrataCore
import StrataTestSupport
import Testing

@testable import StrataStorage

/// `AggregateRows.latest` (the order key of an exported aggregate row) against the last qualifying
/// event found by a plain walk, on random event lists with shared instants.
@Suite("Aggregate rows: the latest event")
struct AggregateRowsLatestTests {
  @Test("equals a brute-force walk at random times, floors and known-at times")
  func matchesBruteForce() {
    var rng = SplitMix64.forTest("AggregateRowsLatestTests.matchesBruteForce")
    for _ in 0..<300 {
      var rows = (0..<rng.below(40)).map { i in
        StoredRow(
          eventTime: .seconds(Int64(rng.below(50))), createdTime: .seconds(Int64(rng.below(80))), sequence: UInt64(i),
          values: [])
      }
      rows.sort { ($0.eventTime, $0.createdTime, $0.sequence) < ($1.eventTime, $1.createdTime, $1.sequence) }
      let time = Timestamp.seconds(Int64(rng.below(60)) - 5)
      let floor = Timestamp.seconds(Int64(rng.below(60)) - 10)
      let knownAt: Timestamp? = rng.oneIn(2) ? nil : .seconds(Int64(rng.below(90)))
      let want = rows.last { row in row.eventTime <= time && row.eventTime >= floor && (knownAt.map { row.createdTime <= $0 } ?? true) }
      let got = AggregateRows.latest(in: rows, at: time, floor: floor, knownAt: knownAt)
      #expect(got.map { [$0.0.microseconds, $0.1.microseconds, Int64($0.2)] } == want.map { [$0.eventTime.microseconds, $0.createdTime.microseconds, Int64($0.sequence)] }, "\(rng.seedDescription)")
    }
  }
}
