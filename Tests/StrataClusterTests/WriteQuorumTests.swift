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

@Suite("Write quorum over several replica sets")
struct WriteQuorumSetsTests {
  /// The oracle: a row is written when each of its sets has min(required, set size) stores, and lost
  /// when some set has more than size - min(required, size) failures; the first answer that settles the
  /// batch decides it.
  @Test("the outcome is decided by the first answer that settles it, against a per-row, per-set count oracle")
  func oracle() throws {
    var rng = SplitMix64.forTest("WriteQuorum.sets.oracle")
    let pool = ["a", "b", "c", "d", "e", "f"]
    for _ in 0..<400 {
      let setCount = 1 + rng.below(3)
      let rows: [[[String]]] = (0..<(1 + rng.below(30))).map { _ in
        (0..<setCount).map { _ in Array(pool.shuffled(using: &rng).prefix(1 + rng.below(4))) }
      }
      let plan = ReplicaPlan(replicaSets: rows)
      #expect(plan.setCount == setCount)
      let required = 1 + rng.below(4)
      var quorum = WriteQuorum(plan: plan, required: required)
      var order = Array(plan.nodes.indices)
      order.shuffle(using: &rng)
      let ok = order.map { _ in rng.below(4) != 0 }
      var storedBy: Set<String> = []
      var failedBy: Set<String> = []
      var expected: WriteQuorum.Outcome = .waiting
      func needed(_ set: [String]) -> Int { min(required, set.count) }
      func lost(_ row: Int) -> Bool { rows[row].contains { set in set.count - set.filter(failedBy.contains).count < needed(set) } }
      func written(_ row: Int) -> Bool { rows[row].allSatisfy { set in set.filter(storedBy.contains).count >= needed(set) } }
      func stores(_ row: Int) -> Int { Set(rows[row].joined()).intersection(storedBy).count }
      for (k, stored) in zip(order, ok) {
        let node = plan.nodes[k]
        if stored { storedBy.insert(node) } else { failedBy.insert(node) }
        let part = rows.indices.filter { rows[$0].joined().contains(node) }
        #expect(plan.parts[k] == part)
        if expected == .waiting {
          let lostRows = part.filter { !stored && lost($0) }
          if !lostRows.isEmpty {
            expected = .failed(rows: lostRows)
          } else if rows.indices.allSatisfy(written) {
            expected = .acknowledged(replicas: rows.indices.map(stores).min()!)
          }
        }
        #expect(quorum.record(k, stored: stored) == expected, "\(rows) required \(required), \(rng.seedDescription)")
      }
      #expect(quorum.storesPerRow == rows.indices.map(stores))
      #expect(quorum.outcome != .waiting, "every node answered")
    }
  }

  @Test("one set per row is the plan of a placement, and its quorum the same")
  func oneSet() throws {
    var rng = SplitMix64.forTest("WriteQuorum.sets.oneSet")
    for _ in 0..<50 {
      let n = 1 + rng.below(6)
      let ring = try HashRing(nodes: (1...n).map { "n\($0)" }, virtualNodes: 16, epoch: 1)
      let placement = try ReplicaPlacement(ring: ring, replicationFactor: 1 + rng.below(n))
      let ids = (0..<(1 + rng.below(40))).map { _ in "e\(rng.below(60))" }
      let plan = ReplicaPlan(entityIDs: ids, placement: placement)
      #expect(ReplicaPlan(replicaSets: ids.map { [placement.replicas(of: $0)] }) == plan, "\(rng.seedDescription)")
      #expect(plan.setCount == 1 && plan.replicaSets(ofRow: 0) == [plan.replicas[0]])
    }
  }

  @Test("RF 3 QUORUM while n4 joins: old a,b,c and new a,b,d need two of each")
  func dualWriteExamples() throws {
    let plan = ReplicaPlan(replicaSets: [[["a", "b", "c"], ["a", "b", "d"]], [["a", "b", "c"], ["a", "b", "c"]]])
    #expect(plan.nodes == ["a", "b", "c", "d"])
    #expect(plan.replicas == [[0, 1, 2, 3], [0, 1, 2]])
    #expect(plan.replicaSets(ofRow: 0) == [[0, 1, 2], [0, 1, 3]])
    // c and d: one of each set; then a makes two of each.
    var q = WriteQuorum(plan: plan, required: 2)
    #expect(q.record(2, stored: true) == .waiting)
    #expect(q.record(3, stored: true) == .waiting, "row 0 has 1 old and 1 new store; row 1 has 1")
    #expect(q.record(0, stored: true) == .acknowledged(replicas: 2), "row 0: a,c,d (2 old, 2 new); row 1: a,c")
    // Two of the old set failing loses row 0 even though its new set could still make it.
    var f = WriteQuorum(plan: plan, required: 2)
    #expect(f.record(3, stored: true) == .waiting)
    #expect(f.record(2, stored: false) == .waiting)
    #expect(f.record(1, stored: false) == .failed(rows: [0, 1]))
    // d and c failing leaves old {a, b} and new {a, b}, which can still make two of each.
    var g = WriteQuorum(plan: plan, required: 2)
    #expect(g.record(3, stored: false) == .waiting)
    #expect(g.record(2, stored: false) == .waiting)
    #expect(g.record(1, stored: true) == .waiting)
    #expect(g.record(0, stored: true) == .acknowledged(replicas: 2))
    // ALL: row 0 needs all of a,b,c and all of a,b,d.
    var all = WriteQuorum(plan: plan, required: 3)
    for k in [0, 1, 2] { #expect(all.record(k, stored: true) == .waiting) }
    #expect(all.record(3, stored: true) == .acknowledged(replicas: 3))
  }
}
