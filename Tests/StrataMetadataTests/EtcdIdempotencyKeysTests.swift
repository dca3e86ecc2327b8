import StrataCore
import StrataEtcd
@testable import StrataMetadata
import StrataStorage
import Testing

/// Idempotency keys in etcd: a batch resent with its key to any node of the cluster gets the first
/// attempt's stamp, and once acknowledged is answered as a duplicate with the first counts.
@Suite("Idempotency keys in etcd")
struct EtcdIdempotencyKeysTests {
  typealias ScriptedStore = ConditionalPutTests.ScriptedStore
  static let keys = MetadataKeys(clusterName: "t")

  /// `IdempotencyKeys` that records the calls it gets and applies every claim with a fixed stamp.
  final class RecordingKeys: IdempotencyKeys {
    let calls = Locked<[String]>([])
    static let stamp = IdempotencyStamp(createdTime: Timestamp(microseconds: 1), firstWriteID: WriteID(rawValue: 77), count: 1)
    func claim(key: String, digest: UInt64, count: Int) async throws -> IdempotencyClaim {
      calls.withLock { $0.append("claim \(key)") }
      return .apply(Self.stamp)
    }
    func complete(key: String, eventsWritten: UInt64, lateEvents: UInt64) async throws {
      calls.withLock { $0.append("complete \(key)") }
    }
    func release(key: String) { calls.withLock { $0.append("release \(key)") } }
  }

  /// One node's keys over `etcd`: stamps from its own write-id slot, counted in `reserved`.
  static func node(
    _ slot: UInt16, _ etcd: ScriptedStore, reserved: Locked<Int> = Locked(0), fallback: (any IdempotencyKeys)? = nil,
    recheck: Duration = .milliseconds(20)
  ) -> EtcdIdempotencyKeys {
    let next = Locked<UInt64>(0)
    return EtcdIdempotencyKeys(
      etcd: etcd, keys: keys, nowSeconds: { 1_800_000_000 },
      reserve: { count in
        reserved.withLock { $0 += 1 }
        let counter = next.withLock { n -> UInt64 in
          defer { n += UInt64(count) }
          return n
        }
        return IdempotencyStamp(
          createdTime: Timestamp(microseconds: 1_800_000_000_000_000 + Int64(slot)),
          firstWriteID: WriteID(milliseconds: 1_000, slot: slot, counter: counter), count: count)
      }, fallback: fallback)
  }

  static func code(_ body: () async throws -> Void) async -> StrataError.Code? {
    do {
      try await body()
      return nil
    } catch let error as StrataError {
      return error.code
    } catch {
      return .internalError
    }
  }

  @Test("claimed through one node, resent through another: the same stamp before the answer, a duplicate with the first counts after")
  func acrossNodes() async throws {
    let etcd = ScriptedStore([])
    let reservedB = Locked(0)
    let (a, b) = (Self.node(1, etcd), Self.node(2, etcd, reserved: reservedB))
    guard case .apply(let stamp) = try await a.claim(key: "k", digest: 7, count: 3) else {
      Issue.record("the first claim must apply")
      return
    }
    #expect(stamp.firstWriteID.slot == 1 && stamp.count == 3)
    let record = try #require(etcd.store.value(Self.keys.idempotency(key: "k")))
    #expect(record.lease != 0, "the record is under a lease, so it expires")
    // The first coordinator died before answering; the client resends through b.
    #expect(try await b.claim(key: "k", digest: 7, count: 3) == .apply(stamp))
    #expect(reservedB.value == 0, "b reserves no write ids of its own for a key already recorded")
    b.release(key: "k")
    try await a.complete(key: "k", eventsWritten: 3, lateEvents: 1)
    #expect(try await b.claim(key: "k", digest: 7, count: 3) == .applied(stamp, eventsWritten: 3, lateEvents: 1))
    #expect(await Self.code { _ = try await b.claim(key: "k", digest: 8, count: 3) } == .failedPrecondition)
    #expect(await Self.code { _ = try await b.claim(key: "k", digest: 7, count: 4) } == .failedPrecondition)
    #expect(etcd.store.value(Self.keys.idempotency(key: "k"))?.lease == record.lease, "completing keeps the lease")
  }

  @Test("two nodes claim a new key at once: one stamp is recorded and both apply it")
  func racingClaims() async throws {
    // b's claim lands between a's read (key absent) and a's conditional write: b's record is put by
    // the hook that runs before a's transaction reaches the store.
    let etcd = ScriptedStore([]) { store in
      guard store.value(Self.keys.idempotency(key: "k")) == nil else { return }
      let stamp = IdempotencyStamp(
        createdTime: Timestamp(microseconds: 5), firstWriteID: WriteID(milliseconds: 9, slot: 2, counter: 0), count: 2)
      let record = IdempotencyRecord(digest: 7, stamp: stamp, recordedAt: stamp.createdTime, done: nil)
      _ = try? store.put(Self.keys.idempotency(key: "k"), record.encoded, lease: nil, writer: "b")
    }
    let a = Self.node(1, etcd)
    guard case .apply(let stamp) = try await a.claim(key: "k", digest: 7, count: 2) else {
      Issue.record("the claim must apply")
      return
    }
    #expect(stamp.firstWriteID.slot == 2, "a applies the stamp b recorded, not its own")
  }

  @Test("etcd's answer to the claim is lost after it recorded the key: read back, the stamp recorded is the one applied")
  func lostAnswer() async throws {
    let etcd = ScriptedStore([.loseAnswer])
    let a = Self.node(1, etcd)
    guard case .apply(let stamp) = try await a.claim(key: "k", digest: 7, count: 2) else {
      Issue.record("the claim must apply")
      return
    }
    let stored = try IdempotencyRecord(decoding: try #require(etcd.store.value(Self.keys.idempotency(key: "k"))).value)
    #expect(stored.stamp == stamp)
  }

  @Test("refusals: a key over 128 bytes, a key another call of this node is applying, etcd not answering")
  func refusals() async throws {
    let a = Self.node(1, ScriptedStore([]))
    #expect(await Self.code { _ = try await a.claim(key: String(repeating: "x", count: 129), digest: 1, count: 1) } == .invalidArgument)
    _ = try await a.claim(key: "k", digest: 1, count: 1)
    #expect(await Self.code { _ = try await a.claim(key: "k", digest: 1, count: 1) } == .unavailable)
    a.release(key: "k")
    #expect(await Self.code { _ = try await a.claim(key: "k", digest: 1, count: 1) } == nil)
    // Every transaction is lost before it reaches etcd: the claim's write, then every read back, for
    // the 10 s a conditional write waits to settle.
    let down = Self.node(1, ScriptedStore(Array(repeating: .dropRequest, count: 100_000)))
    do {
      _ = try await down.claim(key: "k2", digest: 1, count: 1)
      Issue.record("a claim etcd never answered succeeded")
    } catch let error as StrataError {
      #expect(error.code == .unavailable && error.message.contains("etcd did not answer"), "\(error)")
    }
    // The failed claim released the key: a new claim is not refused as "being applied".
    #expect(down.inFlightKeys.isEmpty)
  }

  @Test("etcd unreachable when a claim reads: the key goes to this node's catalog (pushes go on), its answer too; back in etcd once etcd answers")
  func fallbackWhileUnreachable() async throws {
    let etcd = ScriptedStore([])
    let local = RecordingKeys()
    let a = Self.node(1, etcd, fallback: local)
    etcd.readsFail.withLock { $0 = true }
    #expect(try await a.claim(key: "k", digest: 7, count: 1) == .apply(RecordingKeys.stamp))
    try await a.complete(key: "k", eventsWritten: 1, lateEvents: 0)
    _ = try await a.claim(key: "j", digest: 7, count: 1)
    a.release(key: "j")
    #expect(local.calls.value == ["claim k", "complete k", "claim j", "release j"])
    #expect(etcd.store.value(Self.keys.idempotency(key: "k")) == nil && a.inFlightKeys.isEmpty)
    etcd.readsFail.withLock { $0 = false }
    // Back in etcd once a probe (every 20 ms here) finds it answering.
    var inEtcd = false
    for attempt in 0..<200 where !inEtcd {
      guard case .apply(let stamp) = try await a.claim(key: "m\(attempt)", digest: 7, count: 1) else {
        Issue.record("the claim must apply")
        return
      }
      inEtcd = stamp != RecordingKeys.stamp
      if inEtcd {
        #expect(etcd.store.value(Self.keys.idempotency(key: "m\(attempt)")) != nil, "recorded in etcd again")
      } else {
        a.release(key: "m\(attempt)")
        try await Task.sleep(for: .milliseconds(10))
      }
    }
    #expect(inEtcd)
  }

  @Test("a known outage: claims go to the catalog without asking etcd (a hung etcd would cost each its timeout); one background read per recheck")
  func knownOutageDoesNotWait() async throws {
    let etcd = ScriptedStore([])
    let local = RecordingKeys()
    let a = Self.node(1, etcd, fallback: local, recheck: .seconds(3_600))
    etcd.readsFail.withLock { $0 = true }
    for k in 0..<5 {
      #expect(try await a.claim(key: "k\(k)", digest: 7, count: 1) == .apply(RecordingKeys.stamp))
      try await a.complete(key: "k\(k)", eventsWritten: 1, lateEvents: 0)
    }
    #expect(etcd.reads.value == 1, "only the first claim asked etcd: \(etcd.reads.value) reads")
    #expect(local.calls.value.count == 10)
  }

  @Test("a key claimed in etcd, retried through the same node while etcd does not answer: the same stamp, not the catalog's; its answer is not failed for etcd")
  func retriedDuringOutage() async throws {
    let etcd = ScriptedStore([])
    let local = RecordingKeys()
    let a = Self.node(1, etcd, fallback: local)
    guard case .apply(let stamp) = try await a.claim(key: "k", digest: 7, count: 2) else {
      Issue.record("the claim must apply")
      return
    }
    a.release(key: "k")  // the first attempt failed
    etcd.readsFail.withLock { $0 = true }
    #expect(try await a.claim(key: "k", digest: 7, count: 2) == .apply(stamp))
    #expect(await Self.code { _ = try await a.claim(key: "k", digest: 7, count: 2) } == .unavailable, "still being applied")
    try await a.complete(key: "k", eventsWritten: 2, lateEvents: 0)  // etcd cannot be told: not an error
    #expect(try await a.claim(key: "k", digest: 7, count: 2) == .applied(stamp, eventsWritten: 2, lateEvents: 0))
    #expect(await Self.code { _ = try await a.claim(key: "k", digest: 8, count: 2) } == .failedPrecondition)
    #expect(local.calls.value.isEmpty, "the catalog was not used for a key etcd had")
  }
}
