import GRPCCore
import GRPCProtobuf
import StrataCore
@testable import StrataGRPC
import StrataProto
import StrataStorage
import SwiftProtobuf
import Testing

/// Every bad input gets a precise status code and an actionable message, and changes nothing.
@Suite("Bad input over RPC")
struct BadInputRPCTests {
  static let allFeatures = ["score", "clicks", "country", "emb"]

  /// A valid row for every feature of `user_stats`.
  static func goodRow(_ entity: String, _ event: Timestamp = .t0(-1)) -> Strata_V1_WriteRow {
    writeRow(entity, event, [.float(9), .int(9), .string("US"), .embedding([7, 8, 9])])
  }

  /// `user_stats` v1 with rows for u1 and u2.
  static func withSeeded(
    limits: StoreLimits = .defaults, sizeLimit: RequestSizeLimit? = nil, _ body: (StrataHarness) async throws -> Void
  ) async throws {
    try await withStrata(limits: limits, sizeLimit: sizeLimit) { s in
      _ = try await s.apply(userStatsSpec())
      _ = try await s.write(
        "user_stats", features: allFeatures,
        rows: [
          writeRow("u1", .t0(-10), [.float(1), .int(1), .string("NL"), .embedding([1, 2, 3])]),
          writeRow("u2", .t0(-20), [.float(2), .int(2), .string("DE"), .embedding([4, 5, 6])]),
        ])
      try await body(s)
    }
  }

  // MARK: Write ids

  @Test("a client's row that sets write_id is INVALID_ARGUMENT: ids are given by the node that accepts the row")
  func clientWriteID() async throws {
    try await Self.withSeeded { s in
      var row = Self.goodRow("u3")
      row.writeID = 12345
      try await s.expectRejected(.invalidArgument, mentioning: ["row 1", "write_id is set", "leave it unset"]) {
        try await s.write("user_stats", features: Self.allFeatures, rows: [Self.goodRow("u4"), row])
      }
    }
  }

  // MARK: Unknown names

  @Test("a write to an unknown group is NOT_FOUND")
  func writeUnknownGroup() async throws {
    try await Self.withSeeded { s in
      try await s.expectRejected(.notFound, mentioning: ["'nope'", "does not exist"]) {
        try await s.write("nope", features: ["score"], rows: [writeRow("u1", .t0(-1), [.float(1)])])
      }
    }
  }

  /// Write batches are decoded by the node itself, on its writer thread (`FeatureStoreFastPaths`): a
  /// message that is not a WriteFeaturesRequest must be refused as bad input, after the good batches
  /// before it were committed, and change nothing else.
  @Test("a write batch whose bytes are not a WriteFeaturesRequest is INVALID_ARGUMENT naming the batch")
  func writeUndecodableBatch() async throws {
    try await Self.withSeeded { s in
      let grpc = try #require(s.grpc)
      let good: [UInt8] = try writeBatch(
        "user_stats", features: ["score"], rows: [writeRow("u3", .t0(-5), [.float(3)])]
      ).serializedBytes()
      let garbage: [UInt8] = [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]  // a length that runs past the end
      let before = try await s.status().rowsWritten
      do {
        _ = try await grpc.clientStreaming(
          request: StreamingClientRequest { writer in
            try await writer.write(good)
            try await writer.write(garbage)
          },
          descriptor: Strata_V1_FeatureStore.Method.WriteFeatures.descriptor,
          serializer: RawBytesSerializer(),
          deserializer: ProtobufDeserializer<Strata_V1_WriteFeaturesResponse>(),
          options: .defaults
        ) { try $0.message }
        Issue.record("an undecodable batch was accepted")
      } catch let error as RPCError {
        #expect(error.code == .invalidArgument, "\(error)")
        #expect(error.message.contains("write batch 2 is not a valid WriteFeaturesRequest message"), "\(error.message)")
        #expect(error.message.contains("the 1 earlier batches of this call, 1 rows, were committed"), "\(error.message)")
      }
      #expect(try await s.status().rowsWritten == before + 1)
    }
  }

  @Test("an export message whose bytes are not a GetHistoricalFeaturesRequest is INVALID_ARGUMENT naming it")
  func exportUndecodableMessage() async throws {
    try await Self.withSeeded { s in
      let grpc = try #require(s.grpc)
      let first: [UInt8] = try Strata_V1_GetHistoricalFeaturesRequest.with {
        $0.features = ["user_stats:score"]
        $0.columnar = true
      }.serializedBytes()
      let garbage: [UInt8] = [0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]
      do {
        let answers = try await grpc.bidirectionalStreaming(
          request: StreamingClientRequest { writer in
            try await writer.write(first)
            try await writer.write(garbage)
          },
          descriptor: Strata_V1_FeatureStore.Method.GetHistoricalFeatures.descriptor,
          serializer: RawBytesSerializer(),
          deserializer: ProtobufDeserializer<Strata_V1_GetHistoricalFeaturesResponse>(),
          options: .defaults
        ) { response in
          var count = 0
          for try await _ in response.messages { count += 1 }
          return count
        }
        Issue.record("an undecodable label message was accepted (\(answers) answers)")
      } catch let error as RPCError {
        #expect(error.code == .invalidArgument, "\(error)")
        #expect(error.message.contains("request message 2 is not a valid GetHistoricalFeaturesRequest message"), "\(error.message)")
      }
    }
  }

  @Test("a write to an unknown version is NOT_FOUND")
  func writeUnknownVersion() async throws {
    try await Self.withSeeded { s in
      try await s.expectRejected(.notFound, mentioning: ["user_stats", "no version 7", "1...1"]) {
        try await s.write("user_stats", version: 7, features: ["score"], rows: [writeRow("u1", .t0(-1), [.float(1)])])
      }
    }
  }

  @Test("GetFeatureGroup of an unknown group or version is NOT_FOUND")
  func getUnknownGroupOrVersion() async throws {
    try await Self.withSeeded { s in
      try await s.expectRejected(.notFound, mentioning: ["'nope'"]) { try await s.getGroup("nope") }
      try await s.expectRejected(.notFound, mentioning: ["no version 2"]) { try await s.getGroup("user_stats", version: 2) }
    }
  }

  @Test("reads of an unknown group, version or feature are NOT_FOUND (online and historical)")
  func readUnknownNames() async throws {
    try await Self.withSeeded { s in
      try await s.expectRejected(.notFound, mentioning: ["'nope'"]) { try await s.online(["u1"], ["nope:score"]) }
      try await s.expectRejected(.notFound, mentioning: ["no version 3"]) { try await s.online(["u1"], ["user_stats@3:score"]) }
      try await s.expectRejected(.notFound, mentioning: ["no feature 'bogus'", "score, clicks, country, emb"]) {
        try await s.online(["u1"], ["user_stats:score", "user_stats:bogus"])
      }
      try await s.expectRejected(.notFound, mentioning: ["no feature 'bogus'"]) {
        try await s.historicalRows(["user_stats:bogus"], [label("u1", .t0(0))])
      }
      #expect(try await s.status().historicalRows == 0)
    }
  }

  @Test("a write naming an unknown feature is NOT_FOUND and lists the group's features")
  func writeUnknownFeature() async throws {
    try await Self.withSeeded { s in
      try await s.expectRejected(.notFound, mentioning: ["no feature 'bogus'", "score, clicks, country, emb"]) {
        try await s.write("user_stats", features: ["score", "bogus"], rows: [writeRow("u1", .t0(-1), [.float(1), .int(1)])])
      }
    }
  }

  // MARK: Values

  struct BadValue: Sendable, CustomTestStringConvertible {
    var feature: String
    var value: Strata_V1_Value
    var fragments: [String]
    var testDescription: String { "\(feature) <- \(fragments.last ?? "")" }
  }

  static let badValues: [BadValue] = [
    BadValue(feature: "score", value: .int(1), fragments: ["'score'", "is FLOAT but the value is INT"]),
    BadValue(feature: "clicks", value: .float(1), fragments: ["'clicks'", "is INT but the value is FLOAT"]),
    BadValue(feature: "country", value: .int(3), fragments: ["'country'", "is STRING but the value is INT"]),
    BadValue(feature: "emb", value: .float(1), fragments: ["'emb'", "is EMBEDDING(3) but the value is FLOAT"]),
    BadValue(feature: "emb", value: .embedding([1, 2]), fragments: ["'emb'", "EMBEDDING(3)", "has 2 elements"]),
    BadValue(feature: "emb", value: .embedding([1, 2, 3, 4]), fragments: ["'emb'", "EMBEDDING(3)", "has 4 elements"]),
    BadValue(feature: "score", value: .float(.nan), fragments: ["'score'", "NaN or an infinite"]),
    BadValue(feature: "score", value: .float(.infinity), fragments: ["'score'", "NaN or an infinite"]),
    BadValue(feature: "score", value: .float(-.infinity), fragments: ["'score'", "NaN or an infinite"]),
    BadValue(feature: "emb", value: .embedding([1, .nan, 3]), fragments: ["'emb'", "NaN or an infinite"]),
    BadValue(feature: "emb", value: .embedding([1, .infinity, 3]), fragments: ["'emb'", "NaN or an infinite"]),
  ]

  @Test("a bad value (dtype mismatch, wrong dimension, NaN, ±Inf) is INVALID_ARGUMENT and rejects the whole batch", arguments: badValues)
  func badValue(_ bad: BadValue) async throws {
    try await Self.withSeeded { s in
      var row = Self.goodRow("u3")
      row.entityID = "u1"
      row.values[Self.allFeatures.firstIndex(of: bad.feature)!] = bad.value
      try await s.expectRejected(.invalidArgument, mentioning: bad.fragments + ["row 1", "'u1'"]) {
        try await s.write("user_stats", features: Self.allFeatures, rows: [Self.goodRow("u3"), row])
      }
    }
  }

  @Test("an empty entity id is INVALID_ARGUMENT (write, online and historical)")
  func emptyEntityID() async throws {
    try await Self.withSeeded { s in
      try await s.expectRejected(.invalidArgument, mentioning: ["row 1", "entity id is empty"]) {
        try await s.write("user_stats", features: Self.allFeatures, rows: [Self.goodRow("u3"), Self.goodRow("")])
      }
      try await s.expectRejected(.invalidArgument, mentioning: ["entity id 1", "empty"]) {
        try await s.online(["u1", ""], ["user_stats:score"])
      }
      try await s.expectRejected(.invalidArgument, mentioning: ["label row 1", "empty entity id"]) {
        try await s.historicalRows(["user_stats:score"], [label("u1", .t0(0)), label("", .t0(0))])
      }
    }
  }

  @Test("an entity id over 1024 bytes is INVALID_ARGUMENT; exactly 1024 is accepted")
  func longEntityID() async throws {
    try await Self.withSeeded { s in
      try await s.expectRejected(.invalidArgument, mentioning: ["1025 bytes", "1024"]) {
        try await s.write("user_stats", features: Self.allFeatures, rows: [Self.goodRow(String(repeating: "é", count: 512) + "x")])
      }
      let ok = try await s.write("user_stats", features: Self.allFeatures, rows: [Self.goodRow(String(repeating: "é", count: 512))])
      #expect(ok.rowsWritten == 1)
    }
  }

  @Test("a STRING value over maxStringBytes is INVALID_ARGUMENT (a malformed value, like an over-long entity id); exactly the limit is accepted")
  func oversizedString() async throws {
    try await Self.withSeeded(limits: StoreLimits(maxStringBytes: 8)) { s in
      try await s.expectRejected(.invalidArgument, mentioning: ["'country'", "9 bytes", "8"]) {
        try await s.write("user_stats", features: ["country"], rows: [writeRow("u1", .t0(-1), [.string("123456789")])])
      }
      let ok = try await s.write("user_stats", features: ["country"], rows: [writeRow("u1", .t0(-1), [.string("12345678")])])
      #expect(ok.rowsWritten == 1)
    }
  }

  @Test("a message over the node's request size limit is RESOURCE_EXHAUSTED (write batch, lookup, label message)")
  func requestTooLarge() async throws {
    try await Self.withSeeded(sizeLimit: RequestSizeLimit(maxBytes: 512)) { s in
      let big = String(repeating: "x", count: 600)
      try await s.expectRejected(.resourceExhausted, mentioning: ["write batch 1", "at most 512 bytes"]) {
        try await s.write("user_stats", features: ["country"], rows: [writeRow("u1", .t0(-1), [.string(big)])])
      }
      let manyIDs = (0..<60).map { "entity-\($0)" }
      try await s.expectRejected(.resourceExhausted, mentioning: ["lookup request", "at most 512 bytes"]) {
        try await s.online(manyIDs, ["user_stats:score"])
      }
      try await s.expectRejected(.resourceExhausted, mentioning: ["label message", "at most 512 bytes"]) {
        try await s.historicalRows(["user_stats:score"], manyIDs.map { label($0, .t0(0)) })
      }
      // In the middle of a write stream: the first batch stays committed.
      let rowsBefore = try await s.status().rowsWritten
      await expectRPCError(.resourceExhausted, mentioning: ["batch 2 rejected", "at most 512 bytes", "1 earlier batches", "1 rows"]) {
        try await s.write([
          writeBatch("user_stats", features: ["country"], rows: [writeRow("u3", .t0(-1), [.string("ok")])]),
          writeBatch("user_stats", features: ["country"], rows: [writeRow("u1", .t0(-1), [.string(big)])]),
        ])
      }
      #expect(try await s.status().rowsWritten == rowsBefore + 1)
      #expect(try await s.online(["u3", "u1"], ["user_stats:country"]).vectors.map { $0.results[0].value } == [.string("ok"), .string("NL")])
    }
  }

  // MARK: Timestamps

  @Test("an event timestamp beyond now + skew is INVALID_ARGUMENT; exactly now + skew is accepted")
  func eventBeyondSkew() async throws {
    let skew: Int64 = 5_000_000
    try await Self.withSeeded(limits: StoreLimits(maxClockSkewMicros: skew)) { s in
      let edge = s.clock.now.adding(microseconds: skew)
      try await s.expectRejected(.invalidArgument, mentioning: ["event_timestamp", "ahead of the server clock", "5s"]) {
        try await s.write("user_stats", features: Self.allFeatures, rows: [Self.goodRow("u1", edge.adding(microseconds: 1))])
      }
      let ok = try await s.write("user_stats", features: Self.allFeatures, rows: [Self.goodRow("u1", edge)])
      #expect(ok.rowsWritten == 1)
      #expect(ok.lateRows == 0)
      // Online never serves a row before its event time: until then the previous row is the answer.
      #expect(try await s.online(["u1"], ["user_stats:score"]).vectors[0].results == [result(.float(1), .present, event: .t0(-10))])
      s.clock.advance(microseconds: skew - 1)
      #expect(try await s.online(["u1"], ["user_stats:score"]).vectors[0].results == [result(.float(1), .present, event: .t0(-10))])
      s.clock.advance(microseconds: 1)
      #expect(try await s.online(["u1"], ["user_stats:score"]).vectors[0].results == [result(.float(9), .present, event: edge)])
    }
  }

  @Test("a created timestamp beyond now + skew is INVALID_ARGUMENT")
  func createdBeyondSkew() async throws {
    try await Self.withSeeded(limits: StoreLimits(maxClockSkewMicros: 5_000_000)) { s in
      var row = Self.goodRow("u1")
      row.createdTimestampMicros = s.clock.now.adding(microseconds: 5_000_001).microseconds
      try await s.expectRejected(.invalidArgument, mentioning: ["created_timestamp", "ahead of the server clock"]) {
        try await s.write("user_stats", features: Self.allFeatures, rows: [row])
      }
    }
  }

  @Test("a negative event or created timestamp is INVALID_ARGUMENT")
  func negativeTimestamps() async throws {
    try await Self.withSeeded { s in
      try await s.expectRejected(.invalidArgument, mentioning: ["event_timestamp", "-1", "1970"]) {
        try await s.write("user_stats", features: Self.allFeatures, rows: [Self.goodRow("u3"), Self.goodRow("u1", Timestamp(microseconds: -1))])
      }
      var row = Self.goodRow("u1")
      row.createdTimestampMicros = -5
      try await s.expectRejected(.invalidArgument, mentioning: ["created_timestamp", "1970"]) {
        try await s.write("user_stats", features: Self.allFeatures, rows: [row])
      }
    }
  }

  // MARK: Batch shape

  @Test("a row whose value count differs from the batch's feature count is INVALID_ARGUMENT")
  func valueCountMismatch() async throws {
    try await Self.withSeeded { s in
      try await s.expectRejected(.invalidArgument, mentioning: ["row 0", "has 1 values but the batch names 2 features"]) {
        try await s.write("user_stats", features: ["score", "clicks"], rows: [writeRow("u1", .t0(-1), [.float(1)])])
      }
      try await s.expectRejected(.invalidArgument, mentioning: ["has 3 values but the batch names 2 features"]) {
        try await s.write("user_stats", features: ["score", "clicks"], rows: [writeRow("u1", .t0(-1), [.float(1), .int(1), .int(2)])])
      }
    }
  }

  @Test("a feature listed twice in a batch is INVALID_ARGUMENT")
  func duplicateColumn() async throws {
    try await Self.withSeeded { s in
      try await s.expectRejected(.invalidArgument, mentioning: ["'score'", "listed twice"]) {
        try await s.write("user_stats", features: ["score", "clicks", "score"], rows: [writeRow("u1", .t0(-1), [.float(1), .int(1), .float(2)])])
      }
    }
  }

  @Test("a batch over maxRowsPerBatch is RESOURCE_EXHAUSTED; exactly the limit is accepted")
  func batchTooLarge() async throws {
    try await Self.withSeeded(limits: StoreLimits(maxRowsPerBatch: 3)) { s in
      try await s.expectRejected(.resourceExhausted, mentioning: ["4 rows", "limit is 3"]) {
        try await s.write("user_stats", features: Self.allFeatures, rows: ["a", "b", "c", "d"].map { Self.goodRow($0) })
      }
      let ok = try await s.write("user_stats", features: Self.allFeatures, rows: ["a", "b", "c"].map { Self.goodRow($0) })
      #expect(ok.rowsWritten == 3)
    }
  }

  // MARK: Reads

  @Test("an online lookup over maxEntitiesPerLookup is RESOURCE_EXHAUSTED and not counted; exactly the limit works")
  func lookupTooLarge() async throws {
    try await Self.withSeeded(limits: StoreLimits(maxEntitiesPerLookup: 4)) { s in
      let lookupsBefore = try await s.status().onlineLookups
      await expectRPCError(.resourceExhausted, mentioning: ["5 entities", "limit is 4"]) {
        try await s.online(["u1", "u2", "u3", "u4", "u5"], ["user_stats:score"])
      }
      #expect(try await s.status().onlineLookups == lookupsBefore)
      let ok = try await s.online(["u1", "u2", "u3", "u4"], ["user_stats:score"])
      #expect(ok.vectors.count == 4)
      #expect(try await s.status().onlineLookups == lookupsBefore + 4)
    }
  }

  @Test("a read expanding past maxFeaturesPerRequest columns is RESOURCE_EXHAUSTED")
  func tooManyColumns() async throws {
    try await Self.withSeeded(limits: StoreLimits(maxFeaturesPerRequest: 3)) { s in
      try await s.expectRejected(.resourceExhausted, mentioning: ["4 feature columns", "limit is 3"]) {
        try await s.online(["u1"], ["user_stats:*"])
      }
      #expect(try await s.online(["u1"], ["user_stats:score", "user_stats:clicks", "user_stats:emb"]).columns.count == 3)
    }
  }

  @Test("an online read without entities or without features is INVALID_ARGUMENT")
  func emptyOnlineRequest() async throws {
    try await Self.withSeeded { s in
      try await s.expectRejected(.invalidArgument, mentioning: ["no entity ids"]) { try await s.online([], ["user_stats:score"]) }
      try await s.expectRejected(.invalidArgument, mentioning: ["no features requested"]) { try await s.online(["u1"], []) }
    }
  }

  @Test("malformed feature references are INVALID_ARGUMENT (online and historical)")
  func malformedRefs() async throws {
    try await Self.withSeeded { s in
      try await s.expectRejected(.invalidArgument, mentioning: ["'nocolon'", "no ':'"]) { try await s.online(["u1"], ["nocolon"]) }
      try await s.expectRejected(.invalidArgument, mentioning: ["'nocolon'", "no ':'"]) {
        try await s.historicalRows(["user_stats:score", "nocolon"], [label("u1", .t0(0))])
      }
      try await s.expectRejected(.invalidArgument, mentioning: ["invalid version 'x'"]) { try await s.online(["u1"], ["user_stats@x:score"]) }
      try await s.expectRejected(.invalidArgument, mentioning: ["invalid version '0'"]) { try await s.online(["u1"], ["user_stats@0:score"]) }
      try await s.expectRejected(.invalidArgument, mentioning: ["empty feature name"]) { try await s.online(["u1"], ["user_stats:"]) }
      try await s.expectRejected(.invalidArgument, mentioning: ["empty group name"]) { try await s.online(["u1"], [":score"]) }
    }
  }

  @Test("a historical stream whose first message lists no features is INVALID_ARGUMENT; so is an empty stream")
  func historicalWithoutFeatures() async throws {
    try await Self.withSeeded { s in
      try await s.expectRejected(.invalidArgument, mentioning: ["first GetHistoricalFeatures message must list the features"]) {
        try await s.historical([
          historicalRequest(labels: [label("u1", .t0(0))]),
          historicalRequest(features: ["user_stats:score"], labels: [label("u1", .t0(0))]),
        ])
      }
      try await s.expectRejected(.invalidArgument, mentioning: ["no request message"]) { try await s.historical([]) }
      #expect(try await s.status().historicalRows == 0)
    }
  }

  @Test("a historical message over maxLabelsPerMessage is RESOURCE_EXHAUSTED and names the label rows of the message")
  func tooManyLabels() async throws {
    try await Self.withSeeded(limits: StoreLimits(maxLabelsPerMessage: 3)) { s in
      try await s.expectRejected(.resourceExhausted, mentioning: ["4 label rows", "limit is 3", "label rows 2..5"]) {
        try await s.historical([
          historicalRequest(features: ["user_stats:score"], labels: [label("u1", .t0(0)), label("u2", .t0(0))]),
          historicalRequest(labels: (0..<4).map { _ in label("u1", .t0(0)) }),
        ])
      }
      #expect(try await s.status().historicalRows == 2, "the first message was joined before the second was rejected")
    }
  }

  // MARK: Apply

  @Test("an apply with an invalid group name is INVALID_ARGUMENT and applies none of the request's groups")
  func applyInvalidName() async throws {
    try await Self.withSeeded { s in
      var changed = userStatsSpec()
      changed.owner = "new owner"
      try await s.expectRejected(.invalidArgument, mentioning: ["'Bad-Name'", "is invalid"]) {
        try await s.apply([groupSpec("fine_group", [featureSpec("x", .int)]), changed, groupSpec("Bad-Name", [featureSpec("x", .int)])])
      }
    }
  }

  @Test("an apply whose lineage names an unknown upstream group is NOT_FOUND, a malformed one INVALID_ARGUMENT; nothing is applied")
  func applyBadLineage() async throws {
    try await Self.withSeeded { s in
      var derived = groupSpec("derived", [featureSpec("x", .int)])
      derived.lineage = .with { $0.upstream = ["user_stats", "orders"] }
      try await s.expectRejected(.notFound, mentioning: ["'derived'", "upstream 'orders'", "not a registered group or stream"]) {
        try await s.apply([groupSpec("fine_group", [featureSpec("x", .int)]), derived])
      }
      derived.lineage = .with { $0.upstream = ["user_stats@0"] }
      try await s.expectRejected(.invalidArgument, mentioning: ["'derived'", "upstream 'user_stats@0'", "NAME@VERSION"]) {
        try await s.apply([derived])
      }
    }
  }

  @Test("an apply with a duplicate feature is INVALID_ARGUMENT and applies none of the request's groups")
  func applyDuplicateFeature() async throws {
    try await Self.withSeeded { s in
      try await s.expectRejected(.invalidArgument, mentioning: ["'twice'", "'dup'", "more than once"]) {
        try await s.apply([
          groupSpec("fine_group", [featureSpec("x", .int)]),
          groupSpec("twice", [featureSpec("dup", .int), featureSpec("other", .float), featureSpec("dup", .string)]),
        ])
      }
    }
  }

  @Test("an apply defining the same group twice is INVALID_ARGUMENT and applies nothing")
  func applyDuplicateGroup() async throws {
    try await Self.withSeeded { s in
      try await s.expectRejected(.invalidArgument, mentioning: ["'again'", "more than once in the same apply"]) {
        try await s.apply([
          groupSpec("fine_group", [featureSpec("x", .int)]),
          groupSpec("again", [featureSpec("x", .int)]),
          groupSpec("again", [featureSpec("x", .int)]),
        ])
      }
    }
  }

  @Test("an apply with a bad feature definition (no dtype, bad dimension, bad default, bad max age) is INVALID_ARGUMENT")
  func applyBadFeatureDefinitions() async throws {
    try await Self.withSeeded { s in
      let fine = groupSpec("fine_group", [featureSpec("x", .int)])
      try await s.expectRejected(.invalidArgument, mentioning: ["'nodtype'", "no dtype"]) {
        try await s.apply([fine, groupSpec("g", [featureSpec("nodtype", .unspecified)])])
      }
      try await s.expectRejected(.invalidArgument, mentioning: ["'v'", "embedding dimension 0"]) {
        try await s.apply([fine, groupSpec("g", [featureSpec("v", .embedding, dim: 0)])])
      }
      try await s.expectRejected(.invalidArgument, mentioning: ["'f'", "embedding_dim 4"]) {
        try await s.apply([fine, groupSpec("g", [featureSpec("f", .float, dim: 4)])])
      }
      try await s.expectRejected(.invalidArgument, mentioning: ["default of feature 'f'", "STRING"]) {
        try await s.apply([fine, groupSpec("g", [featureSpec("f", .float, default: .string("zero"))])])
      }
      try await s.expectRejected(.invalidArgument, mentioning: ["'g'", "max age must be positive"]) {
        try await s.apply([fine, groupSpec("g", maxAgeSeconds: -1, [featureSpec("f", .float)])])
      }
      try await s.expectRejected(.invalidArgument, mentioning: ["'g'", "no features"]) { try await s.apply([fine, groupSpec("g", [])]) }
      try await s.expectRejected(.invalidArgument, mentioning: ["no feature group definitions"]) { try await s.apply([]) }
    }
  }

  // MARK: Streams and lifecycle

  @Test("a batch rejected mid-stream: earlier batches are committed, later ones not, and the message says so")
  func rejectedMidStream() async throws {
    try await Self.withSeeded { s in
      let rowsBefore = try await s.status().rowsWritten
      var bad = Self.goodRow("u3")
      bad.values[0] = .float(.nan)
      await expectRPCError(
        .invalidArgument, mentioning: ["batch 3 rejected", "NaN", "2 earlier batches", "3 rows", "were committed"]
      ) {
        try await s.write([
          writeBatch("user_stats", features: ["score"], rows: [writeRow("a", .t0(-3), [.float(1)]), writeRow("b", .t0(-3), [.float(2)])]),
          writeBatch("user_stats", features: ["score"], rows: [writeRow("a", .t0(-2), [.float(3)])]),
          writeBatch("user_stats", features: Self.allFeatures, rows: [Self.goodRow("c"), bad]),
          writeBatch("user_stats", features: ["score"], rows: [writeRow("d", .t0(-1), [.float(4)])]),
        ])
      }
      #expect(try await s.status().rowsWritten == rowsBefore + 3)
      let online = try await s.online(["a", "b", "c", "u3", "d"], ["user_stats:score"])
      #expect(online.vectors.map(\.results) == [
        [result(.float(3), .present, event: .t0(-2))],
        [result(.float(2), .present, event: .t0(-3))],
        [result(nil, .missing, event: nil)],
        [result(nil, .missing, event: nil)],
        [result(nil, .missing, event: nil)],
      ])
    }
  }

  @Test("a rejected first batch reports the plain error, without an earlier-batches note")
  func rejectedFirstBatch() async throws {
    try await Self.withSeeded { s in
      let error = try await s.expectRejected(.notFound, mentioning: ["no feature 'nope'"]) {
        try await s.write([
          writeBatch("user_stats", features: ["nope"], rows: [writeRow("a", .t0(-1), [.float(1)])]),
          writeBatch("user_stats", features: ["score"], rows: [writeRow("a", .t0(-1), [.float(1)])]),
        ])
      }
      #expect(error?.message.contains("earlier batches") == false)
    }
  }

  @Test("writing to or reading a RETIRED version is FAILED_PRECONDITION; the ACTIVE version still works")
  func retiredVersion() async throws {
    try await Self.withSeeded { s in
      var v2 = userStatsSpec()
      v2.owner = "v2 owner"
      _ = try await s.apply(v2)
      _ = try await s.store.setStatus(.retired, group: "user_stats", version: 1)

      try await s.expectRejected(.failedPrecondition, mentioning: ["user_stats@1", "RETIRED"]) {
        try await s.write("user_stats", version: 1, features: ["score"], rows: [writeRow("u1", .t0(-1), [.float(5)])])
      }
      try await s.expectRejected(.failedPrecondition, mentioning: ["user_stats@1", "RETIRED"]) {
        try await s.online(["u1"], ["user_stats@1:score"])
      }
      let ok = try await s.write("user_stats", features: ["score"], rows: [writeRow("u1", .t0(-1), [.float(5)])])
      #expect(ok.rowsWritten == 1)
      #expect(try await s.online(["u1"], ["user_stats:score"]).columns.map(\.ref) == ["user_stats@2:score"])
    }
  }

  @Test("an unpinned write when no version is ACTIVE is FAILED_PRECONDITION; a pinned DEPRECATED version is writable")
  func noActiveVersion() async throws {
    try await Self.withSeeded { s in
      _ = try await s.store.setStatus(.deprecated, group: "user_stats", version: 1)
      try await s.expectRejected(.failedPrecondition, mentioning: ["no ACTIVE version", "user_stats@N"]) {
        try await s.write("user_stats", features: ["score"], rows: [writeRow("u1", .t0(-1), [.float(5)])])
      }
      let ok = try await s.write("user_stats", version: 1, features: ["score"], rows: [writeRow("u1", .t0(-1), [.float(5)])])
      #expect(ok.rowsWritten == 1)
    }
  }
}
