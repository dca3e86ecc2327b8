import StrataCluster
import StrataCore
import StrataTestSupport
import Testing

@Suite("Routing plan")
struct RoutingPlanTests {
  @Test("every item goes to its primary owner exactly once; parts keep request order; the answers merge back by part")
  func routesToPrimaries() throws {
    var rng = SplitMix64.forTest("RoutingPlan.routes")
    for _ in 0..<200 {
      let size = 1 + rng.below(6)
      let ring = try HashRing(nodes: (1...size).map { "n\($0)" }, virtualNodes: 64, epoch: 1)
      // Duplicates included: a request may name an entity twice.
      let ids = (0..<rng.below(300)).map { _ in "e\(rng.below(150))" }
      let plan = RoutingPlan(entityIDs: ids, ring: ring)
      #expect(plan.part.count == ids.count)
      #expect(Set(plan.nodes).count == plan.nodes.count, "each node once (seed \(SplitMix64.hex(rng.seed)))")
      #expect(plan.parts.flatMap { $0 }.sorted() == Array(ids.indices), "every item exactly once")
      for (k, node) in plan.nodes.enumerated() {
        #expect(plan.parts[k] == plan.parts[k].sorted(), "request order within a part")
        #expect(plan.parts[k].allSatisfy { ring.primary(of: ids[$0]) == node })
        #expect(plan.indexes(of: node) == plan.parts[k])
      }
      // Nodes in order of their first item.
      let firsts = plan.parts.map { $0[0] }
      #expect(firsts == firsts.sorted())
      // Merged back (each item takes the next answer of its node) the answers equal the request.
      let answers = plan.parts.map { $0.map { ids[$0] } }
      var next = [Int](repeating: 0, count: plan.nodes.count)
      let merged = ids.indices.map { i -> String in
        defer { next[plan.part[i]] += 1 }
        return answers[plan.part[i]][next[plan.part[i]]]
      }
      #expect(merged == ids)
      #expect(plan.indexes(of: "not-a-node") == nil)
    }
  }

  @Test("an empty request has no parts")
  func empty() throws {
    let plan = RoutingPlan(entityIDs: [String](), ring: try HashRing(nodes: ["a", "b"], epoch: 1))
    #expect(plan.nodes.isEmpty && plan.parts.isEmpty && plan.part.isEmpty)
  }
}
