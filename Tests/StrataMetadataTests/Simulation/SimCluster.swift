import Foundation
import Logging
import StrataCore
import StrataEtcd
import StrataMetadata
import StrataTestSupport

/// The knobs of a simulated cluster (virtual time throughout).
struct SimConfig: Sendable {
  /// `--cleanup-grace`.
  var cleanupGrace: Duration = .seconds(5)
  /// Faults (crashes, driver deaths, slow applies and starts) happen until this time.
  var faultWindow: ClosedRange<Int> = 10...45
  /// The bound stated for liveness: once the last fault is over (the last crashed node restarted), a
  /// change completes within this much virtual time.
  var livenessBound: Duration = .seconds(45)
  /// An add whose new node never starts is aborted this long after it was recorded.
  var abortStuckAfter: Duration = .seconds(20)
  /// How long a slow start (1 in 4 while faults happen) opens its storage, in milliseconds: up to twice
  /// the driver's grace (a node reads the layout again before it serves, `MembershipSimulationTests.slowRestart`).
  var slowStart: ClosedRange<Int> = 1000...6000
  /// Whether the first two layouts a process applies (the one it started with, the one its follower
  /// catches up with) are applied quickly, however slow its later applies: with `slowStart` below the
  /// grace, this keeps a restarted node's first `layout-applied` within the driver's grace of its old
  /// lease running out, which the protocol assumes (`MembershipSimulationTests.slowRestart`).
  var quickFirstApplies = true
  /// `MembershipChecker.strict`.
  var strictChecks = false
  /// While faults happen, 1 in 8 transactions that write loses etcd's answer after it was applied.
  var lostAnswers = true
}

/// A simulated cluster: nodes that each run the real `MembershipDriver` and `EtcdLayoutFollower` over a
/// `SimEtcdClient`, with a simulated `MembershipWorker` (applies a layout after a delay, "receives" its
/// ranges and "cleans up" in some virtual time, writing the same done markers), faults drawn from a
/// seeded generator, and `MembershipChecker` watching every layout write.
final class SimCluster: Sendable {
  let keys = MetadataKeys(clusterName: "sim")
  let config: SimConfig
  let clock: VirtualClock
  let store: SimEtcd
  let executor = SimExecutor()
  let trace: SimTrace
  let checker: MembershipChecker
  let seed: UInt64
  private let rng: Locked<SplitMix64>
  private let nodes = Locked<[String: SimNode]>([:])
  /// Until when faults happen, when the last one (a crash or a restart) happened, and how many crashed
  /// nodes are still to restart.
  private let faults = Locked<(until: VirtualClock.Instant, last: VirtualClock.Instant, pendingRestarts: Int)>(
    (VirtualClock.Instant(offset: .zero), VirtualClock.Instant(offset: .zero), 0))
  private let tasks = Locked<[Task<Void, Never>]>([])
  /// The log of what nobody in particular does (the commands).
  let logger: Logger

  /// The wall clock of every node: a fixed date plus the virtual time.
  let wallClockMicros: @Sendable () -> Int64

  init(seed: UInt64, config: SimConfig = SimConfig()) {
    self.seed = seed
    self.config = config
    let clock = VirtualClock()
    self.clock = clock
    store = SimEtcd(clock: clock)
    trace = SimTrace(clock: clock)
    rng = Locked(SplitMix64(seed: seed))
    wallClockMicros = { 1_800_000_000_000_000 + clock.now.offset.components.seconds * 1_000_000 + clock.now.offset.components.attoseconds / 1_000_000_000_000 }
    checker = MembershipChecker(keys: keys, store: store, trace: trace, strict: config.strictChecks, wallClockMicros: wallClockMicros)
    logger = Self.logger(trace, label: "admin")
  }

  /// A logger whose lines (info and up) go to the trace, prefixed with `label`.
  static func logger(_ trace: SimTrace, label: String) -> Logger {
    Logger(label: label) { label in SimLogHandler(trace: trace, label: label) }
  }

  // MARK: Randomness and time

  func below(_ n: Int) -> Int { rng.withLock { $0.below(n) } }
  func oneIn(_ n: Int) -> Bool { below(n) == 0 }
  func millis(_ range: ClosedRange<Int>) -> Duration { .milliseconds(range.lowerBound + below(range.count)) }

  /// How long a request or an answer travels: a few milliseconds, now and then much more.
  func latency() -> Duration { oneIn(40) ? millis(20...300) : millis(1...5) }

  var faultsActive: Bool { clock.now < faults.value.until }
  func noteFault() { faults.withLock { $0.last = clock.now } }
  var lastFault: VirtualClock.Instant { faults.value.last }
  /// Faults are over and every node they crashed restarted.
  var quiet: Bool { !faultsActive && faults.value.pendingRestarts == 0 }

  func sleep(_ duration: Duration) async throws { try await clock.sleep(for: duration) }

  /// Starts `body` as a task of the simulation (cancelled when the simulation stops).
  @discardableResult
  func spawn(_ body: @escaping @Sendable () async -> Void) -> Task<Void, Never> {
    let task = Task(executorPreference: executor) { await body() }
    tasks.withLock { $0.append(task) }
    return task
  }

  func client(_ name: String, session: SimSession?) -> SimEtcdClient {
    var client = SimEtcdClient(
      store: store, name: name, session: session, latency: { [weak self] in self?.latency() ?? .milliseconds(1) })
    client.loseAnswer = { [weak self] in
      guard let self, config.lostAnswers, faultsActive else { return false }
      return oneIn(8)
    }
    return client
  }

  var admin: MembershipChanges {
    MembershipChanges(etcd: client("admin", session: nil), keys: keys, logger: logger, wallClockMicros: wallClockMicros)
  }

  func node(_ id: String) -> SimNode? { nodes.value[id] }
  var allNodes: [SimNode] { nodes.value.sorted { $0.key < $1.key }.map(\.value) }

  func addNode(_ id: String) -> SimNode {
    let number = Int(id.dropFirst()) ?? 0
    let member = ClusterLayout.Member(id: id, host: "10.0.0.\(number)", port: 7400, internodePort: 7500, zone: "")
    let node = SimNode(member: member, cluster: self)
    nodes.withLock { $0[id] = node }
    return node
  }

  /// The layout now (no latency: the scenario's eye, not a client).
  var layout: (ClusterLayout, Int64)? {
    guard let kv = store.value(keys.layout) else { return nil }
    if let cached = lastLayout.value, cached.1 == kv.modRevision { return cached }
    let decoded = (try! JSONDecoder().decode(ClusterLayout.self, from: Data(kv.value)), kv.modRevision)
    lastLayout.withLock { $0 = decoded }
    return decoded
  }
  private let lastLayout = Locked<(ClusterLayout, Int64)?>(nil)

  // MARK: Running

  /// Runs `scenario` on the virtual clock; violations, or the reason the run stopped.
  func run(_ scenario: @escaping @Sendable (SimCluster) async -> Void) async -> [String] {
    let outcome = await Simulation.run(
      executor: executor, clock: clock, timeLimit: .seconds(3600),
      nextEvent: { [store] in store.nextExpiry }, fire: { [store] _ in store.expireDue() },
      stopAll: { [self] in
        for node in allNodes { node.crash(permanently: true, quietly: true) }
        for task in tasks.value { task.cancel() }
      }
    ) { [self] in
      await scenario(self)
    }
    var problems = checker.violations
    if let failure = outcome.failure { problems.append(failure) }
    return problems
  }

  /// Faults until `until`: every few seconds a node crashes (now and then the one driving the change)
  /// and restarts some seconds later.
  func startFaults(until: VirtualClock.Instant) {
    faults.withLock { $0.until = until }
    trace.log("faults until \(until) s")
    spawn { [self] in
      while true {
        do { try await sleep(millis(500...6000)) } catch { return }
        guard faultsActive else { break }
        let up = allNodes.filter { $0.isUp }
        var victim: SimNode?
        switch below(10) {
        case 0..<4: victim = up.isEmpty ? nil : up[below(up.count)]
        case 4..<7:
          let driver = store.value(keys.changeDriver)?.valueString
          victim = up.first { $0.id == driver }
        default: break
        }
        guard let victim else { continue }
        let role = store.value(keys.changeDriver)?.valueString == victim.id ? " (driving)" : ""
        trace.log("FAULT crash \(victim.id)\(role)")
        victim.crash(permanently: false)
        noteFault()
        let downFor = millis(1000...12000)
        faults.withLock { $0.pendingRestarts += 1 }
        spawn { [self] in
          do { try await sleep(downFor) } catch { return }
          if victim.restart() { noteFault() }
          faults.withLock { $0.pendingRestarts -= 1 }
        }
      }
      trace.log("faults over")
    }
  }
}

/// One simulated node: a process that can crash and restart. Each start mirrors `strata serve
/// --etcd`: read the layout (`EtcdMembership`), open the storage (a delay), read the layout again
/// (`StrataNode.currentLayout`), serve by that layout, apply it, then follow the layout and run the
/// driver until the process stops.
final class SimNode: Sendable {
  enum Status: Sendable { case down, starting, serving, gone }

  private struct State {
    var status = Status.down
    var incarnation = 0
    var session: SimSession?
    var root: Task<Void, Never>?
    var worker: SimWorker?
  }

  let member: ClusterLayout.Member
  var id: String { member.id }
  unowned let cluster: SimCluster
  let logger: Logger
  private let state = Locked(State())

  init(member: ClusterLayout.Member, cluster: SimCluster) {
    self.member = member
    self.cluster = cluster
    logger = SimCluster.logger(cluster.trace, label: member.id)
  }

  var status: Status { state.value.status }
  var isUp: Bool { status == .starting || status == .serving }

  /// The node that died for a replacement comes back (the replacement was aborted): it restarts with
  /// its data.
  func revive() {
    state.withLock { s in if s.status == .gone { s.status = .down } }
    cluster.trace.log("\(id) comes back (its replacement was aborted)")
    restart()
  }

  /// Starts the process (a no-op unless it is down); `opening`: how long it opens its storage
  /// (default: drawn).
  @discardableResult
  func restart(opening: Duration? = nil) -> Bool {
    let session = state.withLock { s -> SimSession? in
      guard s.status == .down else { return nil }
      s.incarnation += 1
      s.status = .starting
      s.session = SimSession(incarnation: s.incarnation)
      return s.session
    }
    guard let session else { return false }
    cluster.trace.log("start \(id) (#\(session.incarnation))")
    let root = cluster.spawn { [self] in await main(session, opening: opening) }
    state.withLock { s in if s.session === session { s.root = root } else { root.cancel() } }
    return true
  }

  /// Stops the process at once: its requests fail from now on, its tasks are cancelled, its lease
  /// runs out (nothing revokes it). `permanently`: it never starts again.
  func crash(permanently: Bool, quietly: Bool = false) {
    let (session, root, worker) = state.withLock { s in
      defer {
        s.session = nil
        s.root = nil
        s.worker = nil
        s.status = permanently ? .gone : (s.status == .gone ? .gone : .down)
      }
      return (s.session, s.root, s.worker)
    }
    session?.close()
    root?.cancel()
    worker?.stop()
    cluster.checker.down(id)
    if !quietly, session != nil || permanently { cluster.trace.log("\(id) \(permanently ? "stops for good" : "crashed")") }
  }

  private func main(_ session: SimSession, opening: Duration?) async {
    let membership = EtcdMembership(etcd: cluster.client("\(id)/join", session: session), keys: cluster.keys, logger: logger)
    var joined: (layout: ClusterLayout, revision: Int64)?
    while joined == nil {
      joined = try? await membership.read()
      if joined == nil { do { try await cluster.sleep(.milliseconds(100)) } catch { return } }
    }
    guard let (joinedLayout, joinedRevision) = joined else { return }
    guard joinedLayout.participant(id) != nil else {
      cluster.trace.log("\(id) is no participant of r\(joinedRevision): refused, stays down")
      crash(permanently: true, quietly: true)
      return
    }
    // Opening the storage.
    let drawn = cluster.faultsActive && cluster.oneIn(4) ? cluster.millis(cluster.config.slowStart) : cluster.millis(50...500)
    do { try await cluster.sleep(opening ?? drawn) } catch { return }
    guard session.isUp, !Task.isCancelled else { return }
    // The layout again before serving (`StrataNode.currentLayout`): the one joined with if etcd fails.
    var layout = joinedLayout
    var revision = joinedRevision
    if let (fresh, freshRevision) = try? await membership.read(), freshRevision >= joinedRevision {
      guard fresh.participant(id) != nil else {
        cluster.trace.log("\(id) is no participant of r\(freshRevision) any more: refused, stays down")
        crash(permanently: true, quietly: true)
        return
      }
      (layout, revision) = (fresh, freshRevision)
    }
    guard session.isUp, !Task.isCancelled else { return }
    let worker = SimWorker(node: self, session: session)
    state.withLock { s in
      if s.session === session {
        s.status = .serving
        s.worker = worker
      }
    }
    cluster.trace.log("\(id) serves by r\(revision)")
    cluster.checker.serving(id, revision: revision)
    let follower = EtcdLayoutFollower(
      etcd: cluster.client("\(id)/follower", session: session), keys: cluster.keys, nodeID: id, logger: logger,
      clock: cluster.clock)
    let driver = MembershipDriver(
      etcd: cluster.client("\(id)/driver", session: session), keys: cluster.keys, nodeID: id, logger: logger,
      cleanupGrace: cluster.config.cleanupGrace, clock: cluster.clock, wallClockMicros: cluster.wallClockMicros)
    let (servedLayout, servedRevision) = (layout, revision)
    await withTaskGroup(of: Void.self) { group in
      group.addTask {
        await worker.apply(servedLayout, revision: servedRevision)
        await follower.follow(from: servedRevision) { layout, revision in await worker.apply(layout, revision: revision) }
      }
      group.addTask { await driver.run() }
    }
  }
}

/// A node's part in membership changes, as `MembershipWorker` does it, with the storage work replaced by
/// virtual time: applying a layout takes a while (waiting for the writes routed by the previous one),
/// receiving the ranges and cleaning up take a while and fail now and then (retried every second);
/// the done markers are the real ones, and so is the once-per-change logic.
final class SimWorker: Sendable {
  unowned let node: SimNode
  let session: SimSession
  let etcd: SimEtcdClient
  private let jobs = Locked<[String: Task<Void, Never>]>([:])
  private let applied = Locked(0)
  var cluster: SimCluster { node.cluster }
  var me: String { node.id }

  init(node: SimNode, session: SimSession) {
    self.node = node
    self.session = session
    etcd = node.cluster.client("\(node.id)/worker", session: session)
  }

  func apply(_ layout: ClusterLayout, revision: Int64) async {
    let applies = applied.withLock { n in
      n += 1
      return n
    }
    let slow = cluster.faultsActive && cluster.oneIn(6) && !(cluster.config.quickFirstApplies && applies <= 2)
    let drain = slow ? cluster.millis(1000...6000) : cluster.millis(0...100)
    do { try await cluster.sleep(drain) } catch { return }
    guard session.isUp, !Task.isCancelled else { return }
    cluster.checker.applied(me, revision: revision)
    let current = layout.change.map { "\($0.phase == .cleanup ? "cleanup" : "stream") \($0.toEpoch)" }
    cancelJobs(except: layout.change?.phase == .streaming || layout.change?.phase == .cleanup ? current : nil)
    guard let change = layout.change else {
      if layout.member(me) == nil {
        cluster.trace.log("\(me) was removed from the cluster; it stops")
        node.crash(permanently: true)
      }
      return
    }
    switch change.phase {
    case .streaming where change.to.contains { $0.id == me }:
      start("stream \(change.toEpoch)", marker: change.doneMarker(.streaming)) { [self] in
        // A new node receives much, an old one of a removal some, an old one of an addition nothing.
        let gains = !change.from.contains { $0.id == me } ? 1000...8000 : change.kind == .add ? 10...200 : 300...4000
        try await cluster.sleep(cluster.millis(gains))
        if cluster.oneIn(8) { throw EtcdError(.unavailable, "a source did not answer") }
        cluster.checker.streamed(me, change: change)
      }
    case .cleanup where change.from.contains { $0.id == me }:
      start("cleanup \(change.toEpoch)", marker: change.doneMarker(.cleanup)) { [self] in
        try await cluster.sleep(cluster.millis(100...2000))
        cluster.checker.cleaned(me, change: change)
      }
    default:
      break
    }
  }

  func stop() {
    for task in jobs.withLock({ Array($0.values) }) { task.cancel() }
  }

  private func cancelJobs(except name: String?) {
    let stale = jobs.withLock { jobs -> [Task<Void, Never>] in
      let gone = jobs.filter { $0.key != name }
      for key in gone.keys { jobs[key] = nil }
      return gone.sorted { $0.key < $1.key }.map(\.value)
    }
    for task in stale { task.cancel() }
  }

  private func start(_ name: String, marker: String, _ body: @escaping @Sendable () async throws -> Void) {
    let (etcd, keys, me, cluster) = (self.etcd, cluster.keys, me, cluster)
    let running = jobs.withLock { $0[name].map { !$0.isCancelled } ?? false }
    guard !running else { return }
    let task = cluster.spawn {
      while !Task.isCancelled {
        do {
          if try await etcd.get(.key(keys.changeDone(node: me)), revision: 0, limit: 0).first?.valueString == marker { return }
          try await body()
          _ = try await etcd.put(keys.changeDone(node: me), Array(marker.utf8), lease: nil)
          cluster.trace.log("\(me): \(name) done")
          return
        } catch is CancellationError {
          return
        } catch {
          if Task.isCancelled { return }
          try? await cluster.sleep(.seconds(1))
        }
      }
    }
    jobs.withLock { $0[name] = task }
  }
}

/// Puts the membership code's log lines (info and up) in the trace.
struct SimLogHandler: LogHandler {
  let trace: SimTrace
  let label: String
  var metadata: Logger.Metadata = [:]
  var logLevel: Logger.Level = .info

  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  func log(event: LogEvent) {
    let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    trace.log("\(label): \(event.message) \(fields)")
  }
}
