import GRPCCore
import StrataCore
import StrataProto
import SwiftProtobuf
import Testing

private func lineageRequest(_ group: String, version: UInt32 = 0) -> Strata_V1_GetLineageRequest {
  .with {
    $0.group = group
    $0.version = version
  }
}

private func identified(_ batch: Strata_V1_WriteFeaturesRequest, _ pipeline: String, _ run: String = "") -> Strata_V1_WriteFeaturesRequest {
  var b = batch
  b.writer = .with {
    $0.pipeline = pipeline
    $0.runID = run
  }
  return b
}

/// GetLineage and writer identities over the wire, on one node and through cluster coordinators.
@Suite("Lineage RPCs")
struct LineageRPCTests {
  @Test("one node: batches are recorded per writer (unnamed ones too), the graph lists derived versions, a bad writer or unknown group is refused")
  func singleNode() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      var derived = groupSpec("derived", [featureSpec("x", .int)])
      derived.lineage = .with { $0.upstream = ["user_stats"] }
      _ = try await s.apply(derived)
      let rows = [writeRow("u1", .t0(-100), [.int(1)]), writeRow("u2", .t0(-50), [.int(2)])]
      _ = try await s.write([
        identified(writeBatch("user_stats", features: ["clicks"], rows: rows), "etl", "r1"),
        identified(writeBatch("user_stats", features: ["clicks"], rows: [writeRow("u3", .t0(-10), [.int(3)])]), "etl", "r1"),
      ])
      _ = try await s.write("user_stats", features: ["clicks"], rows: [writeRow("u4", .t0(-70), [.int(4)])])
      await expectRPCError(.invalidArgument, mentioning: ["writer pipeline is 257 bytes"]) {
        try await s.write([identified(writeBatch("user_stats", features: ["clicks"], rows: rows), String(repeating: "p", count: 257))])
      }

      let lineage = try await s.client.getLineage(lineageRequest("user_stats"))
      #expect(lineage.group.spec.name == "user_stats" && lineage.group.version == 1)
      #expect(lineage.upstream.isEmpty)
      #expect(lineage.downstream.map { "\($0.group)@\($0.version) \($0.depth) \($0.derivedFrom)" } == ["derived@1 1 [\"user_stats@1\"]"])
      let writers = lineage.writers.map { "\($0.nodeID)|\($0.pipeline)|\($0.runID)|\($0.batches)|\($0.rows)" }
      #expect(writers == ["|||1|1", "|etl|r1|2|3"], "the refused batch is not recorded")
      let etl = lineage.writers[1]
      #expect(etl.minEventMicros == Timestamp.t0(-100).microseconds && etl.maxEventMicros == Timestamp.t0(-10).microseconds)
      #expect(etl.firstWriteMicros == TestClock.start.microseconds)

      let fromDerived = try await s.client.getLineage(lineageRequest("derived", version: 1))
      #expect(fromDerived.upstream.map(\.group) == ["user_stats"] && fromDerived.writers.isEmpty)
      await expectRPCError(.notFound, mentioning: ["'nosuch'"]) { try await s.client.getLineage(lineageRequest("nosuch")) }
      await expectRPCError(.notFound, mentioning: ["no version 2"]) { try await s.client.getLineage(lineageRequest("derived", version: 2)) }
    }
  }

  @Test("a cluster: each coordinator records the batches it accepted (not the replicas' copies); GetLineage on any node lists every node's writers; a node down is UNAVAILABLE naming it")
  func cluster() async throws {
    try await withSimulatedCluster(seed: 41, replicationFactor: 2) { cluster in
      _ = try await cluster.node("n2").api.apply([userStatsSpec()])
      let rows = (0..<6).map { writeRow("e\($0)", .t0(-Int64($0)), [.int(Int64($0))]) }
      _ = try await cluster.node("n1").api.write([identified(writeBatch("user_stats", features: ["clicks"], rows: rows), "etl", "a")])
      _ = try await cluster.node("n3").api.write([identified(writeBatch("user_stats", features: ["clicks"], rows: Array(rows.prefix(2))), "etl", "b")])
      for node in cluster.nodes {
        let lineage = try await node.api.client.getLineage(lineageRequest("user_stats"))
        let writers = Set(lineage.writers.map { "\($0.nodeID)|\($0.runID)|\($0.batches)|\($0.rows)" })
        #expect(writers == ["n1|a|1|6", "n3|b|1|2"], "through \(node.id)")
      }
      cluster.faults["n3"] = .fail
      await expectRPCError(.unavailable, mentioning: [cluster.describe("n3")]) {
        try await cluster.node("n1").api.client.getLineage(lineageRequest("user_stats"))
      }
    }
  }
}
