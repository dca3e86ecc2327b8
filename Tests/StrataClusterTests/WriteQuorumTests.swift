import StrataCluster
import StrataCore
import StrataTestSupport
import Testing

@Suite("Write plan and quorum")
struct WriteQuorumTests {
  @Test("every row goes to each of its replicas once, in request order per node")
  func plan() throws {
    var rng = SplitMix64.forTest("ReplicaPlan.routes")
    for _ in 0..<100 {
      let n = 1 + rng.below(6)
      let ring = try HashRing(nodes: (1...n).map { "n\($0)" }, virtualNodes: 32, epoch: 1)
      let placement = try ReplicaPlacement(ring: ring, replicationFactor: 1 + rng.below(n))
      let ids = (0..<rng.below(200)).map { _ in "e\(rng.below(100))" }
      let plan = ReplicaPlan(entityIDs: ids, placement: placement)
      #expect(plan.replicas.count == ids.count)
      for (i, id) in ids.enumerated() {
        #expect(plan.replicas[i].map { plan.nodes[$0] } == placement.replicas(of: id), "seed \(SplitMix64.hex(rng.seed))")
        for k in plan.replicas[i] { #expect(plan.parts[k].contains(i)) }
      }
      for part in plan.parts { #expect(part == part.sorted()) }
      #expect(plan.parts.map(\.count).reduce(0, +) == ids.count * placement.replicationFactor)
    }
  }

  /// The oracle: row i is acknowledged when `required` of its replicas stored it.
  @Test("the outcome is decided by the first answer that settles it, against a per-row count oracle")
  func quorumOracle() throws {
    var rng = SplitMix64.forTest("WriteQuorum.oracle")
    for _ in 0..<400 {
      let n = 1 + rng.below(6)
      let ring = try HashRing(nodes: (1...n).map { "n\($0)" }, virtualNodes: 16, epoch: 1)
      let placement = try ReplicaPlacement(ring: ring, replicationFactor: 1 + rng.below(n))
      let ids = (0..<(1 + rng.below(40))).map { _ in "e\(rng.below(60))" }
      let plan = ReplicaPlan(entityIDs: ids, placement: placement)
      let required = placement.required([Consistency.one, .quorum, .all][rng.below(3)])
      var quorum = WriteQuorum(plan: plan, required: required)
      var order = Array(plan.nodes.indices)
      order.shuffle(using: &rng)
      let ok = order.map { _ in rng.below(4) != 0 }
      var stores = [Int](repeating: 0, count: ids.count)
      var fails = [Int](repeating: 0, count: ids.count)
      var expected: WriteQuorum.Outcome = .waiting
      for (k, stored) in zip(order, ok) {
        for row in plan.parts[k] { if stored { stores[row] += 1 } else { fails[row] += 1 } }
        if expected == .waiting {
          let lost = plan.parts[k].filter { !stored && placement.replicationFactor - fails[$0] < required }
          if !lost.isEmpty {
            expected = .failed(rows: lost)
          } else if stores.allSatisfy({ $0 >= required }) {
            expected = .acknowledged(replicas: stores.min()!)
          }
        }
        #expect(quorum.record(k, stored: stored) == expected, "seed \(SplitMix64.hex(rng.seed))")
      }
      #expect(quorum.storesPerRow == stores)
      // Every node answered: the outcome is never left open.
      #expect(quorum.outcome != .waiting)
    }
  }

  @Test("RF 3 QUORUM: two stores acknowledge, a node's second answer is ignored, two failures fail the rows")
  func quorumExamples() throws {
    let placement = try ReplicaPlacement(ring: try HashRing(nodes: ["a", "b", "c"], epoch: 1), replicationFactor: 3)
    let plan = ReplicaPlan(entityIDs: ["x", "y"], placement: placement)
    var q = WriteQuorum(plan: plan, required: 2)
    #expect(q.record(0, stored: true) == .waiting)
    #expect(q.record(0, stored: true) == .waiting, "a node counts once")
    #expect(q.record(1, stored: true) == .acknowledged(replicas: 2))
    #expect(q.record(2, stored: false) == .acknowledged(replicas: 2), "decided outcomes never change")
    var f = WriteQuorum(plan: plan, required: 2)
    #expect(f.record(0, stored: false) == .waiting)
    #expect(f.record(2, stored: false) == .failed(rows: [0, 1]))
    #expect(WriteQuorum(plan: ReplicaPlan(entityIDs: [String](), placement: placement), required: 2).outcome == .acknowledged(replicas: 0))
  }
}
