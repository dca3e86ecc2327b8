import GRPCCore
import StrataCore
import StrataGRPC
import StrataProto
import StrataStorage
import SwiftProtobuf
import Testing

/// The deprecation workflow over the wire, run the same way against one node and through every node of
/// a simulated cluster (registry leader n1): define v1, write with a writer identity, export a named
/// training set, register a model from it, serve by model, apply v2, deprecate v1 (exports refused
/// naming the model, serving by model goes on), retire refused naming the model, register the model's
/// next version on v2, archive the old one, retire v1.
private func deprecationWorkflow(_ nodes: [StrataHarness]) async throws {
  let first = nodes[0]
  let last = nodes[nodes.count - 1]
  _ = try await first.apply(userStatsSpec())
  let rows = (0..<8).map { writeRow("u\($0)", .t0(-100 + Int64($0)), [.int(Int64($0))]) }
  var batch = writeBatch("user_stats", features: ["clicks"], rows: rows)
  batch.writer = .with {
    $0.pipeline = "etl"
    $0.runID = "r1"
  }
  _ = try await last.write([batch])
  let labels = (0..<8).map { label("u\($0)", .t0(Int64($0))) } + [label("u0", .t0(-1000))]
  var export = historicalRequest(features: ["user_stats:clicks", "user_stats:score"], labels: labels)
  export.trainingSet = "ts1"
  export.createdBy = "ann"
  export.trainingSetDescription = "clicks for churn"
  let answers = try await last.historical([export])
  let manifest = try #require(answers.last?.trainingSet)
  #expect(answers.dropLast().allSatisfy { !$0.hasTrainingSet }, "only the last message carries the manifest")
  #expect(answers.flatMap(\.rows).map { $0.results[0].value.intValue } == (0..<8).map { Int64($0) } + [0])
  #expect(manifest.name == "ts1" && manifest.createdBy == "ann" && manifest.description_p == "clicks for churn")
  #expect(manifest.features == ["user_stats@1:clicks", "user_stats@1:score"])
  var digest = LabelDigest()
  for l in labels { digest.add(entityID: l.entityID, time: Timestamp(microseconds: l.labelTimestampMicros), knownAt: nil) }
  let expected = digest.summary()
  #expect(manifest.labelRows == 9 && manifest.labelChecksum == expected.checksum && !manifest.usedKnownAt)
  #expect(manifest.firstLabelMicros == Timestamp.t0(-1000).microseconds && manifest.lastLabelMicros == Timestamp.t0(7).microseconds)
  await expectRPCError(.alreadyExists, mentioning: ["training set 'ts1' already exists", "by ann"]) {
    _ = try await first.historical([export])
  }
  for node in nodes {
    #expect(try await node.client.listTrainingSets(.init()).trainingSets.map(\.labelChecksum) == [expected.checksum])
  }

  let registered = try await first.client.registerModel(.with {
    $0.name = "churn"
    $0.trainingSet = "ts1"
    $0.registeredBy = "ann"
  })
  #expect(registered.created && registered.model.version == 1 && registered.model.features == manifest.features)
  for node in nodes {
    let served = try await node.client.getOnlineFeatures(.with {
      $0.entityIds = ["u3", "nobody"]
      $0.model = "churn@1"
    })
    #expect(served.model == "churn@1")
    #expect(served.columns.map(\.ref) == ["user_stats@1:clicks", "user_stats@1:score"])
    #expect(served.vectors.map { $0.results[0].value.intValue } == [3, 0])
  }
  await expectRPCError(.invalidArgument, mentioning: ["leave features empty"]) {
    try await first.client.getOnlineFeatures(.with {
      $0.entityIds = ["u1"]
      $0.model = "churn"
      $0.features = ["user_stats:clicks"]
    })
  }

  var v2 = userStatsSpec()
  v2.owner = "tests-v2"
  #expect(try await first.apply(v2).version == 2)
  _ = try await last.setStatus("user_stats", version: 1, .deprecated)
  await expectRPCError(.failedPrecondition, mentioning: ["user_stats@1 is DEPRECATED (still used by model churn@1)", "user_stats@2"]) {
    _ = try await last.historical([historicalRequest(features: ["user_stats@1:clicks"], labels: labels)])
  }
  #expect(try await last.client.getOnlineFeatures(.with {
    $0.entityIds = ["u5"]
    $0.model = "churn"
  }).vectors[0].results[0].value.intValue == 5, "serving by model goes on")
  await expectRPCError(.failedPrecondition, mentioning: ["user_stats@1 cannot be RETIRED", "model churn@1 still uses it", "strata models archive churn@1"]) {
    _ = try await last.setStatus("user_stats", version: 1, .retired)
  }

  let next = try await last.client.registerModel(.with {
    $0.name = "churn"
    $0.features = ["user_stats:clicks", "user_stats:score"]
  })
  #expect(next.model.version == 2 && next.model.features == ["user_stats@2:clicks", "user_stats@2:score"])
  let archived = try await first.client.setModelStatus(.with {
    $0.name = "churn"
    $0.version = 1
    $0.status = .archived
    $0.reason = "replaced by churn@2"
    $0.changedBy = "ann"
  })
  #expect(archived.model.status == .archived && archived.model.statusChanges.map(\.reason) == ["replaced by churn@2"])
  #expect(try await last.setStatus("user_stats", version: 1, .retired).status == .retired)
  for node in nodes {
    await expectRPCError(.failedPrecondition, mentioning: ["churn@1 is ARCHIVED", "serve churn@2"]) {
      try await node.client.getOnlineFeatures(.with {
        $0.entityIds = ["u1"]
        $0.model = "churn@1"
      })
    }
    let models = try await node.client.listModels(.init()).models
    #expect(models.map { "\($0.name)@\($0.version) \($0.status)" } == ["churn@1 archived", "churn@2 active"])
    let lineage = try await node.client.getLineage(.with {
      $0.group = "user_stats"
      $0.version = 1
    })
    #expect(lineage.models.map(\.version) == [1] && lineage.trainingSets.map(\.name) == ["ts1"])
    let model = try await node.client.getModel(.with { $0.name = "churn" })
    #expect(model.model.version == 2 && !model.hasTrainingSet)
  }
}

@Suite("Model and training set RPCs")
struct ModelRPCTests {
  @Test("one node: the whole deprecation workflow, with the manifest's checksum and every refusal exact")
  func singleNode() async throws {
    try await withStrata { s in try await deprecationWorkflow([s]) }
  }

  @Test("a 3-node cluster (registry leader n1): the same workflow through different coordinators, every node sees the same registry")
  func cluster() async throws {
    try await withSimulatedCluster(seed: 16, replicationFactor: 2) { cluster in
      try await deprecationWorkflow([cluster.node("n2").api, cluster.node("n1").api, cluster.node("n3").api])
    }
  }

  @Test("bad requests are refused with what to fix, and change nothing")
  func badRequests() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      await expectRPCError(.invalidArgument, mentioning: ["model name 'bad name'"]) {
        try await s.client.registerModel(.with {
          $0.name = "bad name"
          $0.features = ["user_stats:clicks"]
        })
      }
      await expectRPCError(.notFound, mentioning: ["training set 'nope' does not exist"]) {
        try await s.client.registerModel(.with {
          $0.name = "m"
          $0.trainingSet = "nope"
        })
      }
      await expectRPCError(.notFound, mentioning: ["model 'm' is not registered"]) { try await s.client.getModel(.with { $0.name = "m" }) }
      await expectRPCError(.notFound, mentioning: ["model 'm' is not registered"]) {
        try await s.client.getOnlineFeatures(.with {
          $0.entityIds = ["u1"]
          $0.model = "m@2"
        })
      }
      await expectRPCError(.invalidArgument, mentioning: ["set a status: ACTIVE or ARCHIVED"]) {
        try await s.client.setModelStatus(.with {
          $0.name = "m"
          $0.version = 1
        })
      }
      var export = historicalRequest(features: ["user_stats:clicks"], labels: [label("u1", .t0(0))])
      export.trainingSet = "-bad"
      await expectRPCError(.invalidArgument, mentioning: ["training set name '-bad' is not valid"]) { _ = try await s.historical([export]) }
      export.trainingSet = ""
      export.createdBy = "ann"
      await expectRPCError(.invalidArgument, mentioning: ["name it (training_set)"]) { _ = try await s.historical([export]) }
      export.trainingSet = "ok"
      export.createdBy = String(repeating: "a", count: 257)
      await expectRPCError(.invalidArgument, mentioning: ["created_by is 257 bytes"]) { _ = try await s.historical([export]) }
      #expect(try await s.client.listTrainingSets(.init()).trainingSets.isEmpty)
      #expect(try await s.client.listModels(.init()).models.isEmpty)
      // Registry entries survive as they are: the store reloads them.
      export.createdBy = "ann"
      _ = try await s.historical([export])
      _ = try await s.client.registerModel(.with {
        $0.name = "m"
        $0.trainingSet = "ok"
      })
      let reloaded = try RegistryStore(engine: s.store.shard.engine).catalog
      #expect(reloaded == s.store.catalog)
      #expect(reloaded.models["m"]?.first?.trainingSet == "ok" && reloaded.trainingSets["ok"]?.labels.rows == 1)
    }
  }
}

@Suite("Errors forwarded from a peer")
struct ForwardedErrorTests {
  @Test("a forwarded error keeps its code, message and node details, and drops the peer's other trailers")
  func cleaned() {
    let failure = NodeFailure.error(.unavailable, "n3 is down", reason: .unavailable, node: "n3", address: "127.0.0.1:1")
    var received = failure
    received.metadata.addString("application/grpc", forKey: "content-type")
    received.metadata.addString("14", forKey: "grpc-status")
    let cleaned = ForwardedErrorInterceptor.cleaned(received)
    #expect(cleaned.code == .unavailable && cleaned.message == "n3 is down")
    #expect(Array(cleaned.metadata.map(\.key)) == ["grpc-status-details-bin"])
    #expect(NodeFailure.details(of: cleaned)?.node == "n3")
  }
}
