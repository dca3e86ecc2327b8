import Foundation
import StrataCore
import Testing

@testable import StrataStorage

/// The idempotency keys of event batches: one stamp per key, kept across restarts, refused for other
/// content, one call at a time, forgotten after the retention.
@Suite("Idempotency ledger")
struct IdempotencyLedgerTests {
  private let t0 = Timestamp.seconds(1_700_000_000)

  @Test("a key gets one stamp (kept across a restart); once complete it answers its counts; other content is refused")
  func stampsSurviveRestart() throws {
    try withTemporaryDirectoryPath { path in
      var stamp: IdempotencyStamp?
      do {
        let shard = try LocalShard(engine: EngineKind.rocksdb.open(at: path), writeIDSlot: 3)
        let ledger = IdempotencyLedger(shard: shard)
        guard case .apply(let s) = try ledger.claim(key: "batch-1", digest: 42, count: 5_000, now: t0) else {
          Issue.record("a new key is applied")
          return
        }
        stamp = s
        #expect(s.createdTime == t0 && s.count == 5_000)
        let ids = s.writeIDs
        #expect(ids.count == 5_000 && Set(ids).count == 5_000 && ids == ids.sorted() && ids.allSatisfy { $0.slot == 3 })
        // The clock moved past the block: the next ids a coordinator takes come after it.
        #expect(shard.assignWriteIDs(1, now: t0)[0] > ids.last!)
        ledger.release(key: "batch-1")
      }
      // Reopened: the same stamp, and the restarted clock starts above the block.
      let shard = try LocalShard(engine: EngineKind.rocksdb.open(at: path), writeIDSlot: 3)
      let ledger = IdempotencyLedger(shard: shard)
      #expect(try ledger.claim(key: "batch-1", digest: 42, count: 5_000, now: t0.adding(microseconds: 9_000_000)) == .apply(stamp!))
      #expect(shard.assignWriteIDs(1, now: t0)[0] > stamp!.writeIDs.last!)
      // While claimed, a second call with the key waits its turn.
      expectCode(.unavailable) { _ = try ledger.claim(key: "batch-1", digest: 42, count: 5_000, now: t0) }
      try ledger.complete(key: "batch-1", eventsWritten: 5_000, lateEvents: 7)
      #expect(try ledger.claim(key: "batch-1", digest: 42, count: 5_000, now: t0) == .applied(stamp!, eventsWritten: 5_000, lateEvents: 7))
      expectCode(.failedPrecondition) { _ = try ledger.claim(key: "batch-1", digest: 43, count: 5_000, now: t0) }
      expectCode(.invalidArgument) { _ = try ledger.claim(key: String(repeating: "k", count: 129), digest: 1, count: 1, now: t0) }
    }
  }

  @Test("records older than the retention are deleted by later claims; the key then starts afresh", arguments: EngineKind.allCases)
  func expiry(kind: EngineKind) throws {
    try kind.withEngine { engine in
      let shard = try LocalShard(engine: engine)
      let ledger = IdempotencyLedger(shard: shard, retentionMicros: 60_000_000)
      guard case .apply(let first) = try ledger.claim(key: "a", digest: 1, count: 2, now: t0) else { return }
      try ledger.complete(key: "a", eventsWritten: 2, lateEvents: 0)
      _ = try ledger.claim(key: "b", digest: 1, count: 2, now: t0.adding(microseconds: 30_000_000))
      try ledger.complete(key: "b", eventsWritten: 2, lateEvents: 0)
      // 61 s later "a" is gone (a new stamp), "b" (31 s old) is not.
      let later = t0.adding(microseconds: 61_000_000)
      guard case .apply(let again) = try ledger.claim(key: "a", digest: 9, count: 3, now: later) else {
        Issue.record("an expired key is applied afresh")
        return
      }
      #expect(again.createdTime == later && again.firstWriteID > first.firstWriteID)
      if case .applied = try ledger.claim(key: "b", digest: 1, count: 2, now: later) {} else { Issue.record("b must still be known") }
    }
  }
}

private func expectCode(_ code: StrataError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
  do {
    try body()
    Issue.record("expected \(code)", sourceLocation: sourceLocation)
  } catch let error as StrataError {
    #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
  } catch {
    Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
  }
}

private func withTemporaryDirectoryPath(_ body: (String) throws -> Void) throws {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("strata-ledger-\(UUID().uuidString)")
  defer { try? FileManager.default.removeItem(at: url) }
  try body(url.path)
}
