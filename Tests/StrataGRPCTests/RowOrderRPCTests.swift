import Foundation
import GRPCCore
import Logging
import StrataCore
@testable import StrataGRPC
import StrataProto
import StrataStorage
import StrataTestSupport
import SwiftProtobuf
import Synchronization
import Testing

/// `with_row_order` (internode): exports and lookups carry, per distinct group version of the columns
/// (in order of first appearance), the order key (event, created, write id) of the row that answered
/// each label or entity. Expected keys come from the node's stored history (`LocalShard.history`) and
/// `PointInTime.latestRow`, not from the join. Both registrations are exercised: the node's fast paths
/// (raw export messages, `OnlineResponseEncoder`) and the service's decoded entry points.
@Suite("Row orders over RPC")
struct RowOrderRPCTests {
  enum Registration: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case fastPaths
    case decoded

    var testDescription: String { rawValue }
  }

  static let entities = ["u0", "u1", "u2", "u3", "u4", "u5"]
  static let probes = entities + ["nobody"]
  /// `wide`'s embedding makes a columnar slice 64 rows: 300 labels span several response messages.
  static let wideDimension: UInt32 = 4_000

  /// `user_stats` and `wide`, random rows with tied event and created times, several write calls.
  static func seed(_ s: StrataHarness, _ random: inout SplitMix64) async throws {
    _ = try await s.apply(userStatsSpec())
    _ = try await s.apply(groupSpec("wide", [featureSpec("n", .int), featureSpec("big", .embedding, dim: wideDimension)]))
    for call in 0..<6 {
      var stats: [Strata_V1_WriteRow] = []
      var wide: [Strata_V1_WriteRow] = []
      for _ in 0..<30 {
        let entity = random.element(of: entities)
        let event = Timestamp.t0(-Int64(random.below(6)))
        let created = Timestamp.t0(-Int64(random.below(3)))
        stats.append(writeRow(entity, event, created: created, [.float(Double(call)), .int(Int64(call)), .null, .embedding([1, 2, 3])]))
        if random.oneIn(3) {
          wide.append(writeRow(entity, event, created: created, [.int(Int64(call)), .embedding([Float](repeating: 1, count: Int(wideDimension)))]))
        }
      }
      _ = try await s.write("user_stats", features: ["score", "clicks", "country", "emb"], rows: stats)
      if !wide.isEmpty { _ = try await s.write("wide", features: ["n", "big"], rows: wide) }
    }
  }

  /// The stored row that answers (entity, asOf, knownAt) in `group`, from the whole stored history.
  static func expected(_ s: StrataHarness, _ group: String, _ entity: String, asOf: Timestamp, knownAt: Timestamp?) throws -> StoredRow? {
    let rows = try s.store.shard.history(entityID: entity, group: try s.store.catalog.group(named: group))
    return PointInTime.latestRow(in: rows.filter { knownAt == nil || $0.createdTime <= knownAt! }, asOf: asOf)
  }

  /// Checks `orders` (one per entry of `groups`) against the expected rows of `queries`.
  static func check(
    _ orders: [RowOrders], groups: [String], _ queries: [(entity: String, asOf: Timestamp, knownAt: Timestamp?)],
    _ s: StrataHarness, _ context: String
  ) throws {
    try #require(orders.count == groups.count, "one row order per distinct group, \(context)")
    for (order, group) in zip(orders, groups) {
      try #require(order.count == queries.count, "\(group), \(context)")
      var found = 0
      for (i, q) in queries.enumerated() {
        let row = try expected(s, group, q.entity, asOf: q.asOf, knownAt: q.knownAt)
        if let row {
          found += 1
          #expect(order.found[i] == 1, "\(group) \(i) \(q), \(context)")
          #expect(order.eventTimes[i] == row.eventTime.microseconds, "\(group) \(i) \(q), \(context)")
          #expect(order.createdTimes[i] == row.createdTime.microseconds, "\(group) \(i) \(q), \(context)")
          #expect(order.sequences[i] == row.sequence && row.sequence != 0, "\(group) \(i) \(q), \(context)")
        } else {
          #expect(
            order.found[i] == 0 && order.eventTimes[i] == 0 && order.createdTimes[i] == 0 && order.sequences[i] == 0,
            "\(group) \(i) \(q): no row, all zero, \(context)")
        }
      }
      #expect(found > 0 && found < queries.count, "\(group): labels with and without rows, \(context)")
    }
  }

  @Test("an export with with_row_order carries each group's row orders in every columnar batch", arguments: Registration.allCases)
  func exportRowOrders(registration: Registration) async throws {
    var random = SplitMix64.forTest("RowOrderRPCTests.export[\(registration)]")
    let context = "\(registration), \(random.seedDescription)"
    let images = HistoryImagePolicy(budgetBytes: 1 << 30, minLabelsToBuild: 1, maxStaleFraction: 1e9)
    try await withStrata(imagePolicy: images, fastPaths: registration == .fastPaths) { s in
      try await Self.seed(s, &random)
      var queries: [(entity: String, asOf: Timestamp, knownAt: Timestamp?)] = []
      var labels: [Strata_V1_LabelRow] = []
      for _ in 0..<300 {
        var l = label(random.element(of: Self.probes), .t0(-Int64(random.below(8))))
        if random.oneIn(3) { l.knownAtMicros = Timestamp.t0(-Int64(random.below(3))).microseconds }
        labels.append(l)
        queries.append((l.entityID, Timestamp(microseconds: l.labelTimestampMicros), l.hasKnownAtMicros ? Timestamp(microseconds: l.knownAtMicros) : nil))
      }
      // Columns name `wide` first: its orders come first.
      var first = historicalRequest(features: ["wide:big", "user_stats:score", "wide:n", "user_stats:clicks"], labels: Array(labels[0..<200]))
      first.columnar = true
      first.withRowOrder = true
      let responses = try await s.historical([first, historicalRequest(labels: Array(labels[200...]))])
      let batches = responses.filter(\.hasBatch).map(\.batch)
      #expect(batches.count > 3, "several slices, \(context)")
      var orders = [RowOrders](repeating: RowOrders(count: 0), count: 2)
      for batch in batches {
        try #require(batch.rowOrders.count == 2, "\(context)")
        for (g, wire) in batch.rowOrders.enumerated() {
          let part = try RowOrders(proto: wire)
          #expect(part.count == Int(batch.rowCount), "\(context)")
          orders[g].found += part.found
          orders[g].eventTimes += part.eventTimes
          orders[g].createdTimes += part.createdTimes
          orders[g].sequences += part.sequences
        }
      }
      try Self.check(orders, groups: ["wide", "user_stats"], queries, s, context)

      // Without the flag: no row orders.
      first.withRowOrder = false
      let plain = try await s.historical([first])
      #expect(plain.filter(\.hasBatch).allSatisfy { $0.batch.rowOrders.isEmpty }, "\(context)")
    }
  }

  @Test("with_row_order without columnar is INVALID_ARGUMENT and nothing is answered", arguments: Registration.allCases)
  func exportRowOrderNeedsColumnar(registration: Registration) async throws {
    try await withStrata(fastPaths: registration == .fastPaths) { s in
      var random = SplitMix64(seed: 1)
      try await Self.seed(s, &random)
      var message = historicalRequest(features: ["user_stats:score"], labels: [label("u1", .t0(0))])
      message.withRowOrder = true
      let request = message
      let received = Mutex(0)
      await expectRPCError(.invalidArgument, mentioning: ["with_row_order", "columnar"]) {
        try await s.client.getHistoricalFeatures(
          requestProducer: { try await $0.write(request) },
          onResponse: { response in
            for try await _ in response.messages { received.withLock { $0 += 1 } }
          })
      }
      #expect(received.withLock { $0 } == 0, "no message (not even the columns) before the error")
      #expect(s.store.counterValues.historicalRows == 0)
    }
  }

  @Test("a lookup with with_row_order carries each group's online row orders", arguments: Registration.allCases)
  func onlineRowOrders(registration: Registration) async throws {
    var random = SplitMix64.forTest("RowOrderRPCTests.online[\(registration)]")
    let context = "\(registration), \(random.seedDescription)"
    try await withStrata(fastPaths: registration == .fastPaths) { s in
      try await Self.seed(s, &random)
      var request = Strata_V1_GetOnlineFeaturesRequest()
      request.entityIds = Self.probes + Self.probes.reversed()
      request.features = ["user_stats:clicks", "wide:n", "user_stats:*"]
      request.withRowOrder = true
      let response = try await s.client.getOnlineFeatures(request)
      #expect(response.vectors.count == request.entityIds.count)
      let orders = try response.rowOrders.map { try RowOrders(proto: $0) }
      let queries = request.entityIds.map { (entity: $0, asOf: s.clock.now, knownAt: Timestamp?.none) }
      try Self.check(orders, groups: ["user_stats", "wide"], queries, s, context)

      // The internode encoded forms (lookup lanes) carry the same orders; without the flag none.
      let service = FeatureStoreService(store: s.store, node: s.node, logger: Logger(label: "test"))
      let inline = try #require(try service.encodedVectorsInline(request))
      let onThreads = try await service.encodedVectors(request)
      for bytes in [inline, onThreads] {
        let decoded = try Strata_V1_GetOnlineFeaturesResponse(serializedBytes: bytes)
        #expect(decoded.rowOrders == response.rowOrders, "\(context)")
        #expect(decoded.vectors == response.vectors, "\(context)")
      }
      request.withRowOrder = false
      #expect(try await s.client.getOnlineFeatures(request).rowOrders.isEmpty)
      let plain = try Strata_V1_GetOnlineFeaturesResponse(serializedBytes: try #require(try service.encodedVectorsInline(request)))
      #expect(plain.rowOrders.isEmpty && plain.vectors == response.vectors)
    }
  }
}
