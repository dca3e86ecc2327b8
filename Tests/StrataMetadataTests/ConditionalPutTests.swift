import StrataEtcd
@testable import StrataMetadata
import Testing

/// A conditional write whose answer etcd lost is settled by reading back, never handed to the caller as
/// "maybe": the fault bed once saw `strata cluster remove-node` fail while its change had been recorded
/// (the connection to etcd broke while the answer travelled), and the command's user was told it failed.
@Suite("Conditional writes whose answer was lost")
struct ConditionalPutTests {
  /// What the next transaction meets.
  enum Fault: Sendable {
    /// The request never reaches etcd.
    case dropRequest
    /// etcd applies it; the answer is lost.
    case loseAnswer
  }

  /// `MetadataStore` over the simulation's in-memory etcd, answering at once; transactions meet the
  /// scripted faults in order, then none. `before` runs before each transaction reaches the store.
  final class ScriptedStore: MetadataStore {
    let store = SimEtcd(clock: VirtualClock())
    let faults: Locked<[Fault?]>
    let before: @Sendable (SimEtcd) -> Void
    /// While true, every read fails as an unreachable etcd's would.
    let readsFail = Locked(false)

    init(_ faults: [Fault?], before: @escaping @Sendable (SimEtcd) -> Void = { _ in }) {
      self.faults = Locked(faults)
      self.before = before
    }

    /// Reads asked so far.
    let reads = Locked(0)

    func get(_ range: EtcdKeyRange, revision: Int64, limit: Int64) async throws(EtcdError) -> EtcdRangeResult {
      reads.withLock { $0 += 1 }
      if readsFail.value { throw EtcdError(.unavailable, "no etcd endpoint answered") }
      return store.range(range, limit: limit)
    }

    func put(_ key: String, _ value: [UInt8], lease: Int64?) async throws(EtcdError) -> Int64 {
      try store.put(key, value, lease: lease, writer: "test")
    }

    func transaction(if compares: [EtcdCompare], then success: [EtcdOperation], else failure: [EtcdOperation])
      async throws(EtcdError) -> EtcdTransactionResult
    {
      let fault = faults.withLock { $0.isEmpty ? nil : $0.removeFirst() }
      if fault == .dropRequest { throw EtcdError(.unavailable, "the connection broke before the request left") }
      before(store)
      let result = try store.transaction(if: compares, then: success, else: failure, writer: "test")
      if fault == .loseAnswer { throw EtcdError(.unavailable, "Stream unexpectedly closed") }
      return result
    }

    func grantLease(ttl: Duration) async throws(EtcdError) -> EtcdLease {
      store.grantLease(ttl: ttl)
    }

    func withLease(ttl: Duration, _ body: @escaping @Sendable (EtcdLease) async throws -> Void) async throws {
      throw EtcdError(.internalError, "not simulated here")
    }

    func watch<Result: Sendable>(
      _ range: EtcdKeyRange, fromRevision startRevision: Int64, _ body: (EtcdWatchEvents) async throws -> Result
    ) async throws -> Result {
      throw EtcdError(.internalError, "not simulated here")
    }
  }

  static let puts: [(key: String, value: [UInt8])] = [("layout", Array("new".utf8)), ("other", Array("x".utf8))]

  @Test("applied, answer lost: read back as applied, written once, at the revision read back")
  func appliedAnswerLost() async throws {
    let etcd = ScriptedStore([.loseAnswer])
    let base = try etcd.store.put("layout", Array("old".utf8), lease: nil, writer: "seed")
    let result = try await etcd.conditionalPut(Self.puts, ifRevision: base, of: "layout")
    #expect(result == ConditionalPutResult(succeeded: true, revision: base + 1, readBack: true))
    #expect(etcd.store.revision == base + 1, "written once")
    #expect(etcd.store.value("layout")?.valueString == "new" && etcd.store.value("other")?.valueString == "x")
  }

  @Test("not applied (the request was lost, or etcd was down a while): sent again, applied once")
  func notAppliedResent() async throws {
    let etcd = ScriptedStore([.dropRequest, .dropRequest, .dropRequest, nil])
    // A generous settle timeout: the parallel suite can starve this task for seconds.
    let result = try await etcd.conditionalPut(Self.puts, ifRevision: 0, of: "layout", settleTimeout: .seconds(600))
    // drop (write), drop (read back), drop (read back), read back: unchanged, so the write goes again.
    #expect(result.succeeded && result.readBack == false)
    #expect(etcd.store.value("layout")?.valueString == "new")
    #expect(etcd.store.value("layout")?.version == 1, "written once")
  }

  @Test("not applied, and another writer moved the key meanwhile: false, as when the comparison fails")
  func otherWriterFirst() async throws {
    let etcd = ScriptedStore([.dropRequest]) { store in
      if store.value("layout")?.valueString == "old" { _ = try? store.put("layout", Array("theirs".utf8), lease: nil, writer: "other") }
    }
    let base = try etcd.store.put("layout", Array("old".utf8), lease: nil, writer: "seed")
    let result = try await etcd.conditionalPut(Self.puts, ifRevision: base, of: "layout")
    #expect(result == ConditionalPutResult(succeeded: false, revision: 0, readBack: true))
    #expect(etcd.store.value("layout")?.valueString == "theirs" && etcd.store.value("other") == nil)
  }

  @Test("applied, then another writer changed one of the keys: not claimed as ours")
  func appliedThenOverwritten() async throws {
    // The read back sees the layout moved and "other" not holding our value: someone else's state.
    let etcd = ScriptedStore([.loseAnswer]) { store in
      if store.value("layout")?.valueString == "new" { _ = try? store.put("other", Array("y".utf8), lease: nil, writer: "other") }
    }
    let result = try await etcd.conditionalPut(Self.puts, ifRevision: 0, of: "layout")
    #expect(result.succeeded == false && result.readBack)
  }

  @Test("etcd never answers again: the lost answer's error, after the settle timeout")
  func neverAnswers() async throws {
    let etcd = ScriptedStore(Array(repeating: .dropRequest, count: 1000))
    let clock = ContinuousClock()
    let start = clock.now
    await #expect(throws: EtcdError.self) {
      _ = try await etcd.conditionalPut(Self.puts, ifRevision: 0, of: "layout", settleTimeout: .milliseconds(300))
    }
    #expect(clock.now - start >= .milliseconds(300))
    #expect(etcd.store.value("layout") == nil)
  }
}
