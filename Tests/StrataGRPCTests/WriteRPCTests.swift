import GRPCCore
import StrataCore
import StrataProto
import SwiftProtobuf
import Testing

/// WriteFeatures over the wire: counts, late rows, corrections, server-side created time, streams.
@Suite("WriteFeatures RPC")
struct WriteRPCTests {
  static let score = ["user_stats:score"]

  @Test("written rows are counted and visible online and in history")
  func rowsWritten() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      let response = try await s.write(
        "user_stats", features: ["score", "country"],
        rows: [
          writeRow("u1", .t0(-100), [.float(1.5), .string("NL")]),
          writeRow("u2", .t0(-50), [.float(-2), .null]),
        ])
      #expect(response.rowsWritten == 2)
      #expect(response.lateRows == 0)
      #expect(response.batches == 1)

      let online = try await s.online(["u1", "u2"], ["user_stats:score", "user_stats:country"])
      #expect(online.vectors[0].results == [
        result(.float(1.5), .present, event: .t0(-100)), result(.string("NL"), .present, event: .t0(-100)),
      ])
      #expect(online.vectors[1].results == [
        result(.float(-2), .present, event: .t0(-50)), result(nil, .missing, event: .t0(-50)),
      ])

      let history = try await s.historicalRows(Self.score, [label("u1", .t0(-100)), label("u1", .t0(-101))])
      #expect(history.map(\.results) == [[result(.float(1.5), .present, event: .t0(-100))], [result(nil, .missing, event: nil)]])
    }
  }

  @Test("features of the group not listed in the batch are null (DEFAULTED with a default, else MISSING)")
  func unlistedFeaturesAreNull() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      _ = try await s.write("user_stats", features: ["score"], rows: [writeRow("u1", .t0(-5), [.float(3)])])
      let online = try await s.online(["u1"], ["user_stats:*"])
      #expect(online.vectors[0].results == [
        result(.float(3), .present, event: .t0(-5)),
        result(.int(0), .defaulted, event: .t0(-5)),
        result(nil, .missing, event: .t0(-5)),
        result(nil, .missing, event: .t0(-5)),
      ])
    }
  }

  @Test("a row older than the stored online row is late: the online value stays, history has the row")
  func lateRow() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      let first = try await s.write("user_stats", features: ["score"], rows: [writeRow("u1", .t0(-10), [.float(1)])])
      #expect(first.lateRows == 0)

      let late = try await s.write("user_stats", features: ["score"], rows: [writeRow("u1", .t0(-20), [.float(2)])])
      #expect(late.rowsWritten == 1, "a late row is still written to history")
      #expect(late.lateRows == 1)

      let online = try await s.online(["u1"], Self.score)
      #expect(online.vectors[0].results == [result(.float(1), .present, event: .t0(-10))])

      let history = try await s.historicalRows(
        Self.score, [label("u1", .t0(-20)), label("u1", .t0(-15)), label("u1", .t0(-10)), label("u1", .t0(-21))])
      #expect(history.map(\.results) == [
        [result(.float(2), .present, event: .t0(-20))],
        [result(.float(2), .present, event: .t0(-20))],
        [result(.float(1), .present, event: .t0(-10))],
        [result(nil, .missing, event: nil)],
      ])
    }
  }

  @Test("a correction (equal event time, greater created time) replaces the online value; a smaller created time is late")
  func correctionReplacesOnline() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      _ = try await s.write(
        "user_stats", features: ["score"], rows: [writeRow("u1", .t0(-10), created: .t0(-9), [.float(1)])])

      let correction = try await s.write(
        "user_stats", features: ["score"], rows: [writeRow("u1", .t0(-10), created: .t0(-5), [.float(2)])])
      #expect(correction.lateRows == 0)
      #expect(try await s.online(["u1"], Self.score).vectors[0].results == [result(.float(2), .present, event: .t0(-10))])

      let stale = try await s.write(
        "user_stats", features: ["score"], rows: [writeRow("u1", .t0(-10), created: .t0(-7), [.float(3)])])
      #expect(stale.lateRows == 1, "created -7s loses against the stored created -5s")
      #expect(try await s.online(["u1"], Self.score).vectors[0].results == [result(.float(2), .present, event: .t0(-10))])

      // History agrees: at the event time the greatest created time wins.
      let history = try await s.historicalRows(Self.score, [label("u1", .t0(-10))])
      #expect(history.map(\.results) == [[result(.float(2), .present, event: .t0(-10))]])
    }
  }

  @Test("an omitted created_timestamp is the server clock at commit")
  func omittedCreatedUsesServerClock() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      s.clock.advance(seconds: 100)
      let now = s.clock.now
      let event = Timestamp.t0(-10)
      _ = try await s.write("user_stats", features: ["score"], rows: [writeRow("u1", event, [.float(1)])])

      // created = now - 1µs loses against the server-stamped created time...
      let older = try await s.write(
        "user_stats", features: ["score"],
        rows: [writeRow("u1", event, created: now.subtracting(microseconds: 1), [.float(2)])])
      #expect(older.lateRows == 1)
      #expect(try await s.online(["u1"], Self.score).vectors[0].results[0].value == .float(1))

      // ...created = now exactly ties with it, and the later write wins a tie.
      let tie = try await s.write("user_stats", features: ["score"], rows: [writeRow("u1", event, created: now, [.float(3)])])
      #expect(tie.lateRows == 0)
      #expect(try await s.online(["u1"], Self.score).vectors[0].results[0].value == .float(3))
    }
  }

  @Test("a stream of several batches reports the totals of all of them")
  func multiBatchTotals() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      let response = try await s.write([
        writeBatch("user_stats", features: ["score"], rows: [writeRow("a", .t0(-10), [.float(1)]), writeRow("b", .t0(-10), [.float(2)])]),
        writeBatch(
          "user_stats", features: ["clicks"],
          rows: [writeRow("a", .t0(-5), [.int(7)]), writeRow("c", .t0(-5), [.int(8)]), writeRow("d", .t0(-5), [.int(9)])]),
        // Late: b already has a row at -10s.
        writeBatch("user_stats", features: ["score"], rows: [writeRow("b", .t0(-20), [.float(99)])]),
      ])
      #expect(response.rowsWritten == 6)
      #expect(response.lateRows == 1)
      #expect(response.batches == 3)

      let online = try await s.online(["a", "b", "c", "d"], ["user_stats:score", "user_stats:clicks"])
      #expect(online.vectors.map(\.results) == [
        [result(nil, .missing, event: .t0(-5)), result(.int(7), .present, event: .t0(-5))],
        [result(.float(2), .present, event: .t0(-10)), result(.int(0), .defaulted, event: .t0(-10))],
        [result(nil, .missing, event: .t0(-5)), result(.int(8), .present, event: .t0(-5))],
        [result(nil, .missing, event: .t0(-5)), result(.int(9), .present, event: .t0(-5))],
      ])
    }
  }

  @Test("an empty stream commits nothing and reports zero batches")
  func emptyStream() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      let response = try await s.write([])
      #expect(response.rowsWritten == 0)
      #expect(response.batches == 0)
      #expect(try await s.status().rowsWritten == 0)
    }
  }

  @Test("an unset Value is a null: it does not carry the previous value forward")
  func unsetValueIsNull() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      _ = try await s.write("user_stats", features: ["score", "clicks"], rows: [writeRow("u1", .t0(-10), [.float(1), .int(5)])])
      _ = try await s.write("user_stats", features: ["score", "clicks"], rows: [writeRow("u1", .t0(-5), [.null, .null])])
      let online = try await s.online(["u1"], ["user_stats:score", "user_stats:clicks"])
      #expect(online.vectors[0].results == [result(nil, .missing, event: .t0(-5)), result(.int(0), .defaulted, event: .t0(-5))])
    }
  }

  @Test("a write pinned to version 1 lands in v1 after v2 exists; version 0 writes the latest ACTIVE version")
  func pinnedWrite() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      var v2 = userStatsSpec()
      v2.features.append(featureSpec("sessions", .int))
      _ = try await s.apply(v2)
      _ = try await s.write("user_stats", version: 1, features: ["score"], rows: [writeRow("u1", .t0(-10), [.float(1)])])
      _ = try await s.write("user_stats", features: ["score"], rows: [writeRow("u1", .t0(-9), [.float(2)])])
      let online = try await s.online(["u1"], ["user_stats@1:score", "user_stats@2:score"])
      #expect(online.vectors[0].results == [
        result(.float(1), .present, event: .t0(-10)), result(.float(2), .present, event: .t0(-9)),
      ])
    }
  }
}
