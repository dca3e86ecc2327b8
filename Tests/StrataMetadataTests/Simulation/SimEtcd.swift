import StrataEtcd
import StrataMetadata
import Synchronization

/// An in-memory model of the part of etcd v3 that membership changes use, on a virtual clock:
///
/// - one store revision, bumped once by every put, by every transaction that changed a key, and by
///   every lease expiry that deleted keys; each key has its create and mod revision and version;
/// - transactions evaluate every comparison against the current state (a missing key has version,
///   create and mod revision 0; a value comparison on it is false), then run one branch at one
///   revision (a get sees the branch's earlier writes); a put attached to an unknown lease fails the
///   whole request (`.notFound`), as etcd does;
/// - a lease expires `ttl` (whole seconds, rounded up) after its grant or last keep-alive: the clock's
///   run loop calls `expireDue` at that instant and its keys are deleted at one revision;
/// - watches replay the history from their start revision, then get every later change, per revision.
///
/// Requests come through `SimEtcdClient` (one per simulated process); every commit is handed to
/// `observer` right after it is applied, before any other job runs, so a checker sees the world as it
/// was at that revision.
final class SimEtcd: Sendable {
  /// One committed change.
  struct Commit: Sendable {
    var revision: Int64
    var time: VirtualClock.Instant
    /// The client that made it ("n2/driver", "admin"), or "lease <id> expired".
    var writer: String
    var events: [EtcdEvent]
    /// The comparisons of the transaction that made it (empty for a put or an expiry).
    var compares: [EtcdCompare]
  }

  private struct Lease {
    var ttl: Duration
    var expiry: VirtualClock.Instant
    var keys: Set<String> = []
  }

  private struct State {
    var revision: Int64 = 1
    var kvs: [String: EtcdKeyValue] = [:]
    /// Every key written so far, as bytes (what ranges compare).
    var keyBytes: [String: [UInt8]] = [:]
    var leases: [Int64: Lease] = [:]
    var nextLease: Int64 = 0x1000
    var history: [EtcdEvent] = []
    var watchers: [Int: (range: EtcdKeyRange, sink: AsyncStream<[EtcdEvent]>.Continuation)] = [:]
    var nextWatcher = 0
    /// When each key that was deleted was deleted last (a key never written: absent since 0).
    var deletedAt: [String: VirtualClock.Instant] = [:]
    var requests = 0
  }

  let clock: VirtualClock
  private let state = Mutex(State())
  private let observer = Locked<(@Sendable (Commit) -> Void)?>(nil)

  init(clock: VirtualClock) {
    self.clock = clock
  }

  func observe(_ body: @escaping @Sendable (Commit) -> Void) {
    observer.withLock { $0 = body }
  }

  // MARK: Requests (called by `SimEtcdClient` once a request arrives)

  func range(_ range: EtcdKeyRange, limit: Int64) -> EtcdRangeResult {
    state.withLock { s in
      s.requests += 1
      return Self.read(range, limit: limit, in: s)
    }
  }

  func put(_ key: String, _ value: [UInt8], lease: Int64?, writer: String) throws(EtcdError) -> Int64 {
    let result = try transaction(if: [], then: [.put(key: key, value: value, lease: lease)], else: [], writer: writer)
    return result.revision
  }

  func transaction(
    if compares: [EtcdCompare], then success: [EtcdOperation], else failure: [EtcdOperation], writer: String
  ) throws(EtcdError) -> EtcdTransactionResult {
    let now = clock.now
    let outcome = state.withLock { s -> Result<(EtcdTransactionResult, Commit?, [Delivery]), EtcdError> in
      s.requests += 1
      let succeeded = compares.allSatisfy { Self.holds($0, s.kvs[$0.key]) }
      let operations = succeeded ? success : failure
      for case .put(_, _, let lease?) in operations where lease != 0 && s.leases[lease] == nil {
        return .failure(EtcdError(.notFound, "etcdserver: requested lease not found (\(lease))"))
      }
      let revision = s.revision + 1
      var responses: [EtcdTransactionResult.Response] = []
      var events: [EtcdEvent] = []
      for operation in operations {
        switch operation {
        case .get(let range):
          var read = Self.read(range, limit: 0, in: s)
          read.revision = events.isEmpty ? s.revision : revision
          responses.append(.get(read))
        case .put(let key, let value, let lease):
          events.append(Self.put(key, value, lease: lease ?? 0, at: revision, in: &s))
          responses.append(.put)
        case .delete(let range):
          let gone = Self.keys(in: range, of: s)
          for key in gone { events.append(Self.delete(key, at: revision, now: now, in: &s)) }
          responses.append(.delete(deleted: Int64(gone.count)))
        }
      }
      guard !events.isEmpty else {
        return .success((EtcdTransactionResult(succeeded: succeeded, revision: s.revision, responses: responses), nil, []))
      }
      s.revision = revision
      let deliveries = Self.record(events, in: &s)
      let commit = Commit(revision: revision, time: now, writer: writer, events: events, compares: compares)
      return .success((EtcdTransactionResult(succeeded: succeeded, revision: revision, responses: responses), commit, deliveries))
    }
    let (result, commit, deliveries) = try outcome.get()
    publish(commit, deliveries)
    return result
  }

  func grantLease(ttl: Duration) -> EtcdLease {
    let now = clock.now
    return state.withLock { s in
      s.requests += 1
      let (seconds, attoseconds) = ttl.components
      let granted = Duration.seconds(max(1, seconds + (attoseconds > 0 ? 1 : 0)))
      s.nextLease += 1
      s.leases[s.nextLease] = Lease(ttl: granted, expiry: now + granted)
      return EtcdLease(id: s.nextLease, ttl: granted)
    }
  }

  func keepAlive(_ lease: Int64) throws(EtcdError) {
    let now = clock.now
    let found = state.withLock { s -> Bool in
      s.requests += 1
      guard let ttl = s.leases[lease]?.ttl else { return false }
      s.leases[lease]!.expiry = now + ttl
      return true
    }
    guard found else { throw EtcdError(.leaseExpired, "lease \(lease) expired or was revoked") }
  }

  /// Registers a watch of `range` from `start` (0: from the next revision) and replays the history it
  /// asks for.
  func watch(_ range: EtcdKeyRange, from start: Int64) -> (id: Int, events: AsyncStream<[EtcdEvent]>) {
    let (stream, sink) = AsyncStream.makeStream(of: [EtcdEvent].self)
    let id = state.withLock { s in
      s.nextWatcher += 1
      s.watchers[s.nextWatcher] = (range, sink)
      let first = start == 0 ? s.revision + 1 : start
      var batch: [EtcdEvent] = []
      for event in s.history where event.revision >= first && range.contains(Array(event.keyValue.key.utf8)) {
        if let last = batch.last, last.revision != event.revision {
          sink.yield(batch)
          batch = []
        }
        batch.append(event)
      }
      if !batch.isEmpty { sink.yield(batch) }
      return s.nextWatcher
    }
    return (id, stream)
  }

  func cancelWatch(_ id: Int) {
    let sink = state.withLock { $0.watchers.removeValue(forKey: id)?.sink }
    sink?.finish()
  }

  // MARK: Leases (called by the run loop)

  /// When the next lease runs out.
  var nextExpiry: VirtualClock.Instant? {
    state.withLock { s in
      var next: VirtualClock.Instant?
      for lease in s.leases.values where next == nil || lease.expiry < next! { next = lease.expiry }
      return next
    }
  }

  /// Expires every lease whose time has come (earliest first): its keys are deleted at one revision.
  func expireDue() {
    let now = clock.now
    while true {
      let outcome = state.withLock { s -> (Commit?, [Delivery])? in
        guard let (id, lease) = s.leases.filter({ $0.value.expiry <= now }).min(by: { ($0.value.expiry, $0.key) < ($1.value.expiry, $1.key) })
        else { return nil }
        s.leases[id] = nil
        let keys = lease.keys.filter { s.kvs[$0]?.lease == id }.sorted(by: Self.keyOrder)
        guard !keys.isEmpty else { return (nil, []) }
        s.revision += 1
        let revision = s.revision
        let events = keys.map { Self.delete($0, at: revision, now: now, in: &s) }
        let deliveries = Self.record(events, in: &s)
        return (Commit(revision: revision, time: now, writer: "lease \(id) expired", events: events, compares: []), deliveries)
      }
      guard let (commit, deliveries) = outcome else { return }
      publish(commit, deliveries)
    }
  }

  // MARK: Inspection (checker and scenario; no latency, not counted)

  var revision: Int64 { state.withLock { $0.revision } }
  var requests: Int { state.withLock { $0.requests } }

  func value(_ key: String) -> EtcdKeyValue? { state.withLock { $0.kvs[key] } }

  func keys(withPrefix prefix: String) -> [EtcdKeyValue] {
    state.withLock { Self.read(.prefix(prefix), limit: 0, in: $0).keyValues }
  }

  /// How long `key` has been absent (since it was deleted, or since time 0 if it never existed); nil
  /// while it exists.
  func absentFor(_ key: String) -> Duration? {
    let now = clock.now
    return state.withLock { s in
      guard s.kvs[key] == nil else { return nil }
      return (s.deletedAt[key] ?? VirtualClock.Instant(offset: .zero)).duration(to: now)
    }
  }

  /// Writes `value` outside any client (the cluster's initial layout).
  func seed(_ key: String, _ value: [UInt8]) {
    _ = try? put(key, value, lease: nil, writer: "setup")
  }

  // MARK: Internals

  private typealias Delivery = (sink: AsyncStream<[EtcdEvent]>.Continuation, events: [EtcdEvent])

  private func publish(_ commit: Commit?, _ deliveries: [Delivery]) {
    for delivery in deliveries { delivery.sink.yield(delivery.events) }
    if let commit, let observer = observer.value { observer(commit) }
  }

  private static func record(_ events: [EtcdEvent], in s: inout State) -> [Delivery] {
    s.history.append(contentsOf: events)
    return s.watchers.keys.sorted().compactMap { id in
      let watcher = s.watchers[id]!
      let mine = events.filter { watcher.range.contains(Array($0.keyValue.key.utf8)) }
      return mine.isEmpty ? nil : (watcher.sink, mine)
    }
  }

  private static func put(_ key: String, _ value: [UInt8], lease: Int64, at revision: Int64, in s: inout State) -> EtcdEvent {
    let old = s.kvs[key]
    if let old, old.lease != 0, old.lease != lease { s.leases[old.lease]?.keys.remove(key) }
    if lease != 0 { s.leases[lease]?.keys.insert(key) }
    if s.keyBytes[key] == nil { s.keyBytes[key] = Array(key.utf8) }
    let kv = EtcdKeyValue(
      key: key, value: value, createRevision: old?.createRevision ?? revision, modRevision: revision,
      version: (old?.version ?? 0) + 1, lease: lease)
    s.kvs[key] = kv
    return EtcdEvent(kind: .put, keyValue: kv)
  }

  private static func delete(_ key: String, at revision: Int64, now: VirtualClock.Instant, in s: inout State) -> EtcdEvent {
    if let old = s.kvs.removeValue(forKey: key), old.lease != 0 { s.leases[old.lease]?.keys.remove(key) }
    s.deletedAt[key] = now
    return EtcdEvent(kind: .delete, keyValue: EtcdKeyValue(key: key, value: [], createRevision: 0, modRevision: revision, version: 0, lease: 0))
  }

  /// The keys in `range`, in etcd's (bytewise) order. (Keys are ASCII here: `String`'s order and
  /// `hasPrefix` are the bytewise ones, and much cheaper.)
  private static func keys(in range: EtcdKeyRange, of s: State) -> [String] {
    let start = String(decoding: range.key, as: UTF8.self)
    if range.rangeEnd.isEmpty { return s.kvs[start] == nil ? [] : [start] }
    if range == .prefix(start) { return s.kvs.keys.filter { $0.hasPrefix(start) }.sorted() }
    return s.kvs.keys.filter { range.contains(s.keyBytes[$0]!) }.sorted { s.keyBytes[$0]!.lexicographicallyPrecedes(s.keyBytes[$1]!) }
  }

  private static func read(_ range: EtcdKeyRange, limit: Int64, in s: State) -> EtcdRangeResult {
    let all = keys(in: range, of: s).map { s.kvs[$0]! }
    let kept = limit > 0 ? Array(all.prefix(Int(limit))) : all
    return EtcdRangeResult(revision: s.revision, keyValues: kept, more: kept.count < all.count, count: Int64(all.count))
  }

  private static func keyOrder(_ a: String, _ b: String) -> Bool { Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8)) }

  private static func holds(_ compare: EtcdCompare, _ kv: EtcdKeyValue?) -> Bool {
    func relate<T: Comparable>(_ a: T, _ b: T) -> Bool {
      switch compare.relation {
      case .equal: a == b
      case .notEqual: a != b
      case .less: a < b
      case .greater: a > b
      }
    }
    switch compare.target {
    case .modRevision(let r): return relate(kv?.modRevision ?? 0, r)
    case .createRevision(let r): return relate(kv?.createRevision ?? 0, r)
    case .version(let v): return relate(kv?.version ?? 0, v)
    case .value(let v):
      guard let kv else { return false }
      switch compare.relation {
      case .equal: return kv.value == v
      case .notEqual: return kv.value != v
      case .less: return kv.value.lexicographicallyPrecedes(v)
      case .greater: return v.lexicographicallyPrecedes(kv.value)
      }
    }
  }
}

/// Whether a simulated process is up: its requests fail once it crashed, so nothing it sends after
/// the crash is applied (one in flight is applied if it arrived before).
final class SimSession: Sendable {
  let incarnation: Int
  private let up = Locked(true)

  init(incarnation: Int) {
    self.incarnation = incarnation
  }

  var isUp: Bool { up.value }
  func close() { up.withLock { $0 = false } }
}

/// One simulated process's etcd client: `MetadataStore` over `SimEtcd`. Every request and every answer
/// takes `latency()` of virtual time; a request of a closed session fails (`.unavailable`) without
/// being applied. Keep-alives and watches mirror `EtcdClient`'s (`withLease` renews every TTL / 3 and
/// throws `.leaseExpired` once the lease is gone; a watch delivers each revision's events together).
struct SimEtcdClient: MetadataStore {
  let store: SimEtcd
  /// "n2/driver": who the commits are attributed to.
  let name: String
  let session: SimSession?
  let latency: @Sendable () -> Duration
  /// Drawn for each transaction that writes: true loses etcd's answer after the write was applied
  /// (what a connection that breaks while the answer travels does): the caller gets `.unavailable`.
  var loseAnswer: @Sendable () -> Bool = { false }

  var clock: VirtualClock { store.clock }

  private func travel() async throws(EtcdError) {
    do {
      try await clock.sleep(for: latency())
    } catch {
      throw EtcdError(.cancelled, "\(name): the request was cancelled")
    }
  }

  private func request<T>(_ body: () throws(EtcdError) -> T) async throws(EtcdError) -> T {
    try await travel()
    guard session?.isUp ?? true else { throw EtcdError(.unavailable, "\(name): this process is down") }
    let answer = try body()
    try await travel()
    return answer
  }

  func get(_ range: EtcdKeyRange, revision: Int64, limit: Int64) async throws(EtcdError) -> EtcdRangeResult {
    guard revision == 0 else { throw EtcdError(.invalidArgument, "the model reads the latest revision only") }
    return try await request { store.range(range, limit: limit) }
  }

  func put(_ key: String, _ value: [UInt8], lease: Int64?) async throws(EtcdError) -> Int64 {
    try await request { () throws(EtcdError) in try store.put(key, value, lease: lease, writer: name) }
  }

  func transaction(if compares: [EtcdCompare], then success: [EtcdOperation], else failure: [EtcdOperation])
    async throws(EtcdError) -> EtcdTransactionResult
  {
    let result = try await request { () throws(EtcdError) in
      try store.transaction(if: compares, then: success, else: failure, writer: name)
    }
    let writes = (success + failure).contains { if case .get = $0 { false } else { true } }
    if writes, loseAnswer() {
      throw EtcdError(.unavailable, "\(name): the connection broke before etcd's answer arrived (the write was applied)")
    }
    return result
  }

  func grantLease(ttl: Duration) async throws(EtcdError) -> EtcdLease {
    try await request { () throws(EtcdError) in store.grantLease(ttl: ttl) }
  }

  func withLease(ttl: Duration, _ body: @escaping @Sendable (EtcdLease) async throws -> Void) async throws {
    let lease = try await request { store.grantLease(ttl: ttl) }
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await self.keepAlive(lease) }
      group.addTask { try await body(lease) }
      try await group.next()
      group.cancelAll()
    }
  }

  /// Renews every TTL / 3 until cancelled; throws `.leaseExpired` when the lease is gone.
  private func keepAlive(_ lease: EtcdLease) async throws {
    while !Task.isCancelled {
      do {
        try await clock.sleep(for: lease.ttl / 3)
      } catch {
        return
      }
      do {
        try await request { () throws(EtcdError) in try store.keepAlive(lease.id) }
      } catch where error.code == .leaseExpired {
        throw error
      } catch {
        if Task.isCancelled { return }
      }
    }
  }

  func watch<Result: Sendable>(
    _ range: EtcdKeyRange, fromRevision startRevision: Int64, _ body: (EtcdWatchEvents) async throws -> Result
  ) async throws -> Result {
    try await travel()
    guard session?.isUp ?? true else { throw EtcdError(.unavailable, "\(name): this process is down") }
    let (id, batches) = store.watch(range, from: startRevision)
    defer { store.cancelWatch(id) }
    try await travel()
    let (events, sink) = AsyncThrowingStream.makeStream(of: EtcdEvent.self)
    return try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
      group.addTask {
        for await batch in batches {
          try? await clock.sleep(for: latency())
          guard !Task.isCancelled else { break }
          for event in batch { sink.yield(event) }
        }
        sink.finish()
      }
      defer { group.cancelAll() }
      return try await body(EtcdWatchEvents(events))
    }
  }
}
