import GRPCCore
import StrataCore
import StrataProto
import StrataStorage
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

/// Status changes with their notes, and DEPRECATED versions in new training exports, over the wire.
@Suite("Deprecation RPCs")
struct DeprecationRPCTests {
  private static func deprecate(_ api: StrataHarness, reason: String = "replaced by v2", by: String = "alice") async throws -> Strata_V1_FeatureGroup {
    var request = Strata_V1_SetFeatureGroupStatusRequest()
    request.name = "user_stats"
    request.version = 1
    request.status = .deprecated
    request.reason = reason
    request.changedBy = by
    return try await api.client.setFeatureGroupStatus(request).group
  }

  private static func export(_ api: StrataHarness, _ ref: String, force: Bool) async throws -> [Strata_V1_JoinedRow] {
    try await rows(api, [ref], [label("u1", .t0(0))], force: force)
  }

  /// One export call with `force` set in its (only) message; the rows answered.
  private static func rows(_ api: StrataHarness, _ refs: [String], _ labels: [Strata_V1_LabelRow], force: Bool) async throws -> [Strata_V1_JoinedRow] {
    try await api.client.getHistoricalFeatures(
      requestProducer: { writer in
        try await writer.write(.with {
          $0.features = refs
          $0.labels = labels
          $0.force = force
        })
      },
      onResponse: { response in
        var out: [Strata_V1_JoinedRow] = []
        for try await message in response.messages { out += message.rows }
        return out
      })
  }

  @Test("one node: the change is recorded with who and why; a pinned DEPRECATED version is refused in exports unless forced, online reads go on; an over-long note is INVALID_ARGUMENT")
  func singleNode() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      _ = try await s.write("user_stats", features: ["score"], rows: [writeRow("u1", .t0(-10), [.float(1.5)])])
      var v2 = userStatsSpec()
      v2.features.append(featureSpec("extra", .int))
      _ = try await s.apply(v2)
      await expectRPCError(.invalidArgument, mentioning: ["reason is 1025 bytes"]) {
        try await Self.deprecate(s, reason: String(repeating: "r", count: 1_025))
      }
      let group = try await Self.deprecate(s)
      #expect(group.statusChanges.map { "\($0.from) \($0.to) \($0.atMicros) \($0.changedBy) \($0.reason)" }
        == ["active deprecated \(TestClock.start.microseconds) alice replaced by v2"])
      #expect(try await s.getGroup("user_stats", version: 1).group.statusChanges == group.statusChanges)
      await expectRPCError(.failedPrecondition, mentioning: ["user_stats@1 is DEPRECATED", "user_stats@2"]) {
        try await Self.export(s, "user_stats@1:score", force: false)
      }
      #expect(try await Self.export(s, "user_stats@1:score", force: true).map { $0.results[0].value } == [.float(1.5)])
      #expect(try await Self.export(s, "user_stats:score", force: false).count == 1, "unpinned: v2, ACTIVE")
      #expect(try await s.online(["u1"], ["user_stats@1:score"]).vectors[0].results[0].value == .float(1.5))
    }
  }

  @Test("a cluster: a change through any node carries its note to every node; coordinators refuse DEPRECATED exports unless forced, and forced ones reach the owners")
  func cluster() async throws {
    try await withSimulatedCluster(seed: 43) { cluster in
      _ = try await cluster.node("n2").api.apply([userStatsSpec()])
      let ids = cluster.entities(ownedBy: "n1", count: 1, prefix: "u") + cluster.entities(ownedBy: "n3", count: 1, prefix: "u")
      _ = try await cluster.node("n1").api.write("user_stats", features: ["score"], rows: ids.map { writeRow($0, .t0(-10), [.float(2)]) })
      var v2 = userStatsSpec()
      v2.features.append(featureSpec("extra", .int))
      _ = try await cluster.node("n1").api.apply([v2])
      let changed = try await Self.deprecate(cluster.node("n3").api)
      #expect(changed.statusChanges.count == 1)
      for node in cluster.nodes {
        #expect(node.store.catalog.allVersions.first { $0.qualifiedName == "user_stats@1" }?.statusChanges.map(\.by) == ["alice"], "\(node.id)")
      }
      let api = cluster.node("n2").api
      await expectRPCError(.failedPrecondition, mentioning: ["user_stats@1 is DEPRECATED"]) {
        try await api.historicalRows(["user_stats@1:score"], ids.map { label($0, .t0(0)) })
      }
      let forced = try await Self.rows(api, ["user_stats@1:score"], ids.map { label($0, .t0(0)) }, force: true)
      #expect(forced.map { $0.results[0].value } == [.float(2), .float(2)])
    }
  }
}
