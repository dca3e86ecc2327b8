import GRPCCore
import StrataCore
import StrataProto
import SwiftProtobuf
import Testing

/// GetOnlineFeatures over the wire: order, expansion, versions, expiry and value fidelity.
@Suite("GetOnlineFeatures RPC")
struct OnlineRPCTests {
  @Test("one vector per requested entity in request order, with duplicates and unknown entities (MISSING / DEFAULTED)")
  func requestOrder() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      _ = try await s.write(
        "user_stats", features: ["score", "clicks"],
        rows: [writeRow("e1", .t0(-10), [.float(1), .int(10)]), writeRow("e2", .t0(-20), [.float(2), .int(20)])])

      let online = try await s.online(["e2", "ghost", "e1", "e2"], ["user_stats:score", "user_stats:clicks"])
      #expect(online.vectors.map(\.entityID) == ["e2", "ghost", "e1", "e2"])
      #expect(online.vectors.map(\.results) == [
        [result(.float(2), .present, event: .t0(-20)), result(.int(20), .present, event: .t0(-20))],
        [result(nil, .missing, event: nil), result(.int(0), .defaulted, event: nil)],
        [result(.float(1), .present, event: .t0(-10)), result(.int(10), .present, event: .t0(-10))],
        [result(.float(2), .present, event: .t0(-20)), result(.int(20), .present, event: .t0(-20))],
      ])
    }
  }

  @Test("group:* expands in definition order in place; columns are resolved with version, dtype and dimension")
  func starExpansion() async throws {
    try await withStrata { s in
      _ = try await s.apply([userStatsSpec(), groupSpec("item_stats", entityType: .item, [featureSpec("price", .float)])])
      let online = try await s.online(["x"], ["item_stats:price", "user_stats:*", "user_stats:score"])
      #expect(online.columns.map(\.ref) == [
        "item_stats@1:price", "user_stats@1:score", "user_stats@1:clicks", "user_stats@1:country", "user_stats@1:emb",
        "user_stats@1:score",
      ])
      #expect(online.columns.map(\.group) == ["item_stats"] + Array(repeating: "user_stats", count: 5))
      #expect(online.columns.map(\.version) == Array(repeating: 1, count: 6))
      #expect(online.columns.map(\.feature) == ["price", "score", "clicks", "country", "emb", "score"])
      #expect(online.columns.map(\.dtype) == [.float, .float, .int, .string, .embedding, .float])
      #expect(online.columns.map(\.embeddingDim) == [0, 0, 0, 0, 3, 0])
      #expect(online.vectors.count == 1)
      #expect(online.vectors[0].results.count == 6, "results parallel to columns")
    }
  }

  @Test("a pinned g@1:f keeps reading v1 while the unpinned g:f reads v2 once v2 exists")
  func pinnedVersusUnpinned() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      _ = try await s.write("user_stats", features: ["score"], rows: [writeRow("u1", .t0(-10), [.float(1)])])

      let before = try await s.online(["u1"], ["user_stats:score"])
      #expect(before.columns.map(\.ref) == ["user_stats@1:score"])
      #expect(before.vectors[0].results == [result(.float(1), .present, event: .t0(-10))])

      var v2 = userStatsSpec()
      v2.features.insert(featureSpec("sessions", .int), at: 0)
      _ = try await s.apply(v2)

      // v2 has no rows yet: the unpinned reference reads v2 and finds nothing.
      let fresh = try await s.online(["u1"], ["user_stats@1:score", "user_stats:score"])
      #expect(fresh.columns.map(\.ref) == ["user_stats@1:score", "user_stats@2:score"])
      #expect(fresh.vectors[0].results == [result(.float(1), .present, event: .t0(-10)), result(nil, .missing, event: nil)])

      _ = try await s.write("user_stats", features: ["score"], rows: [writeRow("u1", .t0(-5), [.float(2)])])
      let after = try await s.online(["u1"], ["user_stats@1:score", "user_stats:score", "user_stats@2:score"])
      #expect(after.vectors[0].results == [
        result(.float(1), .present, event: .t0(-10)),
        result(.float(2), .present, event: .t0(-5)),
        result(.float(2), .present, event: .t0(-5)),
      ])
    }
  }

  @Test("EXPIRED once now - maxAge passes the event time (inclusive bound); the value is the default or unset")
  func expiry() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec(maxAgeSeconds: 60))
      _ = try await s.write(
        "user_stats", features: ["score", "clicks"], rows: [writeRow("u1", .t0(-30), [.float(1), .int(4)])])
      let refs = ["user_stats:score", "user_stats:clicks"]

      #expect(try await s.online(["u1"], refs).vectors[0].results == [
        result(.float(1), .present, event: .t0(-30)), result(.int(4), .present, event: .t0(-30)),
      ])

      s.clock.advance(seconds: 30)  // now - 60s == event: still valid
      #expect(try await s.online(["u1"], refs).vectors[0].results == [
        result(.float(1), .present, event: .t0(-30)), result(.int(4), .present, event: .t0(-30)),
      ])

      s.clock.advance(microseconds: 1)  // now - 60s is 1µs after the event: expired
      #expect(try await s.online(["u1"], refs).vectors[0].results == [
        result(nil, .expired, event: .t0(-30)), result(.int(0), .expired, event: .t0(-30)),
      ])

      // A fresh write makes it present again.
      _ = try await s.write("user_stats", features: ["score"], rows: [writeRow("u1", s.clock.now, [.float(2)])])
      #expect(try await s.online(["u1"], refs).vectors[0].results == [
        result(.float(2), .present, event: s.clock.now), result(.int(0), .defaulted, event: s.clock.now),
      ])
    }
  }

  @Test("PRESENT values are exactly what was written, for FLOAT, INT, STRING and EMBEDDING(3)")
  func valueFidelity() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      let rows: [(String, [Strata_V1_Value])] = [
        ("a", [.float(0.1), .int(.min), .string("héllo, 世界 🌍"), .embedding([1.5, -0.25, 3e-8])]),
        ("b", [.float(-0.0), .int(.max), .string(""), .embedding([.greatestFiniteMagnitude, -.leastNonzeroMagnitude, 0])]),
        ("c", [.float(1e308), .int(0), .string(String(repeating: "x", count: 1000)), .embedding([-1, 2, -3])]),
      ]
      _ = try await s.write(
        "user_stats", features: ["score", "clicks", "country", "emb"],
        rows: rows.enumerated().map { i, r in writeRow(r.0, .t0(-Int64(i) - 1), r.1) })

      let online = try await s.online(rows.map(\.0), ["user_stats:score", "user_stats:clicks", "user_stats:country", "user_stats:emb"])
      for (i, (entity, values)) in rows.enumerated() {
        #expect(online.vectors[i].entityID == entity)
        #expect(online.vectors[i].results.map(\.value) == values, "entity \(entity)")
        #expect(online.vectors[i].results.allSatisfy { $0.status == .present })
        #expect(online.vectors[i].results.allSatisfy { $0.eventTimestampMicros == Timestamp.t0(-Int64(i) - 1).microseconds })
      }
      // -0.0 keeps its sign.
      #expect(online.vectors[1].results[0].value.floatValue.sign == .minus)
    }
  }

  @Test("a lookup of many entities (past the inline threshold) keeps request order")
  func largeLookupOrder() async throws {
    try await withStrata { s in
      _ = try await s.apply([userStatsSpec(), groupSpec("other", [featureSpec("n", .int)])])
      let ids = (0..<150).map { "e\($0)" }
      _ = try await s.write(
        "user_stats", features: ["clicks"], rows: ids.enumerated().map { i, id in writeRow(id, .t0(-1), [.int(Int64(i))]) })
      _ = try await s.write(
        "other", features: ["n"], rows: ids.enumerated().map { i, id in writeRow(id, .t0(-1), [.int(Int64(-i))]) })
      let asked = ids.reversed() + ["nobody"]
      let online = try await s.online(Array(asked), ["user_stats:clicks", "other:n"])
      #expect(online.vectors.map(\.entityID) == Array(asked))
      for (k, id) in asked.enumerated() {
        if let i = ids.firstIndex(of: id) {
          #expect(online.vectors[k].results.map(\.value) == [.int(Int64(i)), .int(Int64(-i))], "entity \(id)")
        } else {
          #expect(online.vectors[k].results.map(\.status) == [.defaulted, .missing])
        }
      }
    }
  }

  @Test("the online value is the greatest (event, created) row ever written, whatever the write order")
  func latestWinsAcrossBatches() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      // One batch holding a newer and an older row for the same entity, then an in-between row.
      _ = try await s.write(
        "user_stats", features: ["score"],
        rows: [writeRow("u", .t0(-5), [.float(5)]), writeRow("u", .t0(-50), [.float(50)])])
      _ = try await s.write("user_stats", features: ["score"], rows: [writeRow("u", .t0(-7), [.float(7)])])
      #expect(try await s.online(["u"], ["user_stats:score"]).vectors[0].results == [result(.float(5), .present, event: .t0(-5))])
    }
  }

  @Test("a row whose event time is still ahead of the clock (within skew) is not served online before its time")
  func futureRowNotServedEarly() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      _ = try await s.write("user_stats", features: ["score"], rows: [writeRow("old", .t0(-1), [.float(1)])])
      _ = try await s.write(
        "user_stats", features: ["score"], rows: [writeRow("old", .t0(2), [.float(2)]), writeRow("new", .t0(2), [.float(3)])])
      let refs = ["user_stats:score"]
      #expect(try await s.online(["old", "new"], refs).vectors.map(\.results) == [
        [result(.float(1), .present, event: .t0(-1))], [result(nil, .missing, event: nil)],
      ])
      s.clock.advance(seconds: 2)
      #expect(try await s.online(["old", "new"], refs).vectors.map(\.results) == [
        [result(.float(2), .present, event: .t0(2))], [result(.float(3), .present, event: .t0(2))],
      ])
    }
  }

  @Test("entity ids that are canonically equivalent but differ in bytes are different entities")
  func entityIDsCompareByBytes() async throws {
    try await withStrata { s in
      _ = try await s.apply(userStatsSpec())
      let precomposed = "caf\u{E9}"
      let decomposed = "cafe\u{301}"
      // One batch with both ids: neither row may shadow the other (nor count as late).
      let response = try await s.write(
        "user_stats", features: ["score"],
        rows: [writeRow(precomposed, .t0(-1), [.float(1)]), writeRow(decomposed, .t0(-2), [.float(2)])])
      #expect(response.lateRows == 0)
      let late = try await s.write("user_stats", features: ["score"], rows: [writeRow(decomposed, .t0(-3), [.float(3)])])
      #expect(late.lateRows == 1, "late against the decomposed id's own row at -2s")

      let online = try await s.online([decomposed, precomposed], ["user_stats:score"])
      #expect(online.vectors.map { Array($0.entityID.utf8) } == [Array(decomposed.utf8), Array(precomposed.utf8)])
      #expect(online.vectors.map(\.results) == [
        [result(.float(2), .present, event: .t0(-2))], [result(.float(1), .present, event: .t0(-1))],
      ])
      let joined = try await s.historicalRows(["user_stats:score"], [label(precomposed, .t0(-2)), label(decomposed, .t0(-2))])
      #expect(joined.map(\.results) == [[result(nil, .missing, event: nil)], [result(.float(2), .present, event: .t0(-2))]])
    }
  }
}
