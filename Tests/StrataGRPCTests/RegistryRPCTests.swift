import GRPCCore
import StrataCore
import StrataProto
import StrataStorage
import SwiftProtobuf
import Testing

/// ApplyFeatureGroups, ListFeatureGroups and GetFeatureGroup over the wire.
@Suite("Registry RPCs")
struct RegistryRPCTests {
  @Test("a new group is CREATED as version 1, ACTIVE, stamped with the server clock")
  func createdAsVersionOne() async throws {
    try await withStrata { s in
      let r = try await s.apply(userStatsSpec())
      #expect(r.group == "user_stats")
      #expect(r.version == 1)
      #expect(r.outcome == .created)

      let groups = try await s.listGroups()
      try #require(groups.count == 1)
      #expect(groups[0].version == 1)
      #expect(groups[0].status == .active)
      #expect(groups[0].createdAtMicros == TestClock.start.microseconds)
      #expect(groups[0].spec == userStatsSpec(), "the registered spec round-trips unchanged")
    }
  }

  @Test("a definition's lineage round-trips through apply, get and list; changing it is NEW_VERSION")
  func lineageRoundTrips() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      var derived = userStatsSpec()
      derived.name = "derived"
      derived.lineage = .with {
        $0.source = "warehouse.orders"
        $0.transformation = "SELECT user_id, count(*)\nFROM orders GROUP BY 1"
        $0.upstream = ["user_stats", "user_stats@1"]
        $0.pipeline = "nightly_stats"
      }
      #expect(try await s.apply(derived).outcome == .created)
      #expect(try await s.getGroup("derived").group.spec == derived)
      #expect(try await s.listGroups().first { $0.spec.name == "derived" }?.spec.lineage == derived.lineage)
      #expect(try await s.apply(derived).outcome == .unchanged)
      derived.lineage.pipeline = "hourly_stats"
      let changed = try await s.apply(derived)
      #expect(changed.outcome == .newVersion && changed.version == 2)
    }
  }

  @Test("re-applying an identical spec is UNCHANGED and registers nothing")
  func identicalReapplyIsUnchanged() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      s.clock.advance(seconds: 60)
      let r = try await s.apply(userStatsSpec())
      #expect(r.outcome == .unchanged)
      #expect(r.version == 1)

      let groups = try await s.listGroups()
      #expect(groups.map(\.version) == [1])
      #expect(groups[0].createdAtMicros == TestClock.start.microseconds, "an unchanged apply does not touch created_at")
    }
  }

  @Test("a changed spec becomes NEW_VERSION 2; ListFeatureGroups lists every version, by name then version")
  func changedSpecIsNewVersion() async throws {
    try await withStrata { s in
      var v2 = userStatsSpec()
      v2.features.append(featureSpec("sessions", .int))
      let other = groupSpec("item_stats", entityType: .item, [featureSpec("price", .float)])

      #expect(try await s.apply(userStatsSpec()).outcome == .created)
      s.clock.advance(seconds: 10)
      let r = try await s.apply(v2)
      #expect(r.group == "user_stats")
      #expect(r.version == 2)
      #expect(r.outcome == .newVersion)
      // Registered after user_stats, listed before it (name order).
      #expect(try await s.apply(other).outcome == .created)

      let groups = try await s.listGroups()
      #expect(groups.map { "\($0.spec.name)@\($0.version)" } == ["item_stats@1", "user_stats@1", "user_stats@2"])
      #expect(groups[1].spec == userStatsSpec())
      #expect(groups[2].spec == v2)
      #expect(groups[2].createdAtMicros == Timestamp.t0(10).microseconds)
      #expect(groups.allSatisfy { $0.status == .active }, "older versions stay ACTIVE")
    }
  }

  @Test("results come back one per spec in request order, mixing CREATED, UNCHANGED and NEW_VERSION")
  func mixedApplyResultsInOrder() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      _ = try await s.apply(groupSpec("b_group", [featureSpec("x", .int)]))
      let results = try await s.apply([
        groupSpec("z_new", [featureSpec("y", .string)]),
        userStatsSpec(),
        groupSpec("b_group", [featureSpec("x", .float)]),
      ])
      #expect(results.map(\.group) == ["z_new", "user_stats", "b_group"])
      #expect(results.map(\.outcome) == [.created, .unchanged, .newVersion])
      #expect(results.map(\.version) == [1, 1, 2])
    }
  }

  @Test("re-applying v1's spec after v2 exists registers v3 (compared against the latest only)")
  func revertingIsANewVersion() async throws {
    try await withStrata { s in
      var v2 = userStatsSpec()
      v2.description_p = "changed description"
      _ = try await s.apply(userStatsSpec())
      _ = try await s.apply(v2)
      let r = try await s.apply(userStatsSpec())
      #expect(r.outcome == .newVersion)
      #expect(r.version == 3)
      #expect(try await s.listGroups().map(\.version) == [1, 2, 3])
    }
  }

  @Test("GetFeatureGroup: version 0 is the latest ACTIVE, version 1 is v1, `versions` lists all ascending")
  func getFeatureGroup() async throws {
    try await withStrata { s in
      var v2 = userStatsSpec()
      v2.features.removeLast()
      _ = try await s.apply(userStatsSpec())
      _ = try await s.apply(v2)

      let latest = try await s.getGroup("user_stats")
      #expect(latest.group.version == 2)
      #expect(latest.group.spec == v2)
      #expect(latest.versions.map(\.version) == [1, 2])
      #expect(latest.versions.map(\.spec) == [userStatsSpec(), v2])

      let first = try await s.getGroup("user_stats", version: 1)
      #expect(first.group.version == 1)
      #expect(first.group.spec == userStatsSpec())
      #expect(first.versions.map(\.version) == [1, 2])

      // Deprecating v2 makes v1 the latest ACTIVE version.
      _ = try await s.store.setStatus(.deprecated, group: "user_stats", version: 2)
      let afterDeprecation = try await s.getGroup("user_stats")
      #expect(afterDeprecation.group.version == 1)
      #expect(afterDeprecation.versions.map(\.status) == [.active, .deprecated])
    }
  }

  @Test("GetFeatureGroup with version 0 when no version is ACTIVE is FAILED_PRECONDITION")
  func getFeatureGroupNoActiveVersion() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      _ = try await s.store.setStatus(.deprecated, group: "user_stats", version: 1)
      await expectRPCError(.failedPrecondition, mentioning: ["user_stats", "no ACTIVE version"]) {
        try await s.getGroup("user_stats")
      }
      // Pinned still works.
      #expect(try await s.getGroup("user_stats", version: 1).group.status == .deprecated)
    }
  }

  @Test("SetFeatureGroupStatus changes one version's status: unpinned refs skip it, it is persisted in the registry")
  func setStatusRPC() async throws {
    try await withStrata { s in
      var v2 = userStatsSpec()
      v2.owner = "v2"
      _ = try await s.apply(userStatsSpec())
      _ = try await s.apply(v2)

      let changed = try await s.setStatus("user_stats", version: 2, .deprecated)
      #expect(changed.version == 2)
      #expect(changed.status == .deprecated)
      #expect(try await s.listGroups().map(\.status) == [.active, .deprecated])
      #expect(try await s.getGroup("user_stats").group.version == 1)
      #expect(try await s.online(["u"], ["user_stats:score"]).columns.map(\.ref) == ["user_stats@1:score"])

      // Setting the current status again is a no-op.
      #expect(try await s.setStatus("user_stats", version: 2, .deprecated).status == .deprecated)
      #expect(try await s.listGroups().map(\.status) == [.active, .deprecated])

      _ = try await s.setStatus("user_stats", version: 1, .retired)
      await expectRPCError(.failedPrecondition, mentioning: ["no ACTIVE version"]) {
        try await s.online(["u"], ["user_stats:score"])
      }
    }
  }

  @Test("SetFeatureGroupStatus with no version, no status or an unknown group/version is rejected and changes nothing")
  func setStatusBadInput() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      let before = try await s.listGroups()
      await expectRPCError(.invalidArgument, mentioning: ["version"]) { try await s.setStatus("user_stats", version: 0, .retired) }
      await expectRPCError(.invalidArgument, mentioning: ["status"]) { try await s.setStatus("user_stats", version: 1, .unspecified) }
      await expectRPCError(.notFound, mentioning: ["'nope'"]) { try await s.setStatus("nope", version: 1, .retired) }
      await expectRPCError(.notFound, mentioning: ["no version 2"]) { try await s.setStatus("user_stats", version: 2, .retired) }
      #expect(try await s.listGroups() == before)
    }
  }
}
