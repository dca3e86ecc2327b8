public import StrataCore
public import StrataStorage
internal import StrataEtcd
internal import Synchronization
public import Logging

/// The idempotency keys of pushed event batches, in etcd, for a cluster whose metadata is there: one
/// record per key (`IdempotencyRecord`, at `MetadataKeys.idempotency(key:)`), so that a batch resent
/// with the same key to any node (its first coordinator died, the client failed over) gets the first
/// attempt's stamp (created time and write ids) and its rows are stored once on every replica, and
/// one acknowledged before is answered as a duplicate with its first counts.
///
/// A claim reads the key; a key not recorded yet gets a stamp from this node's write-id clock
/// (`reserve`) and is recorded on condition that it is still absent, so of two nodes claiming it at
/// once exactly one records its stamp and both apply that one (the rows are then the same rows: storing
/// them twice stores them once). A lost answer from etcd is settled by reading back
/// (`MetadataStore.conditionalPut`). Records are attached to a lease of `retention` plus one hour,
/// one lease per hour of claims: a key is remembered for at least `retention` and at most an hour more.
///
/// The rules are `IdempotencyKeys`'s: a key being applied by another call of this node is UNAVAILABLE
/// (calls on two nodes with the same key may both apply it, with the same stamp).
///
/// etcd unreachable (its first read of a key fails): pushes go on, as writes do, with the key recorded
/// in `fallback` (this node's catalog) instead, logged once per outage: meanwhile a batch is stored once
/// only if resent to the same node. Once an outage is known, claims do not wait for etcd (a hung etcd
/// would cost each its request timeout): one read at a time, every `recheck`, probes it in the
/// background, and claims go to etcd again once one answers. etcd failing later in a claim (after the
/// read) is UNAVAILABLE, and the batch can be resent with the same key.
public final class EtcdIdempotencyKeys: IdempotencyKeys {
  let etcd: any MetadataStore
  let keys: MetadataKeys
  let retention: Duration
  /// A stamp for a batch of the given number of rows from this node's write-id clock
  /// (`FeatureStore.reserveIdempotencyStamp`).
  let reserve: @Sendable (Int) async throws -> IdempotencyStamp
  /// Seconds since the epoch, for the hour of a claim's lease.
  let nowSeconds: @Sendable () -> Int64
  private let inFlight = IdempotencyKeysInFlight()
  /// Where keys are recorded while etcd does not answer (nil: such claims are UNAVAILABLE).
  let fallback: (any IdempotencyKeys)?
  let logger: Logger
  /// The keys claimed through `fallback` and not completed or released yet.
  private let fallbackKeys = Mutex<Set<String>>([])
  /// The records of keys this node claimed in etcd lately (two generations of at most 50,000), so
  /// that a batch retried through this node while etcd does not answer keeps its first stamp.
  private let recent = Mutex(RecentRecords())
  /// Whether etcd is known to be unreachable (the outage was logged), and its background probe.
  private struct Outage {
    var known = false
    var probing = false
    var lastProbe: ContinuousClock.Instant?
  }
  private let outage = Mutex(Outage())
  /// How often a known outage is probed.
  let recheck: Duration
  /// The lease of the records claimed in one hour.
  struct HourLease: Sendable {
    var hour: Int64
    var id: Int64
  }
  /// The lease of the records claimed in the current hour.
  private let hourLease = Mutex<HourLease?>(nil)

  public init(
    etcd: any MetadataStore, keys: MetadataKeys, retention: Duration = .seconds(86_400),
    nowSeconds: @escaping @Sendable () -> Int64, reserve: @escaping @Sendable (Int) async throws -> IdempotencyStamp,
    fallback: (any IdempotencyKeys)? = nil, recheck: Duration = .seconds(2),
    logger: Logger = Logger(label: "strata.idempotency")
  ) {
    self.recheck = recheck
    self.etcd = etcd
    self.keys = keys
    self.retention = retention
    self.nowSeconds = nowSeconds
    self.reserve = reserve
    self.fallback = fallback
    self.logger = logger
  }

  public func claim(key: String, digest: UInt64, count: Int) async throws -> IdempotencyClaim {
    try inFlight.take(key)
    let path = keys.idempotency(key: key)
    if let fallback, outage.withLock({ $0.known }) {
      probe(path)
      return try await claimWhileUnreachable(key: key, digest: digest, count: count, fallback: fallback)
    }
    let read: Result<EtcdKeyValue?, EtcdError> = await Self.result { () async throws(EtcdError) -> EtcdKeyValue? in
      try await self.etcd.get(path)
    }
    if case .failure(let error) = read, let fallback, error.code == .unavailable || error.code == .deadlineExceeded {
      let known = outage.withLock { o -> Bool in
        defer {
          o.known = true
          o.lastProbe = .now
        }
        return o.known
      }
      if !known {
        logger.warning(
          "etcd does not answer: idempotency keys are recorded on this node until it does (a batch is stored once only if resent to the same node meanwhile)",
          metadata: ["strata.error": "\(error)"])
      }
      return try await claimWhileUnreachable(key: key, digest: digest, count: count, fallback: fallback)
    }
    if case .success = read { answered() }
    do {
      let claim = try await claimInEtcd(key: key, digest: digest, count: count, existing: try read.get())
      if case .applied = claim { release(key: key) }
      return claim
    } catch {
      release(key: key)
      throw Self.strataError(error, doing: "recording idempotency key '\(key.prefix(64))'")
    }
  }

  /// The claim of `key` while etcd does not answer: a key this node claimed in etcd before keeps its
  /// stamp (its answer is recorded when etcd is back), any other goes to `fallback`.
  private func claimWhileUnreachable(
    key: String, digest: UInt64, count: Int, fallback: any IdempotencyKeys
  ) async throws -> IdempotencyClaim {
    if let record = recent.withLock({ $0.value(key) }) {
      do {
        let claim = try record.claim(key: key, digest: digest, count: count)
        if case .applied = claim { inFlight.release(key) }
        return claim
      } catch {
        inFlight.release(key)
        throw error
      }
    }
    inFlight.release(key)
    fallbackKeys.withLock { _ = $0.insert(key) }
    do {
      return try await fallback.claim(key: key, digest: digest, count: count)
    } catch {
      fallbackKeys.withLock { _ = $0.remove(key) }
      throw error
    }
  }

  /// During a known outage, reads `path` in the background (one read at a time, one every
  /// `recheck`); the outage ends when one answers.
  private func probe(_ path: String) {
    let start = outage.withLock { o -> Bool in
      guard o.known, !o.probing, o.lastProbe.map({ ContinuousClock.now - $0 >= recheck }) ?? true else { return false }
      o.probing = true
      o.lastProbe = .now
      return true
    }
    guard start else { return }
    Task.detached { [self] in
      let read: Result<EtcdKeyValue?, EtcdError> = await Self.result { () async throws(EtcdError) -> EtcdKeyValue? in
        try await self.etcd.get(path)
      }
      outage.withLock {
        $0.probing = false
        $0.lastProbe = .now
      }
      if case .success = read { answered() }
    }
  }

  /// etcd answered: a known outage is over.
  private func answered() {
    if outage.withLock({ o in defer { o = Outage() }; return o.known }) {
      logger.notice("etcd answers again: idempotency keys are recorded in etcd")
    }
  }

  public func complete(key: String, eventsWritten: UInt64, lateEvents: UInt64) async throws {
    if let fallback, fallbackKeys.withLock({ $0.remove(key) != nil }) {
      return try await fallback.complete(key: key, eventsWritten: eventsWritten, lateEvents: lateEvents)
    }
    defer { release(key: key) }
    recent.withLock { $0.done(key, (eventsWritten, lateEvents)) }
    // While etcd is known not to answer, the answer is not sent to wait for it (see below).
    guard !outage.withLock({ $0.known }) else { return }
    do {
      try await record(done: (eventsWritten, lateEvents), key: key)
    } catch {
      // The batch is stored: its answer is not failed for this. A retry gets `.apply` with the same
      // stamp and stores the same rows again (kept once), instead of `.applied`.
      logger.warning(
        "could not record in etcd that a batch with an idempotency key was stored",
        metadata: ["strata.key": "\(key.prefix(64))", "strata.error": "\(error)"])
    }
  }

  /// Adds the counts of the acknowledged batch to `key`'s record, under the record's lease. A record
  /// whose lease ran out meanwhile is forgotten anyway: nothing is written.
  private func record(done: (events: UInt64, late: UInt64), key: String) async throws {
    let path = keys.idempotency(key: key)
    guard let kv = try await etcd.get(path) else { return }
    var record = try IdempotencyRecord(decoding: kv.value)
    record.done = done
    let lease: Int64? = kv.lease == 0 ? nil : kv.lease
    let bytes: [UInt8] = record.encoded
    let result: Result<Int64, EtcdError> = await Self.result { () async throws(EtcdError) -> Int64 in
      try await self.etcd.put(path, bytes, lease: lease)
    }
    if case .failure(let error) = result, error.code != .notFound { throw error }
  }

  /// `body`'s value or error.
  private static func result<T>(_ body: () async throws(EtcdError) -> T) async -> Result<T, EtcdError> {
    do {
      return .success(try await body())
    } catch {
      return .failure(error)
    }
  }

  /// The keys this node's calls are applying now.
  var inFlightKeys: Set<String> { inFlight.held }

  public func release(key: String) {
    if let fallback, fallbackKeys.withLock({ $0.remove(key) != nil }) { return fallback.release(key: key) }
    inFlight.release(key)
  }

  /// The claim of `key`, whose record etcd answered with `existing` (nil: none).
  private func claimInEtcd(key: String, digest: UInt64, count: Int, existing: EtcdKeyValue?) async throws -> IdempotencyClaim {
    let path = keys.idempotency(key: key)
    if let kv = existing {
      let record = try IdempotencyRecord(decoding: kv.value)
      let claim = try record.claim(key: key, digest: digest, count: count)
      recent.withLock { $0.store(key, record) }
      return claim
    }
    let stamp = try await reserve(count)
    let record = IdempotencyRecord(digest: digest, stamp: stamp, recordedAt: stamp.createdTime, done: nil)
    let leaseID: Int64 = try await lease()
    let puts: [(key: String, value: [UInt8])] = [(key: path, value: record.encoded)]
    let written: ConditionalPutResult = try await etcd.conditionalPut(puts, ifRevision: 0, of: path, lease: leaseID)
    if written.succeeded {
      recent.withLock { $0.store(key, record) }
      return .apply(stamp)
    }
    // Another node recorded the key first: its stamp.
    guard let kv = try await etcd.get(path) else {
      throw StrataError.unavailable("idempotency key '\(key.prefix(64))' was recorded by another call and is gone again; retry")
    }
    return try IdempotencyRecord(decoding: kv.value).claim(key: key, digest: digest, count: count)
  }

  /// The lease of this hour's records (granted on its first claim).
  private func lease() async throws -> Int64 {
    let hour: Int64 = nowSeconds() / 3_600
    let current: HourLease? = hourLease.withLock { $0 }
    if let current, current.hour == hour { return current.id }
    let ttl: Duration = retention + Duration.seconds(3_600)
    let granted: EtcdLease = try await etcd.grantLease(ttl: ttl)
    hourLease.withLock { $0 = HourLease(hour: hour, id: granted.id) }
    return granted.id
  }

  static func strataError(_ error: any Error, doing what: String) -> any Error {
    if error is StrataError { return error }
    if let error = error as? EtcdError {
      return StrataError.unavailable("etcd did not answer \(what): \(error); send the batch again with the same key")
    }
    return error
  }

  /// Recently claimed records by key: two generations of at most `capacity` entries each (when the
  /// current one fills up it becomes the previous one and the one before is dropped).
  struct RecentRecords {
    static let capacity = 50_000
    private var current: [String: IdempotencyRecord] = [:]
    private var previous: [String: IdempotencyRecord] = [:]

    func value(_ key: String) -> IdempotencyRecord? { current[key] ?? previous[key] }

    mutating func store(_ key: String, _ record: IdempotencyRecord) {
      if current.count >= Self.capacity, current[key] == nil {
        previous = current
        current = [:]
      }
      current[key] = record
    }

    mutating func done(_ key: String, _ counts: (events: UInt64, late: UInt64)) {
      guard var record = value(key) else { return }
      record.done = counts
      store(key, record)
    }
  }
}
