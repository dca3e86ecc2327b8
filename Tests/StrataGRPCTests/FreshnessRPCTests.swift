import GRPCCore
import StrataCore
import StrataProto
import SwiftProtobuf
import Testing

/// Freshness over the wire: GetStatus per group version, and online answers that ask for it.
@Suite("Freshness RPC")
struct FreshnessRPCTests {
  @Test("GetStatus: tier, interval, last write and state per group version; aggregate groups follow their stream; the clock moves the state")
  func statusStates() async throws {
    try await withStrata { s in
      var stats = userStatsSpec()
      stats.refreshIntervalSeconds = 86_400
      var stream = purchasesSpec()
      stream.refreshIntervalSeconds = 60
      _ = try await s.apply([stats, stream, userSpendSpec(), groupSpec("plain", [featureSpec("x", .float)])])
      _ = try await s.write("user_stats", features: ["score"], rows: [writeRow("u1", .t0(-10), [.float(1)])])
      _ = try await s.push([pushBatch(key: "", [event("u1", .t0(-10), 1, nil)])])
      func states() async throws -> [String: (Strata_V1_FreshnessState, Strata_V1_FreshnessTier, Int64)] {
        let groups = try await s.status().groups
        return Dictionary(uniqueKeysWithValues: groups.map { ("\($0.group)@\($0.version)", ($0.freshness, $0.tier, $0.refreshIntervalSeconds)) })
      }
      var now = try await states()
      #expect(now["user_stats@1"]! == (.fresh, .batch, 86_400))
      #expect(now["purchases@1"]! == (.fresh, .streaming, 60))
      #expect(now["user_spend@1"]! == (.fresh, .streaming, 60), "an aggregate group without an interval takes its stream's")
      #expect(now["plain@1"]! == (.untracked, .batch, 0))
      s.clock.advance(seconds: 61)
      now = try await states()
      #expect(now["purchases@1"]!.0 == .late && now["user_spend@1"]!.0 == .late && now["user_stats@1"]!.0 == .fresh)
      s.clock.advance(seconds: 60)
      now = try await states()
      #expect(now["purchases@1"]!.0 == .alert && now["user_spend@1"]!.0 == .alert)
      // A push makes the stream and its aggregates fresh again.
      _ = try await s.push([pushBatch(key: "", [event("u2", .t0(100), 2, nil)])])
      now = try await states()
      #expect(now["purchases@1"]!.0 == .fresh && now["user_spend@1"]!.0 == .fresh)
      let last = try await s.status().groups.first { $0.group == "user_spend" }!.lastWriteMicros
      #expect(last == s.clock.now.microseconds)
    }
  }

  @Test("an online lookup with_freshness gets one entry per group version read, in order of first appearance; without it, none")
  func onlineFreshness() async throws {
    try await withStrata { s in
      var stream = purchasesSpec()
      stream.refreshIntervalSeconds = 30
      _ = try await s.apply([userStatsSpec(), stream, userSpendSpec()])
      _ = try await s.push([pushBatch(key: "", [event("u1", .t0(-10), 1, nil)])])
      s.clock.advance(seconds: 45)
      var request = Strata_V1_GetOnlineFeaturesRequest()
      request.entityIds = ["u1"]
      request.features = ["user_spend:n_1h", "user_stats:score", "user_spend:spend_5m"]
      #expect(try await s.client.getOnlineFeatures(request).freshness.isEmpty)
      request.withFreshness = true
      let answer = try await s.client.getOnlineFeatures(request)
      #expect(answer.freshness.map { "\($0.group)@\($0.version)" } == ["user_spend@1", "user_stats@1"])
      #expect(answer.freshness.map(\.freshness) == [.late, .untracked])
      #expect(answer.vectors[0].results[0] == result(.int(1), .present, event: nil))
    }
  }

  @Test("a cluster's GetStatus merges the reachable nodes' last writes and lists each node's own state; online answers then carry the merged state")
  func clusterMerge() async throws {
    let clock = TestClock()
    try await withSimulatedCluster(nodes: 3, seed: 7, clock: clock, replicationFactor: 1) { cluster in
      var stats = userStatsSpec()
      stats.refreshIntervalSeconds = 60
      try await cluster.seedRegistry([stats])
      clock.advance(seconds: 100)
      let entity = cluster.entities(ownedBy: "n2", count: 1, prefix: "e")[0]
      _ = try await cluster.node("n1").api.write("user_stats", features: ["score"], rows: [writeRow(entity, .t0(90), [.float(1)])])
      let status = try await cluster.node("n1").api.status()
      #expect(status.groups.first { $0.group == "user_stats" }?.freshness == .fresh)
      let own = Dictionary(uniqueKeysWithValues: status.clusterNodes.map { n in (n.nodeID, n.groups.first { $0.group == "user_stats" }?.freshness) })
      #expect(own == ["n1": .late, "n2": .fresh, "n3": .late], "registered 100 s ago, written on n2 only")
      var request = Strata_V1_GetOnlineFeaturesRequest()
      request.entityIds = [entity]
      request.features = ["user_stats:score"]
      request.withFreshness = true
      #expect(try await cluster.node("n1").api.client.getOnlineFeatures(request).freshness.map(\.freshness) == [.fresh])
    }
  }
}
