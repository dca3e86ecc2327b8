import GRPCCore
import StrataCore
import StrataProto
import StrataStorage
import StrataTestSupport
import SwiftProtobuf
import Synchronization
import Testing

/// PushEvents over the wire: answers per batch, idempotency keys, refusals, aggregates read online
/// and in exports, on one node and through a replicated cluster's coordinators.
@Suite("PushEvents RPC")
struct PushEventsRPCTests {
  static let spend = ["user_spend:spend_5m", "user_spend:n_1h", "user_spend:avg_1h", "user_spend:last_category_1d"]

  @Test("each batch is answered in order; aggregates follow the events online and in exports; the registry shows kinds and derived types")
  func pushAndRead() async throws {
    try await withStrata { s in
      _ = try await s.apply([purchasesSpec(), userSpendSpec()])
      let answers = try await s.push([
        pushBatch(key: "k1", [event("u1", .t0(-100), 10, "books"), event("u1", .t0(-30), 2.5, nil), event("u2", .t0(-4_000), 7, "food")]),
        pushBatch(key: "k2", [event("u1", .t0(-400), 1, "toys")]),
      ])
      #expect(answers.map(\.idempotencyKey) == ["k1", "k2"])
      #expect(answers.map(\.eventsWritten) == [3, 1])
      #expect(answers.map(\.lateEvents) == [0, 1])
      #expect(answers.map(\.duplicate) == [false, false])
      let online = try await s.online(["u1", "u2", "u3"], Self.spend)
      #expect(online.vectors[0].results == [
        result(.float(12.5), .present, event: nil), result(.int(3), .present, event: nil),
        result(.float(13.5 / 3), .present, event: nil), result(.string("books"), .present, event: nil),
      ])
      #expect(online.vectors[1].results == [
        result(.float(0), .present, event: nil), result(.int(0), .present, event: nil),
        result(nil, .missing, event: nil), result(.string("food"), .present, event: nil),
      ])
      #expect(online.vectors[2].results == [
        result(.float(0), .present, event: nil), result(.int(0), .present, event: nil),
        result(nil, .missing, event: nil), result(.string("none"), .defaulted, event: nil),
      ])
      // An export at a label time sees the windows of that time.
      let rows = try await s.historicalRows(Self.spend, [label("u1", .t0(-31)), label("u1", .t0(-100)), label("u1", .t0(-401))])
      #expect(rows.map { $0.results[0] } == [
        result(.float(10), .present, event: nil), result(.float(10), .present, event: nil), result(.float(0), .present, event: nil),
      ])
      #expect(rows.map { $0.results[1] } == [
        result(.int(2), .present, event: nil), result(.int(2), .present, event: nil), result(.int(0), .present, event: nil),
      ])
      let group = try await s.getGroup("user_spend").group
      #expect(group.spec.kind == .aggregates && group.spec.stream == "purchases" && group.spec.streamVersion == 1)
      #expect(group.spec.features.map(\.dtype) == [.float, .int, .float, .string])
      #expect(try await s.getGroup("purchases").group.spec.kind == .stream)
    }
  }

  @Test("a batch is answered once stored, without a next message or a half-close; a batch refused when stored (its key used for other events) ends the open call at once", arguments: [false, true])
  func answersWithoutNextMessage(clustered: Bool) async throws {
    func run(_ api: StrataHarness, setUp: () async throws -> Void) async throws {
      try await setUp()
      _ = try await api.push([pushBatch(key: "used", [event("u9", .t0(-5), 1, nil)])])
      let (gate, opened) = AsyncStream<Void>.makeStream()
      let finished = Flag()
      let outcome = try await withThrowingTaskGroup(of: [String]?.self) { tasks in
        tasks.addTask {
          try await api.client.pushEvents(
            requestProducer: { writer in
              try await writer.write(pushBatch(key: "a", [event("u1", .t0(-10), 1, nil)]))
              for await _ in gate { break }  // the first answer came: nothing else is sent before it
              // The same key as an earlier call's batch, with other events: refused when stored.
              try await writer.write(pushBatch(key: "used", [event("u1", .t0(-9), 2, nil)]))
              // The call stays open (no half-close) until the node ends it.
              while !finished.isSet { try await Task.sleep(for: .milliseconds(5)) }
            },
            onResponse: { response in
              var seen: [String] = []
              do {
                for try await message in response.messages {
                  seen.append("\(message.idempotencyKey) \(message.eventsWritten)")
                  opened.yield()
                }
              } catch let error as RPCError {
                seen.append("\(error.code): \(error.message)")
              }
              finished.set()
              return seen
            })
        }
        tasks.addTask {
          try await Task.sleep(for: .seconds(20))
          return nil
        }
        let first = try await tasks.next()!
        finished.set()
        tasks.cancelAll()
        return first
      }
      let seen = try #require(outcome, "the node neither answered the first batch nor ended the call within 20 s")
      #expect(seen.count == 2 && seen[0] == "a 1", "\(seen)")
      #expect(seen.last?.contains("failedPrecondition") == true && seen.last?.contains("'used'") == true, "\(seen)")
    }
    if clustered {
      try await withSimulatedCluster(seed: 25, replicationFactor: 2) { cluster in
        try await run(cluster.node("n2").api) { _ = try await cluster.node("n1").api.apply([purchasesSpec(), userSpendSpec()]) }
      }
    } else {
      try await withStrata { s in try await run(s) { _ = try await s.apply([purchasesSpec(), userSpendSpec()]) } }
    }
  }

  @Test("GetStatus reports the aggregate row cache: its capacity and rows, each lookup counted once as a hit or a miss; a new event makes the next lookup a miss")
  func rowCacheInStatus() async throws {
    try await withStrata { s in
      _ = try await s.apply([purchasesSpec(), userSpendSpec()])
      var status = try await s.status()
      #expect(status.aggregateRowCacheCapacity == UInt64(AggregateRowCache.defaultCapacity))
      #expect(status.aggregateRowCacheRows == 0 && status.aggregateRowCacheHits == 0 && status.aggregateRowCacheMisses == 0)
      _ = try await s.push([pushBatch(key: "k1", [event("u1", .t0(-100), 10, "books"), event("u2", .t0(-50), 3, "food")])])
      _ = try await s.online(["u1", "u2", "u3"], Self.spend)  // 3 computed (u3 has no events: still a row)
      _ = try await s.online(["u1", "u2"], Self.spend)  // 2 from the cache
      status = try await s.status()
      #expect(status.aggregateRowCacheMisses == 3)
      #expect(status.aggregateRowCacheHits == 2)
      #expect(status.aggregateRowCacheRows == 3)
      _ = try await s.push([pushBatch(key: "k2", [event("u1", .t0(-10), 1, "toys")])])
      _ = try await s.online(["u1", "u2"], Self.spend)  // u1 computed again, u2 from the cache
      status = try await s.status()
      #expect(status.aggregateRowCacheMisses == 4)
      #expect(status.aggregateRowCacheHits == 3)
      #expect(status.aggregateRowCacheRows == 3)
    }
  }

  @Test("a resent key writes nothing and answers duplicate with the first counts; the same key with other events is refused")
  func idempotencyKeys() async throws {
    try await withStrata { s in
      _ = try await s.apply([purchasesSpec(), userSpendSpec()])
      let batch = pushBatch(key: "order-77", [event("u1", .t0(-10), 5, "a"), event("u1", .t0(-20), 6, "b")])
      _ = try await s.push([batch])
      s.clock.advance(seconds: 1)
      let again = try await s.push([batch])
      #expect(again.map(\.duplicate) == [true])
      #expect(again.map(\.eventsWritten) == [2])
      #expect(try await s.online(["u1"], ["user_spend:n_1h"]).vectors[0].results == [result(.int(2), .present, event: nil)])
      var other = batch
      other.events[0].values[0] = .float(5.5)
      await expectRPCError(.failedPrecondition, mentioning: ["order-77", "other events"]) { _ = try await s.push([other]) }
      #expect(try await s.online(["u1"], ["user_spend:n_1h"]).vectors[0].results == [result(.int(2), .present, event: nil)])
      // A refused batch does not take its key: the corrected batch goes with the same key.
      var bad = pushBatch(key: "order-78", [event("u1", .t0(-5), 1, "a")])
      bad.events[0].values[0] = .float(.infinity)
      await expectRPCError(.invalidArgument, mentioning: ["NaN or an infinite value"]) { _ = try await s.push([bad]) }
      bad.events[0].values[0] = .float(1)
      #expect(try await s.push([bad]).map(\.duplicate) == [false])
      #expect(try await s.online(["u1"], ["user_spend:n_1h"]).vectors[0].results == [result(.int(3), .present, event: nil)])
    }
  }

  @Test("a sum that does not fit its type is MISSING, never the feature's default, online and in exports")
  func overflowIsMissing() async throws {
    try await withStrata { s in
      var spec = userSpendSpec()
      spec.features.append(.with {
        $0.name = "spend_1d"
        $0.defaultValue = .float(0)
        $0.aggregation = .with {
          $0.field = "amount"
          $0.function = .sum
          $0.windowSeconds = 86_400
        }
      })
      _ = try await s.apply([purchasesSpec(), spec])
      _ = try await s.push([pushBatch(key: "", [event("u1", .t0(-5), .greatestFiniteMagnitude, nil), event("u1", .t0(-6), .greatestFiniteMagnitude, nil)])])
      let missing = result(nil, .missing, event: nil)
      #expect(try await s.online(["u1"], ["user_spend:spend_1d"]).vectors[0].results == [missing])
      #expect(try await s.historicalRows(["user_spend:spend_1d"], [label("u1", .t0(-1))]).map(\.results) == [[missing]])
      #expect(try await s.store.historicalColumns(labels: [LabelRow(entityID: "u1", time: .t0(-1))], columns: s.store.resolve([FeatureRef(group: "user_spend", feature: "spend_1d")]))[0].statuses == [3])
      // An empty window's sum is 0, PRESENT (the default is for MISSING values only).
      #expect(try await s.online(["u2"], ["user_spend:spend_1d"]).vectors[0].results == [result(.float(0), .present, event: nil)])
    }
  }

  @Test("batches queued behind a batch refused when stored are not stored; the batches before it are, and the refusal counts them")
  func nothingStoredAfterARefusal() async throws {
    try await withStrata { s in
      _ = try await s.apply([purchasesSpec(), userSpendSpec()])
      _ = try await s.push([pushBatch(key: "used", [event("u9", .t0(-5), 1, nil)])])
      // Sent at once: the node queues several of them on its writer before the second one fails there.
      for round in 0..<5 {
        let (first, behind) = ("a\(round)", (0..<4).map { "b\(round)-\($0)" })
        let batches =
          [pushBatch(key: first, [event(first, .t0(-10), 1, nil)]),
           pushBatch(key: "used", [event(first, .t0(-9), 2, nil)])]
          + behind.enumerated().map { i, entity in pushBatch(key: i % 2 == 0 ? entity : "", [event(entity, .t0(-8), 3, nil)]) }
        await expectRPCError(.failedPrecondition, mentioning: ["'used'", "batch 2 rejected", "1 earlier batches", "1 events"]) {
          _ = try await s.push(batches)
        }
        let counts = try await s.online([first] + behind, ["user_spend:n_1h"]).vectors.map(\.results)
        #expect(counts == [[result(.int(1), .present, event: nil)]] + behind.map { _ in [result(.int(0), .present, event: nil)] }, "round \(round)")
      }
    }
  }

  @Test("bad events and wrong targets are refused precisely, writing nothing; earlier batches of the call stay")
  func refusals() async throws {
    try await withStrata { s in
      _ = try await s.apply([purchasesSpec(), userSpendSpec(), userStatsSpec()])
      let good = pushBatch(key: "", [event("u1", .t0(-10), 1, "a")])
      var nan = pushBatch(key: "", [event("u1", .t0(-10), 1, "a"), event("u2", .t0(-10), .nan, "a")])
      nan.events[1].values[0] = .float(.nan)
      await expectRPCError(.invalidArgument, mentioning: ["row 1", "u2", "NaN", "2 rejected", "1 earlier"]) { _ = try await s.push([good, nan]) }
      await expectRPCError(.failedPrecondition, mentioning: ["not a stream"]) {
        _ = try await s.push([pushBatch(stream: "user_stats", key: "", [])])
      }
      await expectRPCError(.failedPrecondition, mentioning: ["is a stream", "PushEvents"]) {
        _ = try await s.write("purchases", features: ["amount"], rows: [writeRow("u1", .t0(-1), [.float(1)])])
      }
      await expectRPCError(.failedPrecondition, mentioning: ["accepts no writes"]) {
        _ = try await s.write("user_spend", features: ["spend_5m"], rows: [writeRow("u1", .t0(-1), [.float(1)])])
      }
      await expectRPCError(.notFound, mentioning: ["no feature 'price'"]) {
        _ = try await s.push([.with { $0.stream = "purchases"; $0.fields = ["price"]; $0.events = [writeRow("u1", .t0(-1), [.float(1)])] }])
      }
      #expect(try await s.online(["u1", "u2"], ["user_spend:n_1h"]).vectors.map(\.results) == [
        [result(.int(1), .present, event: nil)], [result(.int(0), .present, event: nil)],
      ])
    }
  }

  @Test("through a replicated cluster: a batch that failed (ALL, one replica down) and is resent with its key is stored once on every replica")
  func clusterRetryStoredOnce() async throws {
    var rng = SplitMix64.forTest("PushEventsRPCTests.clusterRetryStoredOnce")
    // n3 fails fast (`.fail`); the 30 s call timeout is for the healthy replicas, which a full parallel
    // suite on 2 cores can starve for more than 5 s.
    try await withSimulatedCluster(nodes: 3, seed: rng.next(), callTimeout: .seconds(30), replicationFactor: 3) { cluster in
      try await cluster.seedRegistry([purchasesSpec(), userSpendSpec()])
      let events = (0..<40).map { i in event("e\(i % 7)", .t0(-Int64(i) * 10), Double(i), i % 2 == 0 ? "x" : nil) }
      var batch = pushBatch(key: "retry-1", events)
      batch.consistency = .all
      cluster.faults.set(.fail, on: ["n3"])
      await expectRPCError(.unavailable, mentioning: []) { _ = try await cluster.node("n1").api.push([batch]) }
      cluster.faults.set(.none, on: ["n3"])
      let answers = try await cluster.node("n1").api.push([batch])
      #expect(answers.map(\.duplicate) == [false] && answers.map(\.eventsWritten) == [40])
      #expect(try await cluster.node("n1").api.push([batch]).map(\.duplicate) == [true])
      // Every replica holds each event once (n1 and n2 stored the failed attempt's copy too).
      for node in cluster.nodes {
        let stream = try node.store.catalog.group(named: "purchases")
        #expect(node.store.shard.writeStats[stream.storageID]?.rowsTotal == 40, "\(node.id)")
        let counts = try await node.api.online((0..<7).map { "e\($0)" }, ["user_spend:n_1h"]).vectors.map { $0.results[0].value.intValue }
        #expect(counts == [6, 6, 6, 6, 6, 5, 5], "\(node.id) \(rng.seedDescription)")
      }
    }
  }
}

// MARK: - Fixtures

/// The stream `purchases`: amount FLOAT, category STRING.
func purchasesSpec() -> Strata_V1_FeatureGroupSpec {
  .with {
    $0.name = "purchases"
    $0.kind = .stream
    $0.features = [featureSpec("amount", .float), featureSpec("category", .string)]
  }
}

/// `user_spend` over `purchases`: spend_5m sum, n_1h count, avg_1h avg, last_category_1d last (default "none").
func userSpendSpec() -> Strata_V1_FeatureGroupSpec {
  func aggregate(_ name: String, _ field: String, _ function: Strata_V1_AggregateFunction, _ seconds: Int64, default value: Strata_V1_Value? = nil) -> Strata_V1_FeatureSpec {
    .with {
      $0.name = name
      if let value { $0.defaultValue = value }
      $0.aggregation = .with {
        $0.field = field
        $0.function = function
        $0.windowSeconds = seconds
      }
    }
  }
  return .with {
    $0.name = "user_spend"
    $0.kind = .aggregates
    $0.stream = "purchases"
    $0.features = [
      aggregate("spend_5m", "amount", .sum, 300), aggregate("n_1h", "amount", .count, 3_600),
      aggregate("avg_1h", "amount", .avg, 3_600), aggregate("last_category_1d", "category", .last, 86_400, default: .string("none")),
    ]
  }
}

func event(_ entity: String, _ time: Timestamp, _ amount: Double, _ category: String?) -> Strata_V1_WriteRow {
  writeRow(entity, time, [.float(amount), category.map { .string($0) } ?? .null])
}

func pushBatch(stream: String = "purchases", key: String, _ events: [Strata_V1_WriteRow]) -> Strata_V1_PushEventsRequest {
  .with {
    $0.stream = stream
    $0.fields = ["amount", "category"]
    $0.events = events
    $0.idempotencyKey = key
  }
}

extension StrataHarness {
  /// One PushEvents call sending `batches` in order; every answer.
  func push(_ batches: [Strata_V1_PushEventsRequest]) async throws -> [Strata_V1_PushEventsResponse] {
    try await client.pushEvents(
      requestProducer: { writer in
        for batch in batches { try await writer.write(batch) }
      },
      onResponse: { response in
        var out: [Strata_V1_PushEventsResponse] = []
        for try await message in response.messages { out.append(message) }
        return out
      })
  }
}

/// A flag set once, read from any task.
final class Flag: Sendable {
  private let value = Mutex(false)
  var isSet: Bool { value.withLock { $0 } }
  func set() { value.withLock { $0 = true } }
}
