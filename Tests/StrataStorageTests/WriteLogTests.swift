import StrataCore
import Testing

@testable import StrataStorage

@Suite("WriteLog: who wrote each group version through this node")
struct WriteLogTests {
  @Test("client batches are recorded per writer (batches, rows, first and last write, event range), survive reopening; copies and refused batches are not", arguments: EngineKind.allCases)
  func recordsClientWrites(kind: EngineKind) async throws {
    try await withStoreDirectory { path in
      let memory = InMemoryEngine()
      let clock = ManualClock(Timestamp.seconds(1_700_000_000))
      func open() async throws -> FeatureStore {
        if kind == .memory { return try FeatureStore(engine: memory, clock: clock.function) }
        return try FeatureStore(engine: try await openRetryingLock(kind, at: path), clock: clock.function)
      }
      let nightly = WriterIdentity(pipeline: "nightly", runID: "r-1")
      func batch(_ times: [Int64], writer: WriterIdentity?) -> WriteRequest {
        WriteRequest(
          group: "g", features: ["x"],
          rows: times.enumerated().map { .init(entityID: "e\($0.offset)", eventTime: .seconds($0.element), values: [.int(1)]) }, writer: writer)
      }
      let sid: UInt32
      do {
        let store = try await open()
        sid = try await store.apply([FeatureGroupSpec(name: "g", features: [FeatureSpec(name: "x", dtype: .int)])])[0].group.storageID
        let t1 = clock.function()
        _ = try await store.write(batch([1_000, 500], writer: nightly))
        clock.advance(microseconds: 1_000_000)
        _ = try await store.write(batch([2_000], writer: nightly))
        _ = try await store.write(batch([700, 800, 900], writer: nil))
        // A copy of rows another node accepted is not a client write.
        _ = try await store.write(
          WriteRequest(group: "g", features: ["x"], rows: [.init(entityID: "c", eventTime: .seconds(5), values: [.int(1)], writeID: WriteID(rawValue: 1 << 40))], writer: nightly),
          writeIDs: .accept)
        // Refused: a writer field too long; nothing is written or recorded.
        await #expect(throws: StrataError.self) {
          _ = try await store.write(batch([1], writer: WriterIdentity(pipeline: String(repeating: "p", count: 257))))
        }
        let records = store.writeLog.records(storageID: sid)
        #expect(records.map(\.writer) == [.none, nightly], "the most recently written first")
        #expect(records[1].batches == 2 && records[1].rows == 3)
        #expect(records[1].firstWrite == t1 && records[1].lastWrite == t1.adding(microseconds: 1_000_000))
        #expect(records[1].events == Timestamp.seconds(500)...Timestamp.seconds(2_000))
        #expect(records[0].batches == 1 && records[0].rows == 3 && records[0].events == Timestamp.seconds(700)...Timestamp.seconds(900))
      }
      let reopened = try await open()
      #expect(reopened.writeLog.records(storageID: sid).map(\.rows) == [3, 3])
      #expect(reopened.writeLog.records(storageID: sid).map(\.batches) == [1, 2])
    }
  }

  @Test("at most maxWritersPerVersion writers per version: a new one replaces the one written least recently")
  func bounded() async throws {
    let clock = ManualClock(Timestamp.seconds(1_700_000_000))
    let store = try FeatureStore(engine: InMemoryEngine(), clock: clock.function)
    let sid = try await store.apply([FeatureGroupSpec(name: "g", features: [FeatureSpec(name: "x", dtype: .int)])])[0].group.storageID
    let n = WriteLog.maxWritersPerVersion
    // Runs 0, 1, 0 again, then 3 ... n + 1: n + 1 distinct writers. When the last one comes, run 1
    // is the least recently written (run 0 wrote again after it).
    for i in 0...(n + 1) {
      clock.advance(microseconds: 1)
      _ = try await store.write(
        WriteRequest(
          group: "g", features: ["x"], rows: [.init(entityID: "e", eventTime: .seconds(1), values: [.int(1)])],
          writer: WriterIdentity(pipeline: "p", runID: "\(i == 2 ? 0 : i)")))
    }
    let runs = Set(store.writeLog.records(storageID: sid).map(\.writer.runID))
    #expect(runs.count == n)
    #expect(!runs.contains("1") && runs.contains("0") && runs.contains("\(n + 1)"))
  }
}
