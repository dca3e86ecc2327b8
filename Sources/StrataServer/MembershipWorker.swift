internal import Foundation
internal import GRPCNIOTransportHTTP2
internal import Logging
internal import StrataCore
internal import StrataCluster
internal import StrataEtcd
internal import StrataGRPC
internal import StrataMetadata
internal import StrataStorage
internal import Synchronization

/// A node's part in its cluster's membership changes: for each layout the node follows from etcd
/// (`EtcdLayoutFollower`), installs the view of that layout (`ClusterViewFactory`, `ClusterTopology`),
/// and runs the node's own work of the phase:
///
/// - `streaming`, when the node is in the new ring: receives the ranges it gains (`RangeTransfer`),
///   publishing its progress under `change-progress/<node>`, then reports `change-done/<node>`;
/// - `cleanup`, when the node was in the old ring: once the internode calls accepted at the old epoch
///   ended (the window refuses that epoch in this phase), deletes the entities it no longer replicates,
///   then reports done;
/// - once a change that removed the node is over: stops the node.
///
/// Each job runs once per change (a restarted node checks its done marker and resumes).
final class MembershipWorker: Sendable {
  let factory: ClusterViewFactory
  let topology: ClusterTopology<HTTP2ClientTransport.Posix>
  let store: FeatureStore
  let etcd: EtcdClient
  let keys: MetadataKeys
  let registry: EtcdRegistry?
  let logger: Logger
  let bytesPerSecond: Int?
  let onRemoved: @Sendable () -> Void
  private let jobs = Mutex<[String: Task<Void, Never>]>([:])

  init(
    factory: ClusterViewFactory, topology: ClusterTopology<HTTP2ClientTransport.Posix>, store: FeatureStore, etcd: EtcdClient,
    keys: MetadataKeys, registry: EtcdRegistry?, logger: Logger, bytesPerSecond: Int?, onRemoved: @escaping @Sendable () -> Void
  ) {
    self.factory = factory
    self.topology = topology
    self.store = store
    self.etcd = etcd
    self.keys = keys
    self.registry = registry
    self.logger = logger
    self.bytesPerSecond = bytesPerSecond
    self.onRemoved = onRemoved
  }

  var me: String { factory.selfID }

  /// Installs `layout`'s view (waiting for the writes of the view before) and starts this node's work
  /// of its phase. Called by the layout follower, which then reports the layout applied.
  func apply(_ layout: ClusterLayout) async {
    do {
      let (view, other) = try factory.view(for: layout)
      let drained = await topology.install(view, alsoAccepting: other)
      if !drained { logger.warning("writes routed by the previous layout did not finish within 30 s") }
      logger.info(
        "routing by the cluster layout",
        metadata: [
          "strata.epoch": "\(view.ring.epoch)", "strata.phase": "\(layout.change?.phase.rawValue ?? "none")",
          "strata.members": "\(layout.participants.map(\.id).joined(separator: ","))",
        ])
    } catch {
      logger.error("the cluster layout in etcd cannot be routed by; keeping the previous view", metadata: ["error": "\(error)"])
      return
    }
    registry?.setMembers(layout.participants.map(\.id))
    // Work of a phase that is over (or of a change that was aborted) stops.
    let current = layout.change.map { "\($0.phase == .cleanup ? "cleanup" : "stream") \($0.toEpoch)" }
    cancelJobs(except: layout.change?.phase == .streaming || layout.change?.phase == .cleanup ? current : nil)
    guard let change = layout.change else {
      _ = await factory.hints.dropHints(forNodesNotIn: Set(layout.nodes.map(\.id)))
      if layout.member(me) == nil {
        logger.notice("this node was removed from the cluster; it stops now", metadata: ["strata.node": "\(me)"])
        onRemoved()
      }
      return
    }
    switch change.phase {
    case .streaming where change.to.contains { $0.id == me }:
      start("stream \(change.toEpoch)", marker: change.doneMarker(.streaming)) { try await self.receive(change) }
    case .cleanup where change.from.contains { $0.id == me }:
      start("cleanup \(change.toEpoch)", marker: change.doneMarker(.cleanup)) { try await self.cleanUp(change, layout: layout) }
    default:
      break
    }
  }

  /// Cancels every job but `name`.
  private func cancelJobs(except name: String?) {
    let stale = jobs.withLock { jobs -> [Task<Void, Never>] in
      let gone = jobs.filter { $0.key != name }
      for key in gone.keys { jobs[key] = nil }
      return Array(gone.values)
    }
    for task in stale { task.cancel() }
  }

  /// Cancels the jobs (node shutdown).
  func stop() {
    for task in jobs.withLock({ $0.values }) { task.cancel() }
  }

  /// Runs `body` once (per `name`) unless this node already reported `marker`, then reports it;
  /// retried after failures until it succeeds or the node stops.
  private func start(_ name: String, marker: String, _ body: @escaping @Sendable () async throws -> Void) {
    let task = Task {
      while !Task.isCancelled {
        do {
          if try await etcd.get(keys.changeDone(node: me))?.valueString == marker { return }
          try await body()
          _ = try await etcd.put(keys.changeDone(node: me), marker)
          logger.info("membership change: this node's part is done", metadata: ["strata.job": "\(name)"])
          return
        } catch is CancellationError {
          return
        } catch {
          if Task.isCancelled { return }
          logger.warning("membership change: this node's part failed; retrying", metadata: ["strata.job": "\(name)", "error": "\(error)"])
          try? await Task.sleep(for: .seconds(1))
        }
      }
    }
    let replaced = jobs.withLock { jobs -> Bool in
      if let running = jobs[name], !running.isCancelled { return false }
      jobs[name] = task
      return true
    }
    if !replaced { task.cancel() }
  }

  /// Receives the ranges this node gains, publishing progress at most every second.
  private func receive(_ change: MembershipChange) async throws {
    let started = Self.nowMicros
    let lastPublished = Mutex<ContinuousClock.Instant?>(nil)
    let transfer = RangeTransfer(store: store, topology: topology, logger: logger, bytesPerSecond: bytesPerSecond)
    // A replaced node is gone: its ranges come from the surviving replicas only.
    try await transfer.run(toEpoch: change.toEpoch, skipping: Set([change.dead].compactMap { $0 })) { progress in
      // A node that gains nothing has nothing to show.
      guard !progress.sources.isEmpty else { return }
      let now = ContinuousClock.now
      let due = lastPublished.withLock { last -> Bool in
        guard progress.done || last.map({ now - $0 >= .seconds(1) }) ?? true else { return false }
        last = now
        return true
      }
      guard due else { return }
      var record = TransferProgress(
        toEpoch: progress.toEpoch, target: self.me, tokenShare: progress.tokenShare, sources: progress.sources,
        startedAtMicros: started)
      record.sourcesDone = progress.sourcesDone
      record.bucketsDone = progress.pairsDone
      record.bucketsTotal = progress.pairsTotal
      record.rowsReceived = progress.rowsReceived
      record.bytesReceived = progress.bytesReceived
      record.updatedAtMicros = Self.nowMicros
      record.done = progress.done
      record.error = progress.error
      if let bytes = try? JSONEncoder().encode(record) {
        _ = try? await self.etcd.put(self.keys.changeProgress(node: self.me), Array(bytes))
      }
    }
  }

  /// Deletes the entities this node replicated before the change and does not replicate after it.
  private func cleanUp(_ change: MembershipChange, layout: ClusterLayout) async throws {
    let rf = layout.replicationFactor ?? ReplicaPlacement.defaultReplicationFactor(nodeCount: change.to.count)
    let zones = Dictionary(layout.participants.map { ($0.id, $0.zone) }, uniquingKeysWith: { a, _ in a })
    let ring = try HashRing(nodes: change.to.map(\.id), virtualNodes: layout.virtualNodes, epoch: change.toEpoch)
    let placement = try ReplicaPlacement(ring: ring, replicationFactor: min(rf, change.to.count), zones: zones)
    let me = self.me
    // The window refuses the old epoch since this phase's view was installed; calls accepted at it
    // before may still write (a repair's rows, a dual write), so they end first.
    if !(await topology.window.drain(epoch: change.fromEpoch, timeout: .seconds(30))) {
      logger.warning(
        "internode calls made with the old ring did not end within 30 s; deleting the copies anyway",
        metadata: ["strata.epoch": "\(change.fromEpoch)", "strata.calls": "\(topology.window.inFlight(at: change.fromEpoch))"])
    }
    let report = try await store.removeEntities(where: { !placement.replicas(ofToken: $0).contains(me) })
    logger.info(
      "deleted the copies of ranges this node no longer replicates",
      metadata: ["strata.entities": "\(report.entities)", "strata.history_rows": "\(report.historyRows)"])
  }

  static var nowMicros: Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }
}
