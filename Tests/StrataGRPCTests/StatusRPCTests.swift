import GRPCCore
import StrataCore
import StrataProto
import StrataStorage
import SwiftProtobuf
import Testing

/// GetStatus: node facts, counters and per-group write statistics.
@Suite("GetStatus RPC")
struct StatusRPCTests {
  @Test("Ping answers with an empty message and changes no counter")
  func ping() async throws {
    try await withStrata { s in
      let before = try await s.status()
      let answer = try await s.client.ping(.init())
      #expect(answer == Strata_V1_PingResponse())
      let after = try await s.status()
      #expect(after.onlineLookups == before.onlineLookups && after.rowsWritten == before.rowsWritten)
    }
  }

  @Test("a fresh node reports its identity, engine and zero counters")
  func freshNode() async throws {
    try await withStrata { s in
      let status = try await s.status()
      #expect(status.nodeID == "test-node")
      #expect(status.version == "0.0.0-test")
      #expect(status.startedAtMicros == TestClock.start.microseconds)
      #expect(status.storageEngine == "memory")
      #expect(status.dataDirectory == "/nonexistent/test")
      #expect(status.featureGroups == 0)
      #expect(status.rowsWritten == 0)
      #expect(status.lateRows == 0)
      #expect(status.onlineLookups == 0)
      #expect(status.historicalRows == 0)
      #expect(status.groups.isEmpty)
      #expect(status.onlineRows == 0)
      #expect(status.limits.maxRowsPerBatch == UInt32(StoreLimits.defaults.maxRowsPerBatch))
      #expect(status.limits.maxEntitiesPerLookup == UInt32(StoreLimits.defaults.maxEntitiesPerLookup))
      #expect(status.limits.maxLabelsPerMessage == UInt32(StoreLimits.defaults.maxLabelsPerMessage))
      #expect(status.limits.maxRequestBytes == 16 << 20)
    }
  }

  @Test("rows_written, late_rows, online_lookups and historical_rows count what the node did")
  func counters() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      _ = try await s.write(
        "user_stats", features: ["score"],
        rows: [writeRow("a", .t0(-10), [.float(1)]), writeRow("b", .t0(-10), [.float(2)]), writeRow("c", .t0(-10), [.float(3)])])
      _ = try await s.write(
        "user_stats", features: ["score"],
        rows: [writeRow("a", .t0(-20), [.float(4)]), writeRow("b", .t0(-5), [.float(5)])])
      var status = try await s.status()
      #expect(status.rowsWritten == 5)
      #expect(status.lateRows == 1)
      #expect(status.onlineLookups == 0)
      #expect(status.onlineRows == 3, "one online row per entity written (a, b, c)")

      _ = try await s.online(["a", "b", "a"], ["user_stats:score", "user_stats:clicks"])
      _ = try await s.online(["nobody"], ["user_stats:*"])
      status = try await s.status()
      #expect(status.onlineLookups == 4, "one per requested entity, duplicates and unknown ones included")

      _ = try await s.historical([
        historicalRequest(features: ["user_stats:score"], labels: [label("a", .t0(0)), label("b", .t0(0))]),
        historicalRequest(labels: [label("c", .t0(0)), label("z", .t0(0)), label("a", .t0(-15))]),
      ])
      status = try await s.status()
      #expect(status.historicalRows == 5)
      #expect(status.rowsWritten == 5, "reads do not count as writes")
      #expect(status.lateRows == 1)
    }
  }

  @Test("per group version: rows_total and last_write follow that version's commits; never written is 0")
  func perGroupStats() async throws {
    try await withStrata { s in
      _ = try await s.apply([userStatsSpec(), groupSpec("item_stats", [featureSpec("price", .float)])])
      _ = try await s.write(
        "user_stats", features: ["clicks"], rows: [writeRow("a", .t0(-10), [.int(1)]), writeRow("b", .t0(-10), [.int(2)])])
      s.clock.advance(seconds: 10)
      // A late row still counts toward rows_total (it is in history).
      _ = try await s.write("user_stats", features: ["clicks"], rows: [writeRow("a", .t0(-30), [.int(3)])])
      var v2 = userStatsSpec()
      v2.owner = "someone else"
      _ = try await s.apply(v2)

      var status = try await s.status()
      #expect(status.featureGroups == 2)
      #expect(status.groups.map { "\($0.group)@\($0.version)" } == ["item_stats@1", "user_stats@1", "user_stats@2"])
      #expect(status.groups.map(\.rowsTotal) == [0, 3, 0])
      #expect(status.groups.map(\.lastWriteMicros) == [0, Timestamp.t0(10).microseconds, 0])

      s.clock.advance(seconds: 5)
      _ = try await s.write("user_stats", features: ["clicks"], rows: [writeRow("a", .t0(-1), [.int(4)])])
      status = try await s.status()
      #expect(status.groups.map(\.rowsTotal) == [0, 3, 1])
      #expect(status.groups.map(\.lastWriteMicros) == [0, Timestamp.t0(10).microseconds, Timestamp.t0(15).microseconds])
      #expect(status.rowsWritten == 4)
    }
  }
}
