import Foundation
import StrataTestSupport
import Testing

/// Idempotency keys in a cluster whose metadata is in etcd: a push resent through another node (the
/// first coordinator died, the producer failed over) is stored once.
@Suite("Idempotency keys across an etcd cluster", .serialized)
struct EtcdIdempotencyTests {
  static let definitions = """
    streams:
      - name: clicks
        fields: [{name: amount, dtype: FLOAT}]
    groups:
      - name: clicks_30d
        stream: clicks
        features: [{name: n, field: amount, function: count, window: 30d}]
    """

  @Test("the same file pushed through n1, then (n1 killed) through n2 and n3: the resends are duplicates and every event counts once; with etcd killed, pushes go on")
  func resentThroughOtherNodes() async throws {
    try await EtcdProcess.with { etcd in
      let cluster = try LocalCluster(replicationFactor: 3, etcd: etcd.endpoint)
      defer { cluster.shutdown() }
      let (n1, n2, n3) = (cluster.address("n1"), cluster.address("n2"), cluster.address("n3"))
      var r = try strata(["apply", try cluster.dir.file("defs.yaml", Self.definitions)], server: n1, timeout: 30)
      try #require(r.status == 0, "\(r.stderr)")
      let at = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-60))
      var csv = "entity_id,event_timestamp,amount\n"
      for i in 0..<200 { csv += "e\(i % 20),\(at),\(i)\n" }
      let file = try cluster.dir.file("clicks.csv", csv)
      r = try strata(["push", "--stream", "clicks", "--batch-rows", "50", file], server: n1, timeout: 30)
      #expect(r.status == 0, "\(r.stderr)")
      #expect(r.stdout.hasPrefix("pushed 200 events into clicks@1 in 4 batches"), "\(r.stdout)")
      cluster.kill9("n1")
      for node in [n2, n3] {
        r = try strata(["push", "--stream", "clicks", "--batch-rows", "50", file], server: node, timeout: 30)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("pushed 0 events into clicks@1 in 4 batches"), "resent through \(node): \(r.stdout)")
        #expect(r.stdout.contains("4 batches already applied (duplicates)"), "\(r.stdout)")
      }
      let entities = (0..<20).map { "e\($0)" }.joined(separator: ",")
      r = try strata(["get", "--entity", entities, "--features", "clicks_30d:n", "--json"], server: n2, timeout: 30)
      #expect(r.status == 0, "\(r.stderr)")
      #expect(r.stdout.components(separatedBy: "\"clicks_30d@1:n\":{\"value\":10,").count - 1 == 20, "10 events per entity: \(r.stdout)")

      // etcd down: pushes go on (keys recorded on the node meanwhile), and a resend to that node is
      // still a duplicate.
      await etcd.kill9()
      csv = "entity_id,event_timestamp,amount\n" + (0..<20).map { "e\($0),\(at),1000\n" }.joined()
      let more = try cluster.dir.file("more.csv", csv)
      r = try strata(["push", "--stream", "clicks", more], server: n2, timeout: 30)
      #expect(r.status == 0 && r.stdout.hasPrefix("pushed 20 events"), "with etcd down: \(r.stdout) \(r.stderr)")
      r = try strata(["push", "--stream", "clicks", more], server: n2, timeout: 30)
      #expect(r.status == 0 && r.stdout.contains("1 batches already applied (duplicates)"), "\(r.stdout) \(r.stderr)")
      #expect(cluster.log("n2").contains("idempotency keys are recorded on this node until it does"))
    }
  }
}
