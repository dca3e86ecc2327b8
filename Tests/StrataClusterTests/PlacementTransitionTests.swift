import StrataCluster
import StrataCore
import StrataTestSupport
import Testing

@Suite("Placement transition")
struct PlacementTransitionTests {
  /// The brute-force union: the old replicas in old order, then the new ones not among them in new order.
  static func union(_ old: [String], _ new: [String]) -> [String] { old + new.filter { !old.contains($0) } }

  @Test(
    "write replicas are old ∪ new (old order, then new-only in new order) while writing to both, new once switched, for every token",
    arguments: MembershipChange.allCases)
  func writeReplicas(change: MembershipChange) throws {
    var rng = SplitMix64.forTest("PlacementTransition.writeReplicas.\(change.rawValue)")
    for zoned in [false, true] {
      for rf in 1...3 {
        let scenario = try TransitionScenario(
          change, replicationFactor: rf, zoned: zoned, virtualNodes: 8 + rng.below(40), rng: &rng)
        let transitions = try PlacementTransition.Phase.allCases.map {
          try PlacementTransition(old: scenario.old, new: scenario.new, phase: $0)
        }
        for token in scenario.sampleTokens(300, rng: &rng) {
          let old = scenario.oldOracle.replicas(token)
          let new = scenario.newOracle.replicas(token)
          for transition in transitions {
            let context = "\(scenario), \(transition.phase), token \(token), \(rng.seedDescription)"
            let sets = transition.writeSets(ofToken: token)
            #expect(transition.writeReplicas(ofToken: token) == sets.nodes, "\(context)")
            if transition.phase == .switched {
              #expect(sets.nodes == new, "\(context)")
              #expect(sets.old.isEmpty && sets.setCount == 1, "\(context)")
            } else {
              #expect(sets.nodes == Self.union(old, new), "\(context)")
              #expect(sets.old.map { sets.nodes[$0] } == old, "\(context)")
              #expect(sets.setCount == 2 && sets.sets == [sets.old, sets.new], "\(context)")
            }
            #expect(sets.new.map { sets.nodes[$0] } == new, "\(context)")
            #expect(Set(sets.nodes).count == sets.nodes.count, "each node once: \(context)")
          }
        }
      }
    }
  }

  @Test("reads use old while dual writing, new from readNew on; the phase can be moved")
  func readPlacement() throws {
    let ring = try HashRing(nodes: ["n1", "n2", "n3"], virtualNodes: 16, epoch: 1)
    let old = try ReplicaPlacement(ring: ring, replicationFactor: 2)
    let new = try ReplicaPlacement(ring: try ring.adding("n4"), replicationFactor: 2)
    let dual = try PlacementTransition(old: old, new: new, phase: .dualWrite)
    #expect(dual.readPlacement === old)
    #expect(dual.writesBothSets)
    let readNew = dual.moved(to: .readNew)
    #expect(readNew.readPlacement === new && readNew.writesBothSets)
    #expect(readNew.old === old && readNew.new === new)
    let switched = readNew.moved(to: .switched)
    #expect(switched.readPlacement === new && !switched.writesBothSets)
    #expect(switched.required(.quorum) == 2 && switched.required(.one) == 1 && switched.replicationFactor == 2)
    for i in 0..<200 {
      #expect(switched.writeReplicas(of: "e\(i)") == new.replicas(of: "e\(i)"))
      #expect(dual.writeReplicas(of: "e\(i)") == readNew.writeReplicas(of: "e\(i)"))
    }
  }

  @Test("placements with different replication factors are refused, naming both")
  func differentFactors() throws {
    let ring = try HashRing(nodes: ["n1", "n2", "n3"], virtualNodes: 16, epoch: 1)
    let old = try ReplicaPlacement(ring: ring, replicationFactor: 2)
    let new = try ReplicaPlacement(ring: try ring.adding("n4"), replicationFactor: 3)
    #expect {
      try PlacementTransition(old: old, new: new, phase: .dualWrite)
    } throws: { error in
      guard let error = error as? StrataError else { return false }
      return error.code == .invalidArgument && error.message.contains("has 2 and the new one 3")
    }
  }

  @Test(
    "a transition's write plan routes each row to its old ∪ new replicas with an old and a new set (one set once switched)",
    arguments: PlacementTransition.Phase.allCases)
  func plan(phase: PlacementTransition.Phase) throws {
    var rng = SplitMix64.forTest("ReplicaPlan.transition.\(phase.rawValue)")
    for change in MembershipChange.allCases {
      for rf in 1...3 {
        let scenario = try TransitionScenario(
          change, replicationFactor: rf, zoned: rng.oneIn(2), virtualNodes: 8 + rng.below(40), rng: &rng)
        let transition = try PlacementTransition(old: scenario.old, new: scenario.new, phase: phase)
        let ids = (0..<rng.below(150)).map { _ in "e\(rng.below(100))" }
        let plan = ReplicaPlan(entityIDs: ids, transition: transition)
        let context = "\(scenario), \(phase), \(rng.seedDescription)"
        if phase == .switched {
          #expect(plan == ReplicaPlan(entityIDs: ids, placement: scenario.new), "\(context)")
          #expect(plan.setCount == 1)
          continue
        }
        #expect(plan.setCount == 2, "\(context)")
        for (i, id) in ids.enumerated() {
          let token = EntityToken.of(id)
          let old = scenario.oldOracle.replicas(token)
          let new = scenario.newOracle.replicas(token)
          #expect(plan.replicas[i].map { plan.nodes[$0] } == Self.union(old, new), "\(context)")
          let sets = plan.replicaSets(ofRow: i).map { $0.map { plan.nodes[$0] } }
          #expect(sets.count == 2 && sets[0] == old && Set(sets[1]) == Set(new), "\(context)")
          for k in plan.replicas[i] { #expect(plan.parts[k].contains(i)) }
        }
        for part in plan.parts { #expect(part == part.sorted()) }
        // The same plan from the sets themselves.
        let fromSets = ReplicaPlan(replicaSets: ids.map { id in
          [scenario.oldOracle.replicas(EntityToken.of(id)), scenario.newOracle.replicas(EntityToken.of(id))]
        })
        if !ids.isEmpty { #expect(plan == fromSets, "\(context)") }
      }
    }
  }
}
