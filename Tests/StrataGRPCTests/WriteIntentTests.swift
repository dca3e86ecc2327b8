import GRPCCore
import Logging
import StrataCluster
import StrataCore
import StrataGRPC
import StrataProto
import StrataStorage
import StrataTestSupport
import SwiftProtobuf
import Testing

/// Write intents: a coordinator stores what it sends to other replicas before it sends it, and a
/// restarted process keeps what a killed one left as hints.
@Suite("Write intents")
struct WriteIntentTests {
  static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

  /// The intents a process started now over `engine` would find, decoded.
  static func leftIntents(_ engine: any StorageEngine) throws -> [WriteIntent] {
    try HintStore(engine: engine).takeIntentsFromBefore().map { try WriteIntent(decoding: $0.payload) }
  }

  /// Waits (at most 10 s) until no intent is stored, and expects none.
  static func waitUntilNoIntent(_ engine: any StorageEngine) async throws {
    for _ in 0..<1000 {
      if try leftIntents(engine).isEmpty { break }
      try await Task.sleep(for: .milliseconds(10))
    }
    #expect(try leftIntents(engine).isEmpty)
  }

  @Test("a coordinator's intent holds every remote replica's rows while a replica has not answered, and is gone once each answered or got a hint")
  func coordinatorIntent() async throws {
    var rng = SplitMix64.forTest("write-intents.coordinator")
    let engine = InMemoryEngine()
    let handoff = HintedHandoff(store: try HintStore(engine: engine), logger: Self.logger)
    try await withSimulatedCluster(nodes: 5, seed: rng.next(), callTimeout: .seconds(120), replicationFactor: 3, hints: handoff) { cluster in
      _ = try await cluster.node("n1").api.apply(Workload.specs)
      let hung = "n4"
      // Entities n4 replicates and the coordinator n1 does not: all three replicas are remote.
      let placement = try ReplicaPlacement(ring: cluster.ring, replicationFactor: 3)
      let ids = (0..<400).map { "w\($0)" }.filter {
        let replicas = placement.replicas(of: $0)
        return replicas.contains(hung) && !replicas.contains("n1")
      }.prefix(6)
      #expect(ids.count == 6)
      // Every replica answers: nothing is left once the write is acknowledged and the others answered.
      _ = try await cluster.node("n1").api.write(
        "user_stats", features: ["score"], rows: ids.map { writeRow($0, .t0(-90), [.float(0)]) })
      try await Self.waitUntilNoIntent(engine)

      cluster.faults[hung] = .hang
      let rows = ids.enumerated().map { i, id in writeRow(id, .t0(-60), created: .t0(-30), [.float(Double(i))]) }
      let written = try await cluster.node("n1").api.write("user_stats", features: ["score"], rows: rows)
      #expect(written.replicasAcknowledged == 2 && written.rowsWritten == UInt64(ids.count))
      // n4 has not answered: a process killed now would find the intent, with each replica's rows.
      let left = try Self.leftIntents(engine)
      try #require(left.count == 1)
      let intent = left[0]
      #expect(intent.batch.rows.map(\.entityID) == Array(ids))
      #expect(intent.batch.rows.allSatisfy { $0.hasWriteID && $0.hasCreatedTimestampMicros })
      for id in ids {
        let holders = intent.targets.filter { target in target.rows.contains { intent.batch.rows[$0].entityID == id } }.map(\.node)
        #expect(Set(holders) == Set(placement.replicas(of: id)), "\(id)")
      }
      #expect(intent.targets.allSatisfy { $0.node != "n1" }, "the coordinator's own copy is not in its intent")

      // n4 fails: its part becomes a hint and the intent is removed.
      cluster.faults[hung] = .fail
      try await Self.waitUntilNoIntent(engine)
      #expect(handoff.pendingRows(for: hung) == UInt64(ids.count))
    }
  }

  @Test("a restarted process keeps the parts of the intents left as hints (rows with their write ids), once, and removes the intents")
  func recovery() async throws {
    let engine = InMemoryEngine()
    let rows = (0..<5).map { i in
      var row = writeRow("e\(i)", .t0(-60), created: .t0(-30), [.float(Double(i))])
      row.writeID = 1_000 + UInt64(i)
      return row
    }
    var batch = writeBatch("user_stats", version: 2, features: ["score"], rows: rows)
    batch.version = 2
    let intent = WriteIntent(
      batch: batch, targets: [.init(node: "n2", rows: [0, 1, 2]), .init(node: "n3", rows: [1, 3, 4]), .init(node: "n4", rows: [])])
    #expect(try WriteIntent(decoding: intent.encoded()) == intent)
    let firstStore = try HintStore(engine: engine)
    let first = HintedHandoff(store: firstStore, logger: Self.logger)
    let kept = await first.intend(intent)
    #expect(kept != nil)
    // One that does not decode (corruption) is dropped, not a failed start.
    _ = try firstStore.writeIntent([9, 9, 9])
    // The process stops without settling; the next one starts over the same data.
    let store = try HintStore(engine: engine)
    let second = HintedHandoff(store: store, logger: Self.logger)
    let recovered = try await second.recoverIntents()
    #expect(recovered.intents == 2 && recovered.hints == 2 && recovered.rows == 6)
    for (node, indexes) in [("n2", [0, 1, 2]), ("n3", [1, 3, 4])] {
      let hints = try store.next(node: node, limit: 10)
      try #require(hints.count == 1, "\(node)")
      let part = try Strata_V1_WriteFeaturesRequest(serializedBytes: hints[0].payload)
      #expect(part.group == "user_stats" && part.version == 2 && part.features == ["score"])
      #expect(part.rows == indexes.map { rows[$0] }, "\(node)")
    }
    #expect(store.nodesWithHints == ["n2", "n3"])
    #expect(try Self.leftIntents(engine).isEmpty)
    let again = try await second.recoverIntents()
    #expect(again.intents == 0 && again.hints == 0, "once")
  }

  @Test("an intent that does not decode is INTERNAL, not a crash")
  func corrupt() throws {
    let good = try WriteIntent(batch: writeBatch("g", features: ["f"], rows: [writeRow("e", .t0(0), [.float(1)])]), targets: [.init(node: "n2", rows: [0])]).encoded()
    let bads: [[UInt8]] = [[], [2] + good.dropFirst(), Array(good.prefix(6)), Array(good.prefix(1)) + [0, 0, 0, 1, 0, 2, 110, 50, 0, 0, 0, 1, 0, 0, 0, 9]]
    for bad in bads {
      #expect(throws: StrataError.self) { try WriteIntent(decoding: bad) }
    }
  }
}
