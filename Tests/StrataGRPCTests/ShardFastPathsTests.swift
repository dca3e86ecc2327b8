import GRPCCore
import GRPCProtobuf
import StrataCore
@testable import StrataGRPC
import StrataProto
import StrataStorage
import StrataTestSupport
import SwiftProtobuf
import Testing

/// The internode bulk paths registered by `ShardFastPaths` (every simulated node serves them): the
/// same wire messages as the generated registrations, their protobuf work off the cooperative pool.
@Suite("Shard fast paths: WriteBatch decoded on the writer thread, GetRangeRows encoded on the bulk threads")
struct ShardFastPathsTests {
  /// `count` entity ids whose history keys fall in `bucket`.
  static func entities(inBucket bucket: Int, count: Int) -> [String] {
    var out: [String] = []
    var k = 0
    while out.count < count {
      let id = "e\(k)"
      if HistoryDigest.bucket(ofToken: EntityToken.of(id)) == bucket { out.append(id) }
      k += 1
    }
    return out
  }

  @Test("GetRangeRows sends a bucket's rows in messages of 256, each decodable as a WriteFeaturesRequest, with their write ids")
  func rangeRowsInMessages() async throws {
    var rng = SplitMix64.forTest("shard-fast-paths.range-rows")
    try await withSimulatedCluster(nodes: 3, seed: rng.next(), replicationFactor: 3) { cluster in
      _ = try await cluster.node("n1").api.apply([userStatsSpec()])
      let bucket = 7
      let ids = Self.entities(inBucket: bucket, count: 600)
      let rows = ids.map { writeRow($0, .t0(-10), [.float(Double(rng.below(1000))), .int(Int64(rng.below(9))), .string("x"), .embedding([1, 2, 3])]) }
      for chunk in stride(from: 0, to: rows.count, by: 200) {
        _ = try await cluster.node("n1").api.write([
          writeBatch("user_stats", features: ["score", "clicks", "country", "emb"], rows: Array(rows[chunk..<min(chunk + 200, rows.count)]))
        ])
      }
      let n2 = cluster.node("n2")
      let peer = try n2.view.peer("n1")
      let sizes = try await peer.getRangeRows(
        .with {
          $0.peer = "n2"
          $0.bucket = UInt32(bucket)
          $0.group = "user_stats"
          $0.version = 1
        }, metadata: n2.view.metadata
      ) { response in
        var sizes: [Int] = []
        var seen: [String: Strata_V1_WriteRow] = [:]
        for try await message in response.messages {
          sizes.append(message.rows.count)
          #expect(message.group == "user_stats" && message.version == 1 && message.features == ["score", "clicks", "country", "emb"])
          for row in message.rows { seen[row.entityID] = row }
        }
        #expect(Set(seen.keys) == Set(ids))
        #expect(seen.values.allSatisfy { $0.writeID != 0 && $0.createdTimestampMicros != 0 })
        for row in rows { #expect(seen[row.entityID]?.values == row.values, "\(row.entityID)") }
        return sizes
      }
      #expect(sizes == [256, 256, 88])
    }
  }

  @Test("a WriteBatch whose bytes are not a WriteFeaturesRequest is INVALID_ARGUMENT and writes nothing")
  func undecodableWriteBatch() async throws {
    var rng = SplitMix64.forTest("shard-fast-paths.write-batch")
    try await withSimulatedCluster(nodes: 3, seed: rng.next(), replicationFactor: 3) { cluster in
      _ = try await cluster.node("n1").api.apply([userStatsSpec()])
      let n1 = cluster.node("n1")
      let grpc = try #require(n1.api.grpc)
      let before = n1.store.counterValues.rowsWritten
      let garbage: [UInt8] = [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]  // a length that runs past the end
      do {
        _ = try await grpc.unary(
          request: ClientRequest(message: garbage, metadata: n1.view.metadata),
          descriptor: Strata_V1_Shard.Method.WriteBatch.descriptor,
          serializer: RawBytesSerializer(),
          deserializer: ProtobufDeserializer<Strata_V1_WriteFeaturesResponse>(),
          options: .defaults
        ) { try $0.message }
        Issue.record("an undecodable internode batch was accepted")
      } catch let error as RPCError {
        #expect(error.code == .invalidArgument, "\(error)")
        #expect(error.message.contains("not a valid WriteFeaturesRequest message"), "\(error.message)")
      }
      #expect(n1.store.counterValues.rowsWritten == before)
      // A good batch through the same path is stored with the write ids it carries.
      let id = n1.store.assignWriteIDs(1, now: n1.api.clock.now)[0]
      var row = writeRow("good", .t0(-1), [.float(1), .int(2), .string("y"), .embedding([1, 2, 3])])
      row.writeID = id.rawValue
      row.createdTimestampMicros = Timestamp.t0(-1).microseconds
      let good: [UInt8] = try writeBatch("user_stats", version: 1, features: ["score", "clicks", "country", "emb"], rows: [row]).serializedBytes()
      let answer = try await grpc.unary(
        request: ClientRequest(message: good, metadata: n1.view.metadata),
        descriptor: Strata_V1_Shard.Method.WriteBatch.descriptor,
        serializer: RawBytesSerializer(),
        deserializer: ProtobufDeserializer<Strata_V1_WriteFeaturesResponse>(),
        options: .defaults
      ) { try $0.message }
      #expect(answer.rowsWritten == 1)
      let stored = try RepairTests.contents(n1.store)["user_stats@1"]?["good"]
      #expect(stored?.map(\.sequence) == [id.rawValue])
    }
  }
}
