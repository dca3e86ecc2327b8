internal import StrataEtcd
internal import StrataCore
internal import Foundation
public import Logging

/// Drives the membership change in the layout through its phases (`MembershipChange`). Every node runs
/// one; the node holding the `change-driver` key (under its lease) drives, so when it dies another
/// takes over within the lease's TTL and resumes from the phase recorded in etcd: every step is a
/// condition on etcd's state followed by one transaction against the layout's revision.
///
/// A phase is left when every live participant applied it (`layout-applied/<node>` at or past the
/// layout's revision; a participant without a lease is waited for `leaseGrace`, then taken to be down:
/// it reads the layout before it serves again), and:
/// - `streaming`: when every node of the new ring reported its transfer done (`change-done/<node>`);
///   nodes that are down are waited for (they must hold their ranges before reads move to them);
/// - `switched`: when `cleanupAtMicros` passed (`MembershipChanges.cleanupNow` sets it to 0);
/// - `cleanup`: when every live node of the old ring reported its cleanup done; the change is then
///   removed from the layout.
///
/// Time is injected: `clock` paces the polling and measures the grace, `wallClockMicros` stamps
/// `cleanupAtMicros` and is compared with it (the defaults are the system's clocks).
public struct MembershipDriver: Sendable {
  let etcd: any MetadataStore
  let keys: MetadataKeys
  let nodeID: String
  let logger: Logger
  /// How long old copies stay after the switch before the cleanup starts by itself.
  let cleanupGrace: Duration
  let clock: any Clock<Duration>
  /// Microseconds since 1970.
  let wallClockMicros: @Sendable () -> Int64
  static let leaseGrace: Duration = .seconds(3)

  public init(
    etcd: any MetadataStore, keys: MetadataKeys, nodeID: String, logger: Logger, cleanupGrace: Duration,
    clock: any Clock<Duration> = ContinuousClock(),
    wallClockMicros: @escaping @Sendable () -> Int64 = { MembershipChanges.nowMicros }
  ) {
    self.etcd = etcd
    self.keys = keys
    self.nodeID = nodeID
    self.logger = logger
    self.cleanupGrace = cleanupGrace
    self.clock = clock
    self.wallClockMicros = wallClockMicros
  }

  var membership: EtcdMembership { EtcdMembership(etcd: etcd, keys: keys, logger: logger) }

  /// Runs until cancelled.
  public func run() async {
    while !Task.isCancelled {
      do {
        try await etcd.withLease(ttl: .seconds(5)) { lease in try await self.loop(lease: lease.id) }
      } catch is CancellationError {
        return
      } catch {
        if Task.isCancelled { return }
        logger.info("membership driver: etcd failed; retrying", metadata: ["error": "\(error)"])
        try? await clock.sleep(for: .seconds(1))
      }
    }
  }

  /// How often the driver reads etcd while a change waits (and every node while no change is in
  /// progress). Each round is one request: etcd answers every request with an HTTP/2 PING (its flow
  /// control estimate), and the client closes a connection that gets more than 200 PINGs in 30 s
  /// (swift-nio-http2's flood protection), which at the former 4 requests every 50 ms broke the
  /// driving node's etcd connection every 5-6 s.
  static let pollInterval: Duration = .milliseconds(500)

  private func loop(lease: Int64) async throws {
    let stopwatch = Stopwatch.start(on: clock)
    var waitingSince: (phase: String, since: Duration)?
    while !Task.isCancelled {
      let snapshot = try await read()
      guard let (layout, revision) = snapshot.layout, let change = layout.change else {
        waitingSince = nil
        try await clock.sleep(for: Self.pollInterval)
        continue
      }
      let holding: Bool
      switch snapshot.driver {
      case nil: holding = try await holdDriverKey(lease: lease)
      case (nodeID, lease)?: holding = true
      // This node's id under another lease: left by its previous process (it runs out within the
      // TTL; nobody keeps it alive). Taken over under this lease, so that the key lives as long as
      // this driver does.
      case (nodeID, _)?: holding = try await retakeDriverKey(lease: lease)
      default: holding = false
      }
      guard holding else {
        try await clock.sleep(for: Self.pollInterval)
        continue
      }
      let key = "\(change.toEpoch):\(change.phase.rawValue):\(revision)"
      if waitingSince?.phase != key { waitingSince = (key, stopwatch.elapsed()) }
      let waited = stopwatch.elapsed() - waitingSince!.since
      if let next = step(layout, change: change, revision: revision, waited: waited, applied: snapshot.applied, done: snapshot.done) {
        if try await membership.write(next, ifRevision: revision) {
          logger.info(
            "membership change moved on",
            metadata: ["strata.change": "\(change.summary)", "strata.phase": "\(next.change?.phase.rawValue ?? "done")"])
        }
        continue
      }
      try await clock.sleep(for: Self.pollInterval)
    }
  }

  /// What one round of the driver reads, at one revision of etcd.
  struct Snapshot {
    /// The layout and its modification revision (nil: no layout).
    var layout: (ClusterLayout, Int64)?
    /// The layout revision each node with a lease applied (`layout-applied/<node>`).
    var applied: [String: Int64]
    /// The done markers (`change-done/<node>`).
    var done: [String: String]
    /// The node holding the `change-driver` key and the lease the key is under (nil: nobody).
    var driver: (node: String, lease: Int64)?
  }

  /// The layout, the applied revisions, the done markers and the driver key, in one request.
  private func read() async throws -> Snapshot {
    let result = try await etcd.transaction(
      if: [],
      then: [.get(.key(keys.layout)), .get(.prefix(keys.layoutApplied)), .get(.prefix(keys.changeDone)), .get(.key(keys.changeDriver))],
      else: [])
    var ranges: [EtcdRangeResult] = []
    for response in result.responses {
      if case .get(let range) = response { ranges.append(range) }
    }
    guard ranges.count == 4 else { throw StrataError.internalError("etcd answered \(ranges.count) of the driver's 4 reads") }
    var snapshot = Snapshot(layout: nil, applied: [:], done: [:], driver: ranges[3].keyValues.first.map { ($0.valueString, $0.lease) })
    if let kv = ranges[0].keyValues.first {
      do {
        snapshot.layout = (try JSONDecoder().decode(ClusterLayout.self, from: Data(kv.value)), kv.modRevision)
      } catch {
        throw StrataError.internalError("the cluster layout at \(keys.layout) does not decode", cause: error)
      }
    }
    for kv in ranges[1].keyValues {
      snapshot.applied[String(kv.key.dropFirst(keys.layoutApplied.count))] = Int64(kv.valueString) ?? 0
    }
    for kv in ranges[2].keyValues where snapshot.done[String(kv.key.dropFirst(keys.changeDone.count))] == nil {
      snapshot.done[String(kv.key.dropFirst(keys.changeDone.count))] = kv.valueString
    }
    return snapshot
  }

  /// Puts the driver key, which holds this node's id, under `lease` if it still holds that id; whether
  /// it did.
  private func retakeDriverKey(lease: Int64) async throws -> Bool {
    let result = try await etcd.transaction(
      if: [.value(keys.changeDriver, .equal, Array(nodeID.utf8))], then: [.put(keys.changeDriver, nodeID, lease: lease)], else: [])
    return result.succeeded
  }

  /// Takes the driver key if nobody holds it; whether this node holds it.
  private func holdDriverKey(lease: Int64) async throws -> Bool {
    let result = try await etcd.transaction(
      if: [.missing(keys.changeDriver)], then: [.put(keys.changeDriver, nodeID, lease: lease)],
      else: [.get(.key(keys.changeDriver))])
    if result.succeeded {
      logger.info("driving the membership change", metadata: ["strata.node": "\(nodeID)"])
      return true
    }
    guard case .get(let holder) = result.responses.first else { return false }
    return holder.first?.valueString == nodeID
  }

  /// The next layout when `change` may leave its phase; nil while it must wait.
  func step(
    _ layout: ClusterLayout, change: MembershipChange, revision: Int64, waited: Duration, applied: [String: Int64], done: [String: String]
  ) -> ClusterLayout? {
    let participants = change.allMembers.map(\.id).filter { $0 != change.dead }
    let leased = Set(applied.keys)
    let grace = waited >= Self.leaseGrace
    // Every live participant routes by this layout (one without a lease: after the grace).
    let allApplied = participants.allSatisfy { node in
      if let r = applied[node] { return r >= revision }
      return grace && !leased.contains(node)
    }
    guard allApplied else { return nil }
    var next = layout
    switch change.phase {
    case .dualWrite:
      next.change!.phase = .streaming
    case .streaming:
      let marker = change.doneMarker(.streaming)
      guard change.to.allSatisfy({ done[$0.id] == marker }) else { return nil }
      next.change!.phase = .readNew
    case .readNew:
      next.change!.phase = .switched
      next.epoch = change.toEpoch
      next.nodes = change.to
      next.change!.cleanupAtMicros = wallClockMicros() + Int64(cleanupGrace.components.seconds * 1_000_000)
    case .switched:
      guard wallClockMicros() >= change.cleanupAtMicros ?? 0 else { return nil }
      next.change!.phase = .cleanup
    case .cleanup:
      let marker = change.doneMarker(.cleanup)
      let losing = change.from.map(\.id).filter { $0 != change.dead }
      guard losing.allSatisfy({ done[$0] == marker || (grace && applied[$0] == nil) }) else { return nil }
      next.change = nil
    }
    return next
  }
}
