import GRPCCore
import StrataCore
import StrataGRPC
import StrataProto
import StrataStorage
import StrataTestSupport
import Testing

/// `ClusterCoordinator` under a simulated network (`withSimulatedCluster`): merge order against a
/// single-node oracle with random delays on every peer, and the named faults (a node down, a node
/// that hangs, a slow answer after a commit, the registry leader down, a reordered or missed registry
/// push, a node at another ring epoch). Every test prints its seed; `STRATA_TEST_SEED` replays it.
///
/// Several of these tests found bugs in `Sources/` (all fixed since); each keeps the scenario that
/// showed its bug.
@Suite("ClusterCoordinator under a simulated network")
struct ClusterCoordinatorTests {
  @Test(
    "online lookups through every coordinator equal a single node's, in request order, under random delays (unary calls, lookup streams, lookup lanes)",
    arguments: InternodeLookups.allCases)
  func onlineMergeOrder(lookups: InternodeLookups) async throws {
    var rng = SplitMix64.forTest("cluster.online-merge-order")
    try await withSimulatedCluster(seed: rng.next(), lookups: lookups) { cluster in
      try await withStrata { oracle in
        cluster.faults.set(.delay(max: .milliseconds(2)), on: cluster.ids)
        try await Workload.registerAndWrite(cluster: cluster, oracle: oracle, calls: 10, rng: &rng)

        var present = 0
        for round in 0..<15 {
          let (entities, features) = Workload.lookup(&rng)
          let want = try await oracle.online(entities, features)
          present += want.vectors.reduce(0) { $0 + $1.results.filter { $0.status == .present }.count }
          let owners = Set(entities.map(cluster.owner(of:)))
          for node in cluster.nodes {
            let before = cluster.ids.reduce(0) { $0 + cluster.faults.lookups(to: $1) }
            let got = try await node.api.online(entities, features)
            let after = cluster.ids.reduce(0) { $0 + cluster.faults.lookups(to: $1) }
            #expect(got == want, "lookup \(round) through \(node.id): \(entities) \(features); \(rng.seedDescription)")
            // A coordinator serves its own entities itself.
            #expect(
              after - before == owners.subtracting([node.id]).count,
              "one internode call per other owner, not per entity; \(rng.seedDescription)")
          }
        }
        #expect(present > 0, "the workload should find stored values; \(rng.seedDescription)")
      }
    }
  }

  @Test("exports (rows, columnar, columnar with event times) through every coordinator equal a single node's, under random delays")
  func exportMergeOrder() async throws {
    var rng = SplitMix64.forTest("cluster.export-merge-order")
    try await withSimulatedCluster(seed: rng.next()) { cluster in
      try await withStrata { oracle in
        cluster.faults.set(.delay(max: .milliseconds(2)), on: cluster.ids)
        try await Workload.registerAndWrite(cluster: cluster, oracle: oracle, calls: 10, rng: &rng)

        var present = 0
        for round in 0..<4 {
          for form in Workload.ExportForm.allCases {
            let messages = Workload.export(&rng, form: form)
            let want = try await oracle.historical(messages)
            present += want.flatMap(\.rows).reduce(0) { $0 + $1.results.filter { $0.status == .present }.count }
            for node in cluster.nodes {
              let got = try await node.api.historical(messages)
              #expect(
                got == want,
                "export \(round) (\(form), \(messages.map(\.labels.count)) labels per message) through \(node.id); \(rng.seedDescription)")
            }
          }
        }
        #expect(present > 0, "the workload should find stored values; \(rng.seedDescription)")
      }
    }
  }

  @Test(
    "a node down: requests not touching it succeed; lookups and exports touching it fail UNAVAILABLE naming it; a spanning write reports what was not written (unary calls, lookup streams, lookup lanes)",
    arguments: InternodeLookups.allCases)
  func partialFailure(lookups: InternodeLookups) async throws {
    var rng = SplitMix64.forTest("cluster.partial-failure")
    try await withSimulatedCluster(seed: rng.next(), lookups: lookups) { cluster in
      _ = try await cluster.node("n2").api.apply(Workload.specs)
      let down = "n3"
      cluster.faults[down] = .fail
      let healthy = cluster.entities(ownedBy: "n1", count: 3, prefix: "h") + cluster.entities(ownedBy: "n2", count: 3, prefix: "h")
      let lost = cluster.entities(ownedBy: down, count: 2, prefix: "h")

      // A down node serves no clients: every other node coordinates.
      for node in cluster.nodes where node.id != down {
        let ok = try await node.api.online(healthy + [healthy[0]], ["user_stats:score", "item_stats:*"])
        #expect(ok.vectors.map(\.entityID) == healthy + [healthy[0]])
        let lookupError = await expectRPCError(.unavailable, mentioning: [cluster.describe(down)]) {
          try await node.api.online([healthy[0], lost[0], healthy[4]], ["user_stats:score"])
        }
        // Machine-readable: the error's details name the node that failed (clients do not parse text).
        let lookupDetails = lookupError.flatMap { NodeFailure.details(of: $0) }
        #expect(lookupDetails?.node == down && lookupDetails?.reason == .unavailable, "\(String(describing: lookupDetails))")
        #expect(lookupDetails?.address == "sim://\(down)")
        let rows = try await node.api.historicalRows(["user_stats:score"], healthy.map { label($0, .t0(0)) })
        #expect(rows.map(\.entityID) == healthy)
        let exportError = await expectRPCError(.unavailable, mentioning: [cluster.describe(down)]) {
          try await node.api.historicalRows(["user_stats:score"], [label(healthy[1], .t0(0)), label(lost[1], .t0(0))])
        }
        #expect(exportError.flatMap { NodeFailure.details(of: $0)?.node } == down)
      }

      // One batch spanning the three owners, rows interleaved.
      let fresh =
        (cluster.entities(ownedBy: "n1", count: 4, prefix: "w") + cluster.entities(ownedBy: "n2", count: 4, prefix: "w")
        + cluster.entities(ownedBy: down, count: 4, prefix: "w")).shuffled(using: &rng)
      let rows = fresh.enumerated().map { i, id in writeRow(id, .t0(-60), created: .t0(-30), [.float(Double(i))]) }
      let notWritten = fresh.indices.filter { cluster.owner(of: fresh[$0]) == down }
      let downRowsBefore = cluster.node(down).store.counterValues.rowsWritten
      let error = await expectRPCError(
        .unavailable, mentioning: [cluster.describe(down), "\(cluster.describe(down)): rows \(rangeList(notWritten)) not written"]
      ) {
        try await cluster.node("n1").api.write("user_stats", features: ["score"], rows: rows)
      }
      #expect(error?.message.contains("\(cluster.describe(down)): 4 rows written") == false, "\(error?.message ?? "")")
      #expect(error.flatMap { NodeFailure.details(of: $0)?.node } == down, "a write's error names the node too")

      // Read back from each owner's own store, bypassing the network (columns resolved by that store:
      // storage ids are node-local).
      for (i, id) in fresh.enumerated() {
        let owner = cluster.node(cluster.owner(of: id))
        let score = try owner.store.resolve([FeatureRef](parsing: ["user_stats:score"]))
        let stored = try await owner.store.online(entityIDs: [id], columns: score)[0][0]
        if owner.id == down {
          #expect(stored.status == .missing, "row \(i) (\(id)) reached the failed owner \(down)")
        } else {
          #expect(stored == FeatureResult(value: .float(Double(i)), status: .present, eventTime: .t0(-60)), "row \(i) (\(id)) on \(owner.id)")
        }
      }
      #expect(cluster.node(down).store.counterValues.rowsWritten == downRowsBefore)

      // Back up: the coordinators see the written rows, and the failed owner's are missing.
      cluster.faults[down] = .none
      let after = try await cluster.node("n2").api.online(fresh, ["user_stats:score"])
      let expected = fresh.map { (id: String) -> Strata_V1_ValueStatus in cluster.owner(of: id) == down ? .missing : .present }
      #expect(after.vectors.map { $0.results[0].status } == expected)
    }
  }

  @Test("a hanging node: lookups and writes touching it fail UNAVAILABLE naming it within about the call timeout")
  func hangingPeerDeadline() async throws {
    var rng = SplitMix64.forTest("cluster.deadline")
    try await withSimulatedCluster(seed: rng.next(), callTimeout: .seconds(3)) { cluster in
      try await cluster.seedRegistry(Workload.specs)
      let hung = "n2"
      cluster.faults[hung] = .hang
      let release: @Sendable () -> Void = { cluster.faults[hung] = .fail }
      let other = cluster.entities(ownedBy: "n1", count: 1, prefix: "d") + cluster.entities(ownedBy: "n3", count: 1, prefix: "d")
      let stuck = cluster.entities(ownedBy: hung, count: 1, prefix: "d")
      let coordinator = cluster.node("n3").api
      let describe = cluster.describe(hung)

      let clock = ContinuousClock()
      let start = clock.now
      try await expectFinishes(within: .seconds(15), release: release) {
        await expectRPCError(.unavailable, mentioning: [describe]) {
          try await coordinator.online(other + stuck, ["user_stats:score"])
        }
      }
      try await expectFinishes(within: .seconds(15), release: release) {
        // No answer in time: the coordinator cannot know whether the owner committed.
        await expectRPCError(.unavailable, mentioning: [describe, "\(describe): rows 2 may or may not have been written"]) {
          try await coordinator.write(
            "user_stats", features: ["score"],
            rows: (other + stuck).map { writeRow($0, .t0(-10), created: .t0(-5), [.float(1)]) })
        }
      }
      print("[cluster.deadline] two calls against a hanging node took \(clock.now - start) (call timeout 3 s)")

      // The other owners stored their rows (possibly after the call failed, on a loaded machine).
      let ok = try await settled({ try await coordinator.online(other, ["user_stats:score"]) }) {
        $0.vectors.allSatisfy { $0.results[0].status == .present }
      }
      #expect(ok.vectors.map { $0.results[0].status } == [.present, .present])
    }
  }

  @Test("a hanging node fails an export touching it instead of stalling it forever")
  func hangingPeerExport() async throws {
    var rng = SplitMix64.forTest("cluster.export-deadline")
    try await withSimulatedCluster(seed: rng.next(), callTimeout: .seconds(3)) { cluster in
      try await cluster.seedRegistry(Workload.specs)
      let hung = "n2"
      let labels = (cluster.entities(ownedBy: "n1", count: 1, prefix: "x") + cluster.entities(ownedBy: hung, count: 1, prefix: "x"))
        .map { label($0, .t0(0)) }
      let coordinator = cluster.node("n3").api
      let describe = cluster.describe(hung)
      cluster.faults[hung] = .hang
      _ = try await expectFinishes(within: .seconds(15), release: { cluster.faults[hung] = .fail }) {
        await expectRPCError(.unavailable, mentioning: [describe]) {
          try await coordinator.historicalRows(["user_stats:score"], labels)
        }
      }
      
    }
  }

  /// The client's deadline bounds the internode calls too: the server cancels the coordinator's handler
  /// at the deadline, and with it the calls to the owners, long before their own 30 s timeout.
  @Test("a client's deadline cancels the coordinator's calls to a hanging owner")
  func clientDeadlineCancelsInternodeCalls() async throws {
    var rng = SplitMix64.forTest("cluster.client-deadline")
    try await withSimulatedCluster(seed: rng.next(), callTimeout: .seconds(30)) { cluster in
      try await cluster.seedRegistry(Workload.specs)
      let hung = "n2"
      cluster.faults[hung] = .hang
      var request = Strata_V1_GetOnlineFeaturesRequest()
      request.entityIds = cluster.entities(ownedBy: hung, count: 1, prefix: "d")
      request.features = ["user_stats:score"]
      var options = CallOptions.defaults
      options.timeout = .milliseconds(300)
      let coordinator = cluster.node("n3").api.client
      let (call, callOptions) = (request, options)
      try await expectFinishes(within: .seconds(10), release: { cluster.faults[hung] = .fail }) {
        do {
          _ = try await coordinator.getOnlineFeatures(call, options: callOptions)
          Issue.record("the lookup succeeded although its owner hangs")
        } catch let error as RPCError {
          #expect(error.code == .deadlineExceeded, "\(error)")
        }
      }
      // The coordinator's call to the owner ends soon after the client's deadline, not after 30 s.
      let by = ContinuousClock.now + .seconds(5)
      while cluster.faults.cancelledHangs(to: hung) == 0 && ContinuousClock.now < by { try await Task.sleep(for: .milliseconds(20)) }
      #expect(cluster.faults.cancelledHangs(to: hung) == 1, "the internode call was cancelled with the client's call")
      cluster.faults[hung] = .none
    }
  }

  /// The deadline the client sent (`grpc-timeout`) bounds the coordinator's internode calls, and the
  /// client learns that its deadline, not the owner, ended the call.
  @Test("a client's grpc-timeout is passed on: a lookup through a hanging owner ends DEADLINE_EXCEEDED naming it")
  func clientTimeoutPassedOn() async throws {
    var rng = SplitMix64.forTest("cluster.client-timeout")
    try await withSimulatedCluster(seed: rng.next(), callTimeout: .seconds(30)) { cluster in
      try await cluster.seedRegistry(Workload.specs)
      let hung = "n2"
      cluster.faults[hung] = .hang
      var request = Strata_V1_GetOnlineFeaturesRequest()
      request.entityIds = cluster.entities(ownedBy: hung, count: 1, prefix: "d")
      request.features = ["user_stats:score"]
      // The header as a remote client sends it, and no client-side timeout: the answer must come from
      // the coordinator, at its caller's deadline, not at the 30 s internode timeout.
      var metadata = Metadata()
      metadata.addString("400m", forKey: "grpc-timeout")
      let coordinator = cluster.node("n3").api.client
      let describe = cluster.describe(hung)
      let start = ContinuousClock.now
      try await expectFinishes(within: .seconds(10), release: { cluster.faults[hung] = .fail }) { [request, metadata] in
        do {
          _ = try await coordinator.getOnlineFeatures(request, metadata: metadata)
          Issue.record("the lookup succeeded although its owner hangs")
        } catch let error as RPCError {
          #expect(error.code == .deadlineExceeded, "\(error)")
          #expect(error.message.contains("deadline passed while waiting for cluster node \(describe)"), "\(error)")
        }
      }
      let took = ContinuousClock.now - start
      #expect(took >= .milliseconds(400), "the call ended before its deadline: \(took)")
      cluster.faults[hung] = .none
    }
  }

  @Test(
    "lookup streams and lanes: many concurrent lookups through one coordinator share one stream or lane per owner, and each gets its own answer",
    arguments: [InternodeLookups.stream, .lane])
  func concurrentMultiplexedLookups(mode: InternodeLookups) async throws {
    var rng = SplitMix64.forTest("cluster.stream-concurrent")
    try await withSimulatedCluster(seed: rng.next(), lookups: mode) { cluster in
      try await withStrata { oracle in
        cluster.faults.set(.delay(max: .milliseconds(1)), on: cluster.ids)
        try await Workload.registerAndWrite(cluster: cluster, oracle: oracle, calls: 8, rng: &rng)
        let lookups = (0..<120).map { _ in Workload.lookup(&rng) }
        var wants: [Strata_V1_GetOnlineFeaturesResponse] = []
        for (entities, features) in lookups { wants.append(try await oracle.online(entities, features)) }
        let multiplexed = mode == .lane ? "LookupLane.message" : "LookupStream.message"
        let unaryBefore = cluster.ids.reduce(0) { $0 + cluster.faults.calls(to: $1, method: "GetOnline") }
        let streamedBefore = cluster.ids.reduce(0) { $0 + cluster.faults.calls(to: $1, method: multiplexed) }
        let coordinator = cluster.node("n2").api
        let got = try await withThrowingTaskGroup(of: (Int, Strata_V1_GetOnlineFeaturesResponse).self) { group in
          for (i, (entities, features)) in lookups.enumerated() {
            group.addTask { (i, try await coordinator.online(entities, features)) }
          }
          var all: [Int: Strata_V1_GetOnlineFeaturesResponse] = [:]
          for try await (i, response) in group { all[i] = response }
          return all
        }
        for i in lookups.indices {
          #expect(got[i] == wants[i], "lookup \(i): \(lookups[i]); \(rng.seedDescription)")
        }
        let unaryAfter = cluster.ids.reduce(0) { $0 + cluster.faults.calls(to: $1, method: "GetOnline") }
        let streamedAfter = cluster.ids.reduce(0) { $0 + cluster.faults.calls(to: $1, method: multiplexed) }
        #expect(unaryAfter == unaryBefore, "every lookup went over the open streams or lanes")
        #expect(streamedAfter > streamedBefore)
        let n2 = cluster.node("n2")
        #expect(cluster.ids.filter { $0 != "n2" }.allSatisfy { n2.pending(on: $0) == 0 && n2.isOpen($0) })
      }
    }
  }

  @Test(
    "lookup streams and lanes: a hanging owner's lookups end at the client's deadline or the call timeout, then the stream or lane serves again",
    arguments: [InternodeLookups.stream, .lane])
  func hangingMultiplexedOwner(lookups: InternodeLookups) async throws {
    var rng = SplitMix64.forTest("cluster.stream-hang")
    try await withSimulatedCluster(seed: rng.next(), callTimeout: .seconds(1), lookups: lookups) { cluster in
      try await cluster.seedRegistry(Workload.specs)
      let hung = "n2"
      let entities = cluster.entities(ownedBy: hung, count: 2, prefix: "d")
      let coordinator = cluster.node("n3").api
      let streams = cluster.node("n3")
      let describe = cluster.describe(hung)
      #expect(streams.isOpen(hung))
      cluster.faults[hung] = .hang
      let release: @Sendable () -> Void = { cluster.faults[hung] = .fail }

      var request = Strata_V1_GetOnlineFeaturesRequest()
      request.entityIds = entities
      request.features = ["user_stats:score"]
      var metadata = Metadata()
      metadata.addString("300m", forKey: "grpc-timeout")
      try await expectFinishes(within: .seconds(10), release: release) { [request, metadata] in
        await expectRPCError(.deadlineExceeded, mentioning: ["deadline passed while waiting for cluster node \(describe)"]) {
          try await coordinator.client.getOnlineFeatures(request, metadata: metadata)
        }
      }
      // Without a client deadline, the internode call timeout (1 s here) ends it.
      try await expectFinishes(within: .seconds(10), release: release) {
        await expectRPCError(.unavailable, mentioning: [describe, "no answer in time"]) {
          try await coordinator.online(entities, ["user_stats:score"])
        }
      }
      #expect(streams.pending(on: hung) == 0, "lookups that ended are no longer waiting")

      // The node answers again: the held lookups' late answers are dropped, new ones are served.
      cluster.faults[hung] = .none
      let unaryBefore = cluster.faults.calls(to: hung, method: "GetOnline")
      // Up to 3 tries: with a 1 s call timeout, one lookup on a machine loaded by the other suites
      // once took longer (UNAVAILABLE "no answer in time"); what counts is that the stream serves again.
      var ok: Strata_V1_GetOnlineFeaturesResponse?
      for attempt in 1...3 where ok == nil {
        do {
          ok = try await coordinator.online(entities, ["user_stats:score"])
        } catch let error as RPCError where error.code == .unavailable && error.message.contains("no answer in time") && attempt < 3 {
          continue
        }
      }
      #expect(ok?.vectors.map(\.entityID) == entities)
      #expect(cluster.faults.calls(to: hung, method: "GetOnline") == unaryBefore, "served on the stream or lane, which stayed open")
      #expect(streams.isOpen(hung))
    }
  }

  @Test("registry changes through a non-leader reach every node before the call returns; with the leader down they fail UNAVAILABLE naming it")
  func registryThroughLeader() async throws {
    var rng = SplitMix64.forTest("cluster.registry")
    try await withSimulatedCluster(seed: rng.next()) { cluster in
      cluster.faults.set(.delay(max: .milliseconds(3)), on: cluster.ids)
      func expectEveryNode(_ expected: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        let registries = cluster.registries()
        let leader = registries[cluster.leader.id]!
        #expect(leader.map(\.description) == expected, sourceLocation: sourceLocation)
        for (id, registry) in registries.sorted(by: { $0.key < $1.key }) {
          #expect(registry == leader, "registry of \(id)", sourceLocation: sourceLocation)
        }
      }

      let created = try await cluster.node("n2").api.apply(userStatsSpec())
      #expect(created.outcome == .created && created.version == 1)
      expectEveryNode(["user_stats@1 ACTIVE"])

      var v2 = userStatsSpec()
      v2.features.append(featureSpec("sessions", .int))
      let second = try await cluster.node("n3").api.apply([v2, Workload.specs[1]])
      #expect(second.map(\.version) == [2, 1])
      expectEveryNode(["item_stats@1 ACTIVE", "user_stats@1 ACTIVE", "user_stats@2 ACTIVE"])

      let deprecated = try await cluster.node("n3").api.setStatus("user_stats", version: 1, .deprecated)
      #expect(deprecated.status == .deprecated)
      expectEveryNode(["item_stats@1 ACTIVE", "user_stats@1 DEPRECATED", "user_stats@2 ACTIVE"])

      cluster.faults[cluster.leader.id] = .fail
      let leader = cluster.describe(cluster.leader.id)
      for id in ["n2", "n3"] {
        await expectRPCError(.unavailable, mentioning: [leader]) {
          try await cluster.node(id).api.apply(groupSpec("late", [featureSpec("x", .float)]))
        }
        await expectRPCError(.unavailable, mentioning: [leader]) {
          try await cluster.node(id).api.setStatus("user_stats", version: 2, .deprecated)
        }
      }
      expectEveryNode(["item_stats@1 ACTIVE", "user_stats@1 DEPRECATED", "user_stats@2 ACTIVE"])
    }
  }

  @Test("a node at another ring epoch: FAILED_PRECONDITION \"ring epoch mismatch\" surfaces through the coordinators")
  func ringEpochMismatch() async throws {
    var rng = SplitMix64.forTest("cluster.epoch")
    try await withSimulatedCluster(seed: rng.next(), epochs: ["n2": 2]) { cluster in
      try await cluster.seedRegistry(Workload.specs)
      let stale = cluster.describe("n2")
      let good = cluster.entities(ownedBy: "n1", count: 2, prefix: "e") + cluster.entities(ownedBy: "n3", count: 2, prefix: "e")
      let other = cluster.entities(ownedBy: "n2", count: 1, prefix: "e")

      // A current coordinator calling the stale node.
      let n1 = cluster.node("n1").api
      _ = try await n1.online(good, ["user_stats:score"])
      await expectRPCError(.failedPrecondition, mentioning: ["ring epoch mismatch", stale]) {
        try await n1.online(good + other, ["user_stats:score"])
      }
      await expectRPCError(.failedPrecondition, mentioning: ["ring epoch mismatch", stale]) {
        try await n1.write("user_stats", features: ["score"], rows: other.map { writeRow($0, .t0(-1), created: .t0(-1), [.float(1)]) })
      }
      await expectRPCError(.failedPrecondition, mentioning: ["ring epoch mismatch", stale]) {
        try await n1.historicalRows(["user_stats:score"], (good + other).map { label($0, .t0(0)) })
      }

      // The stale node coordinating: every other node refuses it.
      let n2 = cluster.node("n2").api
      await expectRPCError(.failedPrecondition, mentioning: ["ring epoch mismatch", cluster.describe("n1")]) {
        try await n2.online(cluster.entities(ownedBy: "n1", count: 1, prefix: "e"), ["user_stats:score"])
      }
      await expectRPCError(.failedPrecondition, mentioning: ["ring epoch mismatch"]) {
        try await n2.apply(groupSpec("late", [featureSpec("x", .float)]))
      }
    }
  }

  @Test("rows without a created time are stamped from the stores' clock, so a batch a coordinator accepted is accepted by its owners")
  func createdTimeFromStoreClock() async throws {
    var rng = SplitMix64.forTest("cluster.created-clock")
    try await withSimulatedCluster(seed: rng.next()) { cluster in
      _ = try await cluster.leader.api.apply(Workload.specs)
      let ids = cluster.ids.flatMap { cluster.entities(ownedBy: $0, count: 1, prefix: "c") }
      let written = try await cluster.node("n2").api.write(
        "user_stats", features: ["score"], rows: ids.map { writeRow($0, .t0(-10), [.float(1)]) })
      #expect(written.rowsWritten == UInt64(ids.count))
      
    }
  }

  @Test("the coordinator gives every row its write id (its own slot), and the owners store the rows with exactly those ids")
  func coordinatorWriteIDs() async throws {
    var rng = SplitMix64.forTest("cluster.write-ids")
    try await withSimulatedCluster(seed: rng.next()) { cluster in
      _ = try await cluster.leader.api.apply(Workload.specs)
      let ids = cluster.ids.flatMap { cluster.entities(ownedBy: $0, count: 3, prefix: "w") }
      // Two rows per entity equal on (event, created): the later one in the batch must win everywhere.
      let rows = ids.flatMap { id in
        [writeRow(id, .t0(-10), created: .t0(-9), [.float(1)]), writeRow(id, .t0(-10), created: .t0(-9), [.float(2)])]
      }
      let coordinator = cluster.node("n2")
      let slot = UInt16(cluster.ids.sorted().firstIndex(of: "n2")! + 1)
      let written = try await coordinator.api.write("user_stats", features: ["score"], rows: rows)
      #expect(written.rowsWritten == UInt64(rows.count))
      var seen: [UInt64] = []
      for owner in cluster.ids {
        let group = try cluster.node(owner).store.catalog.group(named: "user_stats", version: nil)
        for id in cluster.entities(ownedBy: owner, count: 3, prefix: "w") {
          let history = try cluster.node(owner).store.shard.history(entityID: id, group: group)
          #expect(history.count == 2, "\(owner) \(id)")
          #expect(history.allSatisfy { WriteID(rawValue: $0.sequence).slot == slot }, "ids from n2's clock: \(history.map(\.sequence))")
          #expect(history.last?.values.first == .float(2), "the later row of the batch wins on \(owner)")
          seen += history.map(\.sequence)
        }
      }
      #expect(Set(seen).count == seen.count, "every row has its own id")
      let online = try await cluster.node("n3").api.online(ids, ["user_stats:score"])
      #expect(online.vectors.map { $0.results[0].value } == ids.map { _ in .float(2) })
    }
  }

  // MARK: Registry propagation and version pinning

  @Test("a stale registry push that arrives after a newer one does not roll a node's registry back")
  func reorderedRegistryPushes() async throws {
    var rng = SplitMix64.forTest("cluster.registry-reorder")
    try await withSimulatedCluster(seed: rng.next()) { cluster in
      _ = try await cluster.leader.api.apply(userStatsSpec())
      // The leader's push after the next apply reaches n3 late; a status change overtakes it.
      cluster.faults.once(.pause(.seconds(1)), to: "n3", method: "PutRegistry")
      async let applied = cluster.node("n2").api.apply(groupSpec("late", [featureSpec("x", .float)]))
      // Once n2 has the new group, the leader has taken the snapshot still on its way to n3.
      while (try? cluster.node("n2").store.catalog.group(named: "late")) == nil { try await Task.sleep(for: .milliseconds(2)) }
      _ = try await cluster.leader.api.setStatus("user_stats", version: 1, .deprecated)
      _ = try await applied

      let registries = cluster.registries()
      #expect(registries["n1"]!.map(\.description) == ["late@1 ACTIVE", "user_stats@1 DEPRECATED"])
      for id in ["n2", "n3"] {
        #expect(registries[id]! == registries["n1"]!, "registry of \(id)")
      }
      
    }
  }

  @Test("a node that missed a registry push while unreachable writes to the current version once it is back")
  func missedRegistryPush() async throws {
    var rng = SplitMix64.forTest("cluster.registry-missed-push")
    try await withSimulatedCluster(seed: rng.next()) { cluster in
      _ = try await cluster.leader.api.apply(userStatsSpec())
      cluster.faults["n3"] = .fail
      var v2 = userStatsSpec()
      v2.features.append(featureSpec("sessions", .int))
      let applied = try await cluster.node("n2").api.apply(v2)
      #expect(applied.version == 2)
      cluster.faults["n3"] = .none

      let entity = cluster.entities(ownedBy: "n1", count: 1, prefix: "m")[0]
      _ = try await cluster.node("n3").api.write(
        "user_stats", features: ["score"], rows: [writeRow(entity, .t0(-10), created: .t0(-5), [.float(7)])])
      let read = try await cluster.node("n2").api.online([entity], ["user_stats:score"])
      #expect(read.columns.map(\.ref) == ["user_stats@2:score"])
      #expect(cluster.registries()["n3"]! == cluster.registries()["n1"]!, "registry of n3")
      #expect(read.vectors[0].results == [result(.float(7), .present, event: .t0(-10))], "the write through n3")
    }
  }

  @Test("a coordinator whose registry lags an owner's answers with the versions its columns name")
  func laggingCoordinatorPinsVersions() async throws {
    var rng = SplitMix64.forTest("cluster.version-pinning")
    try await withSimulatedCluster(seed: rng.next()) { cluster in
      // n3 has not learned user_stats@2 yet (its push is still in flight, or was missed).
      try await cluster.seedRegistry([userStatsSpec()])
      var v2 = userStatsSpec()
      v2.features.append(featureSpec("sessions", .int))
      for id in ["n1", "n2"] { _ = try await cluster.node(id).store.apply([try FeatureGroupSpec(proto: v2)]) }

      let entity = cluster.entities(ownedBy: "n1", count: 1, prefix: "p")[0]
      let api = cluster.node("n1").api
      for (version, value) in [(UInt32(1), 1.0), (2, 2.0)] {
        let at = Timestamp.t0(-30 + 10 * Int64(version))
        _ = try await api.write("user_stats", version: version, features: ["score"], rows: [writeRow(entity, at, created: at, [.float(value)])])
      }
      let v1 = [result(.float(1), .present, event: .t0(-20))]

      let lagging = cluster.node("n3").api
      let online = try await lagging.online([entity], ["user_stats:score"])
      let star = try await lagging.online([entity], ["user_stats:*"])
      let export = try await lagging.historicalRows(["user_stats:score"], [label(entity, .t0(0))])
      #expect(online.columns.map(\.ref) == ["user_stats@1:score"])
      #expect(online.vectors[0].results == v1, "online: the value of the version the column names")
      #expect(star.vectors[0].results.count == star.columns.count, "online user_stats:*: one result per column")
      #expect(export.map(\.results) == [v1], "export: the value of the version the column names")
      
    }
  }

  @Test("rows an owner committed before its answer timed out are not reported as not written")
  func timedOutCommittedWrite() async throws {
    var rng = SplitMix64.forTest("cluster.write-ambiguous")
    try await withSimulatedCluster(seed: rng.next(), callTimeout: .seconds(3)) { cluster in
      try await cluster.seedRegistry([userStatsSpec()])
      cluster.faults.once(.slowAnswer(.seconds(5)), to: "n2", method: "WriteBatch")
      let ids = cluster.entities(ownedBy: "n1", count: 1, prefix: "a") + cluster.entities(ownedBy: "n2", count: 1, prefix: "a")
      let error = await expectRPCError(.unavailable, mentioning: [cluster.describe("n2")]) {
        try await cluster.node("n3").api.write(
          "user_stats", features: ["score"], rows: ids.map { writeRow($0, .t0(-10), created: .t0(-5), [.float(3)]) })
      }
      let owner = cluster.node("n2").store
      let columns = try owner.resolve([FeatureRef](parsing: ["user_stats:score"]))
      // The owner commits as soon as the batch arrives (only its answer is slow); on a loaded machine
      // the commit itself may land after the coordinator gave up, so it is awaited.
      let stored = try await settled({ try await owner.online(entityIDs: [ids[1]], columns: columns) }) { $0[0][0].status == .present }
      #expect(stored[0][0].status == .present, "the owner committed the batch")
      #expect(
        error?.message.contains("\(cluster.describe("n2")): rows 1 not written") == false,
        "the error claims committed rows were not written: \(error?.message ?? "")")
      
    }
  }
}

/// "0-3, 7, 9-12": how a coordinator lists sorted row indexes.
private func rangeList(_ indexes: [Int]) -> String {
  var parts: [String] = []
  var start = 0
  while start < indexes.count {
    var end = start
    while end + 1 < indexes.count && indexes[end + 1] == indexes[end] + 1 { end += 1 }
    parts.append(start == end ? "\(indexes[start])" : "\(indexes[start])-\(indexes[end])")
    start = end + 1
  }
  return parts.joined(separator: ", ")
}

/// Random writes, lookups and exports over a small entity space (so that entities repeat, rows tie on
/// event and created times, and lookups ask for absent ids).
enum Workload {
  static let specs = [
    userStatsSpec(),
    groupSpec(
      "item_stats", entityType: .item, [featureSpec("price", .float), featureSpec("stock", .int, default: .int(-1))]),
  ]
  static let users = (0..<24).map { "u\($0)" }
  static let items = (0..<10).map { "i\($0)" }
  static let absent = (0..<4).map { "ghost-\($0)" }
  static let featureMenu = [
    "user_stats:score", "user_stats:clicks", "user_stats:country", "user_stats:emb", "user_stats:*", "user_stats@1:clicks",
    "item_stats:price", "item_stats:stock", "item_stats:*",
  ]

  /// Registers `specs` through a random coordinator and on the oracle, then makes `calls` write calls
  /// (one or two random batches each) through random coordinators and the same on the oracle.
  static func registerAndWrite(
    cluster: SimulatedCluster, oracle: StrataHarness, calls: Int, rng: inout SplitMix64
  ) async throws {
    let registered = try await rng.element(of: cluster.nodes).api.apply(specs)
    #expect(try await oracle.apply(specs) == registered)
    for call in 0..<calls {
      let batches = (0...rng.below(2)).map { _ in batch(&rng) }
      let node = rng.element(of: cluster.nodes)
      let got = try await node.api.write(batches)
      let want = try await oracle.write(batches)
      #expect(got == want, "write call \(call) through \(node.id); \(rng.seedDescription)")
    }
  }

  static func batch(_ rng: inout SplitMix64) -> Strata_V1_WriteFeaturesRequest {
    let (group, all, entities): (String, [String], [String]) =
      rng.oneIn(3)
      ? ("item_stats", ["price", "stock"], items)
      : ("user_stats", ["score", "clicks", "country", "emb"], users)
    var features = all.filter { _ in !rng.oneIn(3) }.shuffled(using: &rng)
    if features.isEmpty { features = [rng.element(of: all)] }
    let rows = (0...rng.below(30)).map { _ in
      let event = Timestamp.t0(-60 * Int64(1 + rng.below(40)))
      return writeRow(
        rng.element(of: entities), event, created: event.adding(microseconds: Int64(rng.below(20)) * 1_000_000),
        features.map { value(of: $0, &rng) })
    }
    return writeBatch(group, features: features, rows: rows)
  }

  static func value(of feature: String, _ rng: inout SplitMix64) -> Strata_V1_Value {
    if rng.oneIn(6) { return .null }
    switch feature {
    case "score", "price": return .float(Double(rng.below(100_000)) / 100)
    case "clicks", "stock": return .int(Int64(rng.below(1_000)) - 500)
    case "country": return .string(rng.element(of: ["DE", "FR", "US", "JP", ""]))
    default: return .embedding((0..<3).map { _ in Float(rng.below(200)) / 10 })
    }
  }

  static func entity(_ rng: inout SplitMix64) -> String {
    switch rng.below(10) {
    case 0: rng.element(of: absent)
    case 1, 2, 3: rng.element(of: items)
    default: rng.element(of: users)
    }
  }

  static func features(_ rng: inout SplitMix64) -> [String] {
    (0...rng.below(3)).map { _ in rng.element(of: featureMenu) }
  }

  /// 1 to 20 entities, duplicates and absent ids included, and 1 to 3 feature references.
  static func lookup(_ rng: inout SplitMix64) -> (entities: [String], features: [String]) {
    var entities = (0...rng.below(20)).map { _ in entity(&rng) }
    if rng.oneIn(2) { entities.insert(rng.element(of: entities), at: rng.below(entities.count + 1)) }
    return (entities, features(&rng))
  }

  enum ExportForm: CaseIterable, CustomStringConvertible {
    case rows, columnar, columnarWithEventTimes

    var description: String {
      switch self {
      case .rows: "rows"
      case .columnar: "columnar"
      case .columnarWithEventTimes: "columnar with event times"
      }
    }
  }

  /// 2 to 5 label messages (the first carries the features and may have no labels; a later one may
  /// be empty), labels with duplicates, absent ids and, for a third of them, a known_at time.
  static func export(_ rng: inout SplitMix64, form: ExportForm) -> [Strata_V1_GetHistoricalFeaturesRequest] {
    var messages = (0...rng.below(4) + 1).map { _ in
      historicalRequest(labels: rng.oneIn(5) ? [] : (0...rng.below(30)).map { _ in exportLabel(&rng) })
    }
    if let i = messages.indices.randomElement(using: &rng), !messages[i].labels.isEmpty {
      messages[i].labels.append(rng.element(of: messages[i].labels))
    }
    messages[0].features = features(&rng)
    messages[0].columnar = form != .rows
    messages[0].withEventTimestamps = form == .columnarWithEventTimes
    return messages
  }

  static func exportLabel(_ rng: inout SplitMix64) -> Strata_V1_LabelRow {
    var row = label(entity(&rng), .t0(-60 * Int64(rng.below(45)), micros: Int64(rng.below(3)) - 1))
    if rng.oneIn(3) {
      row.knownAtMicros = Timestamp.t0(-60 * Int64(rng.below(45)) + Int64(rng.below(20))).microseconds
    }
    return row
  }
}
