import StrataCluster
import StrataCore
import StrataTestSupport
import Testing

@Suite("Replica read routing")
struct ReplicaReadTests {
  @Test("random failures, hedges and answers: every item is answered by a replica that holds it, or the read is exhausted only after each of its replicas failed")
  func simulated() throws {
    var rng = SplitMix64.forTest("ReplicaRead.simulated")
    for _ in 0..<500 {
      let n = 1 + rng.below(5)
      let ring = try HashRing(nodes: (1...n).map { "n\($0)" }, virtualNodes: 16, epoch: 1)
      let placement = try ReplicaPlacement(ring: ring, replicationFactor: 1 + rng.below(n))
      let ids = (0..<(1 + rng.below(20))).map { _ in "e\(rng.below(50))" }
      let replicas = ids.map { placement.replicas(of: $0) }
      let down = Set(ring.nodes.filter { _ in rng.below(3) == 0 })
      let me = rng.below(2) == 0 ? "n1" : nil
      var read = ReplicaRead(replicas: replicas, preferring: me, avoiding: [])
      if let me {
        // This node answers every item it holds.
        for (i, r) in replicas.enumerated() where r.contains(me) {
          #expect(read.initial.contains { $0.node == me && $0.items.contains(i) })
        }
      }
      var running = Array(read.initial.indices)
      var failedOn = [Set<String>](repeating: [], count: ids.count)
      var outcome: ReplicaRead.Step = .wait
      var steps = 0
      while case .wait = outcome, !running.isEmpty, steps < 1000 {
        steps += 1
        let pick = rng.below(running.count)
        let r = running[pick]
        let request = read.requests[r]
        for i in request.items { #expect(replicas[i].contains(request.node), "seed \(SplitMix64.hex(rng.seed))") }
        var step: ReplicaRead.Step
        if rng.below(4) == 0 {
          step = read.hedge(r)  // stays running
        } else {
          running.remove(at: pick)
          if down.contains(request.node) {
            for i in request.items { failedOn[i].insert(request.node) }
            step = read.failed(r)
          } else {
            step = read.answered(r)
          }
        }
        if case .send(let first, let sent) = step {
          #expect(first == read.requests.count - sent.count)
          running += Array(first..<read.requests.count)
          step = .wait
        }
        outcome = step
      }
      switch outcome {
      case .done:
        for i in ids.indices {
          let r = read.answer[i]
          #expect(r >= 0 && !down.contains(read.requests[r].node) && read.requests[r].items.contains(i))
        }
      case .exhausted(let items):
        for i in items { #expect(failedOn[i] == Set(replicas[i]), "exhausted only after every replica failed") }
        #expect(items.allSatisfy { replicas[$0].allSatisfy(down.contains) })
      case .wait:
        // Every request finished: then every item was answered or exhausted already.
        #expect(running.isEmpty && steps < 1000)
        #expect(read.answer.allSatisfy { $0 >= 0 }, "seed \(SplitMix64.hex(rng.seed))")
      case .send: Issue.record("unreachable")
      }
    }
  }

  @Test("this node answers the items it holds; avoided nodes are skipped while another replica exists")
  func preferring() throws {
    let replicas = [["n1", "n2", "n3"], ["n2", "n3", "n1"], ["n3", "n2", "n4"]]
    let read = ReplicaRead(replicas: replicas, preferring: "n1", avoiding: ["n3"])
    #expect(read.initial == [.init(node: "n1", items: [0, 1]), .init(node: "n2", items: [2])])
    var r = read
    #expect(r.hedge(1) == .send(first: 2, [.init(node: "n4", items: [2])]))
    #expect(r.failed(1) == .wait, "item 2 is still with the hedge")
    #expect(r.answered(0) == .wait)
    #expect(r.answered(2) == .done)
    #expect(r.answer == [0, 0, 2])
  }
}
