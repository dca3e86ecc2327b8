import StrataCluster
import StrataStorage
import StrataTestSupport
import Testing

@Suite("Repair: merging two replicas' rows page by page")
struct RepairMergeTests {
  /// Runs a merge over `local` and `peer` (sorted, unique) fed in random page sizes (empty pages too).
  static func run(local: [Int], peer: [Int], rng: inout SplitMix64) -> (here: [Int], there: [Int], matched: Int, maxBuffered: Int) {
    var merge = RepairMerge<Int, Int>()
    var (li, pi) = (0, 0)
    var here: [Int] = []
    var there: [Int] = []
    var maxBuffered = 0
    var steps = 0
    loop: while steps < 100_000 {
      steps += 1
      switch merge.step() {
      case .needLocal:
        let n = rng.below(5)
        let page = local[li..<min(li + n, local.count)].map { (key: $0, row: $0) }
        li += page.count
        merge.addLocal(page, last: li == local.count && rng.oneIn(2))
      case .needPeer:
        let n = rng.below(5)
        let page = peer[pi..<min(pi + n, peer.count)].map { (key: $0, row: $0) }
        pi += page.count
        merge.addPeer(page, last: pi == peer.count && rng.oneIn(2))
      case .done:
        break loop
      }
      let a = merge.takeMissingLocally()
      let b = merge.takeMissingOnPeer()
      maxBuffered = max(maxBuffered, a.count + b.count)
      here += a
      there += b
    }
    here += merge.takeMissingLocally()
    there += merge.takeMissingOnPeer()
    return (here, there, merge.matched, maxBuffered)
  }

  @Test("each side gets exactly the rows it lacks, in key order, with at most two pages buffered (property, against set differences)")
  func property() {
    var rng = SplitMix64.forTest("RepairMerge.property")
    for round in 0..<500 {
      let universe = 1 + rng.below(60)
      let local = (0..<universe).filter { _ in rng.oneIn(2) }
      let peer = (0..<universe).filter { _ in rng.oneIn(2) }
      let result = Self.run(local: local, peer: peer, rng: &rng)
      let l = Set(local)
      let p = Set(peer)
      #expect(result.here == peer.filter { !l.contains($0) }, "round \(round); seed \(SplitMix64.hex(rng.seed))")
      #expect(result.there == local.filter { !p.contains($0) }, "round \(round); seed \(SplitMix64.hex(rng.seed))")
      #expect(result.matched == l.intersection(p).count, "round \(round)")
      #expect(result.maxBuffered <= 8, "round \(round): \(result.maxBuffered) rows buffered")
    }
  }

  @Test("the doc comment's example")
  func example() {
    var merge = RepairMerge<Int, String>()
    #expect(merge.step() == .needLocal)
    merge.addLocal([(1, "l1"), (3, "l3")], last: true)
    #expect(merge.step() == .needPeer)
    merge.addPeer([(2, "p2"), (3, "p3")], last: true)
    #expect(merge.step() == .done)
    #expect(merge.takeMissingLocally() == ["p2"])
    #expect(merge.takeMissingOnPeer() == ["l1"])
    #expect(merge.matched == 1)
  }
}
