import StrataCluster
import StrataStorage
import StrataTestSupport
import Testing

@Suite("Repair: plan and pace")
struct RepairPlanTests {
  @Test("the plan lists exactly the pairs whose digests differ, a missing side counting as empty (property)")
  func planProperty() {
    var rng = SplitMix64.forTest("RepairPlan.property")
    for round in 0..<200 {
      var local: [BucketGroup: HistoryDigest] = [:]
      var peer: [BucketGroup: HistoryDigest] = [:]
      for _ in 0..<rng.below(40) {
        let key = BucketGroup(bucket: rng.below(256), group: rng.element(of: ["a", "b"]), version: 1 + rng.below(2))
        let d = HistoryDigest(rows: UInt64(1 + rng.below(3)), sum: UInt64(rng.below(4)))
        switch rng.below(4) {
        case 0: local[key] = d
        case 1: peer[key] = d
        case 2: (local[key], peer[key]) = (d, d)
        default: (local[key], peer[key]) = (d, HistoryDigest(rows: d.rows, sum: d.sum &+ 1))
        }
      }
      let plan = RepairPlan(local: local, peer: peer)
      let keys = Set(local.keys).union(peer.keys)
      #expect(plan.compared == keys.count)
      let want = keys.filter { local[$0] != peer[$0] }.sorted()
      #expect(plan.items.map(\.key) == want, "round \(round); seed \(SplitMix64.hex(rng.seed))")
      for item in plan.items {
        #expect(item.fetchesFromPeer == (peer[item.key] != nil))
        #expect(item.local == local[item.key] ?? HistoryDigest())
      }
    }
  }

  @Test("the pace keeps rows moved per second at or below the cap")
  func pace() {
    var pace = RepairPace(rowsPerSecond: 1_000)
    #expect(pace.record(500, elapsed: .milliseconds(100)) == .milliseconds(400))
    #expect(pace.record(500, elapsed: .seconds(2)) == .zero)
    #expect(pace.record(2_000, elapsed: .seconds(2)) == .seconds(1))
    var free = RepairPace(rowsPerSecond: nil)
    #expect(free.record(1_000_000, elapsed: .zero) == .zero)
  }
}
