import GRPCCore
import StrataCluster
import StrataCore
import StrataGRPC
import StrataProto
import StrataStorage
import StrataTestSupport
import SwiftProtobuf
import Testing

@Suite("Anti-entropy repair under a simulated network")
struct RepairTests {
  /// Every history row a store holds: "group@version" -> entity -> rows in key order.
  static func contents(_ store: FeatureStore) throws -> [String: [String: [StoredRow]]] {
    var out: [String: [String: [StoredRow]]] = [:]
    for group in store.catalog.allVersions {
      for bucket in 0..<HistoryDigest.bucketCount {
        var after: [UInt8]?
        repeat {
          let page = try store.shard.bucketRows(bucket: bucket, group: group, including: { _ in true }, after: after, limit: 10_000)
          for r in page.rows { out[group.qualifiedName, default: [:]][r.entityID, default: []].append(r.row) }
          after = page.resumeAfter
        } while after != nil
      }
    }
    return out
  }

  /// Expects every replica of every entity to hold the same rows (the union of what any node holds),
  /// no node to hold rows of an entity it does not replicate, and every pair of nodes to have equal
  /// digests of the entities they share. Returns the number of rows checked.
  @discardableResult
  static func expectConverged(_ cluster: SimulatedCluster, rf: Int, _ note: String) async throws -> Int {
    let placement = try ReplicaPlacement(ring: cluster.ring, replicationFactor: rf)
    var per: [String: [String: [String: [StoredRow]]]] = [:]
    for node in cluster.nodes { per[node.id] = try contents(node.store) }
    var keys: Set<[String]> = []
    for (_, groups) in per { for (g, entities) in groups { for e in entities.keys { keys.insert([g, e]) } } }
    var checked = 0
    for key in keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
      let (g, e) = (key[0], key[1])
      let replicas = placement.replicas(of: e)
      let union = Set(cluster.ids.flatMap { per[$0]?[g]?[e] ?? [] })
      for r in replicas {
        let rows = per[r]?[g]?[e] ?? []
        #expect(Set(rows) == union && rows.count == union.count, "\(note): \(g) \(e) on replica \(r): \(rows.count) of \(union.count) rows")
      }
      for n in cluster.ids where !replicas.contains(n) {
        #expect(per[n]?[g]?[e] == nil, "\(note): \(n) holds rows of \(g) \(e), which it does not replicate")
      }
      checked += union.count
    }
    for a in cluster.ids {
      for b in cluster.ids where a < b {
        let shared = placement.sharedBy(a, b)
        let da = try await cluster.node(a).store.digests(including: shared)
        let db = try await cluster.node(b).store.digests(including: shared)
        #expect(da == db, "\(note): digests of \(a) and \(b) differ")
      }
    }
    return checked
  }

  static func repair(_ node: SimulatedNode, rate: UInt64 = 0) async throws -> Strata_V1_RepairResponse {
    try await node.api.client.repair(.with { $0.maxRowsPerSecond = rate })
  }

  @Test("RF 3 on 5 nodes: a node that was down (no hints) gets every row it missed from a repair through it, and a second repair finds nothing")
  func nodeThatWasDown() async throws {
    var rng = SplitMix64.forTest("repair.node-down")
    try await withStrata { oracle in
      try await withSimulatedCluster(nodes: 5, seed: rng.next(), replicationFactor: 3, hints: nil) { cluster in
        _ = try await cluster.node("n1").api.apply(Workload.specs)
        _ = try await oracle.apply(Workload.specs)
        try await ReplicationTests.write(cluster, oracle: oracle, calls: 6, consistency: .all, required: 3, rng: &rng)
        let down = "n2"
        cluster.faults[down] = .fail
        try await ReplicationTests.write(cluster, oracle: oracle, calls: 10, consistency: .quorum, required: 2, down: [down], rng: &rng)
        cluster.faults[down] = .none
        let missed = try await cluster.node("n1").store.digests(including: { _ in true }).values.reduce(0) { $0 + $1.rows }
        #expect(missed > 0)
        let shared = try ReplicaPlacement(ring: cluster.ring, replicationFactor: 3).sharedBy("n1", down)
        let before = try await (cluster.node("n1").store.digests(including: shared), cluster.node(down).store.digests(including: shared))
        #expect(before.0 != before.1, "\(down) missed rows of entities it shares with n1")
        let first = try await Self.repair(cluster.node(down))
        #expect(first.peersRepaired == 4 && first.peersFailed.isEmpty, "\(first)")
        #expect(first.bucketsDiffering > 0 && first.rowsReceived > 0, "\(first)")
        #expect(first.rowsSent == 0, "the node that was down has nothing its peers lack: \(first)")
        try await Self.expectConverged(cluster, rf: 3, "after repairing \(down)")
        let second = try await Self.repair(cluster.node(down))
        #expect(second.bucketsDiffering == 0 && second.rowsReceived == 0 && second.rowsSent == 0, "\(second)")
        #expect(second.bucketsCompared == first.bucketsCompared, "\(second)")
        // Every node answers lookups as a single node would.
        for node in cluster.nodes {
          for _ in 0..<4 {
            let (entities, features) = Workload.lookup(&rng)
            #expect(try await node.api.online(entities, features) == oracle.online(entities, features), "through \(node.id); \(rng.seedDescription)")
          }
        }
      }
    }
  }

  @Test(
    "RF 3 on 3 and 5 nodes: rows on one replica only, on two of three, and repeated deliveries converge after a repair through every node; a second round moves nothing",
    arguments: [3, 5])
  func scatteredDivergence(nodes: Int) async throws {
    var rng = SplitMix64.forTest("repair.scattered.\(nodes)")
    try await withSimulatedCluster(nodes: nodes, seed: rng.next(), replicationFactor: 3, hints: nil) { cluster in
      _ = try await cluster.node("n1").api.apply(Workload.specs)
      for _ in 0..<4 { _ = try await rng.element(of: cluster.nodes).api.write([Workload.batch(&rng)].map { var b = $0; b.consistency = .all; return b }) }
      let placement = try ReplicaPlacement(ring: cluster.ring, replicationFactor: 3)
      // Rows written straight into a random subset of their replicas (what a coordinator that died
      // mid-write, or lost its hints, leaves behind), some delivered twice.
      let coordinator = cluster.node("n1").store
      var placed = 0
      for _ in 0..<300 {
        let entity = rng.element(of: Workload.users)
        let event = Timestamp.t0(-Int64(rng.below(100_000)))
        let id = coordinator.assignWriteIDs(1, now: coordinator.now)[0]
        let request = WriteRequest(
          group: "user_stats", version: 1, features: ["score", "clicks"],
          rows: [.init(entityID: entity, eventTime: event, createdTime: event, values: [.float(Double(rng.below(1000))), nil], writeID: id)])
        let replicas = placement.replicas(of: entity).filter { _ in !rng.oneIn(2) }
        if !replicas.isEmpty { placed += 1 }
        for r in replicas {
          for _ in 0...rng.below(2) { _ = try await cluster.node(r).store.write(request, writeIDs: .accept) }
        }
      }
      var moved: UInt64 = 0
      for node in cluster.nodes {
        let r = try await Self.repair(node)
        #expect(r.peersRepaired == UInt32(nodes - 1) && r.peersFailed.isEmpty, "\(node.id): \(r)")
        moved += r.rowsReceived + r.rowsSent
      }
      #expect(moved > 0)
      let rows = try await Self.expectConverged(cluster, rf: 3, "after repairing every node")
      #expect(rows > placed && placed > 200)
      for node in cluster.nodes {
        let r = try await Self.repair(node)
        #expect(r.bucketsDiffering == 0 && r.rowsReceived == 0 && r.rowsSent == 0, "second round through \(node.id): \(r)")
      }
    }
  }

  @Test("a peer that is down is reported, the others are repaired; a concurrent second repair of the same node is refused")
  func peerDown() async throws {
    var rng = SplitMix64.forTest("repair.peer-down")
    try await withSimulatedCluster(nodes: 4, seed: rng.next(), replicationFactor: 3, hints: nil) { cluster in
      _ = try await cluster.node("n1").api.apply(Workload.specs)
      cluster.faults["n2"] = .fail
      for _ in 0..<6 { _ = try await cluster.node("n1").api.write([Workload.batch(&rng)]) }
      cluster.faults["n2"] = .none
      cluster.faults["n4"] = .fail
      let r = try await Self.repair(cluster.node("n2"))
      #expect(r.peersRepaired == 2, "\(r)")
      #expect(r.peersFailed.map(\.nodeID) == ["n4"], "\(r)")
      #expect(r.peersFailed.first?.message.contains("n4") == true, "\(r)")
      #expect(r.rowsReceived > 0, "\(r)")
      // A slow repair (paced to 50 rows/s) holds the node; a second one is refused meanwhile.
      cluster.faults["n4"] = .none
      cluster.faults["n2"] = .fail
      for _ in 0..<6 { _ = try await cluster.node("n1").api.write([Workload.batch(&rng)]) }
      cluster.faults["n2"] = .none
      async let slow = Self.repair(cluster.node("n2"), rate: 50)
      try await Task.sleep(for: .milliseconds(300))
      _ = await expectRPCError(.failedPrecondition, mentioning: ["already running"]) { try await Self.repair(cluster.node("n2")) }
      let done = try await slow
      #expect(done.peersFailed.isEmpty && done.rowsReceived + done.rowsSent > 0, "\(done)")
      try await Self.expectConverged(cluster, rf: 3, "after the slow repair")
    }
  }
}
