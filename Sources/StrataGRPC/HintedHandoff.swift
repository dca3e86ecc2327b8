public import GRPCCore
public import Logging
public import StrataCluster
internal import StrataCore
public import StrataProto
public import StrataStorage
internal import SwiftProtobuf
internal import Synchronization

/// Hinted handoff: the part of a write that a replica did not acknowledge is kept in this node's
/// `HintStore` (durable, in its own keyspace) and replayed to the replica, in order, when it answers
/// again (`HintReplayer`: at once after any successful call to it, else after a growing backoff).
///
/// A replayed part is the very internode write the replica missed, rows with their write ids, so
/// replaying it twice changes nothing. A hint is removed only after the replica acknowledged it; a
/// hint that cannot be stored (disk full) is logged, and that replica then gets the rows only from
/// repair.
public final class HintedHandoff: HintSink {
  let store: HintStore
  let executor = BlockingExecutor()
  let logger: Logger
  private let replayer = Mutex<HintReplayer<ContinuousClock>?>(nil)

  public init(store: HintStore, logger: Logger) {
    self.store = store
    self.logger = logger
  }

  public func keep(_ part: Strata_V1_WriteFeaturesRequest, for node: String) async {
    do {
      let payload: [UInt8] = try part.serializedBytes()
      let store = self.store
      let rows = part.rows.count
      _ = try await executor.write { try store.append(node: node, payload: payload, rows: rows) }
    } catch {
      logger.error(
        "could not keep a hint: the replica gets these rows from repair only",
        metadata: ["strata.node": "\(node)", "strata.rows": "\(part.rows.count)", "error": "\(error)"])
    }
  }

  public func intend(_ intent: WriteIntent) async -> UInt64? {
    do {
      let payload = try intent.encoded()
      let store = self.store
      return try await executor.write { try store.writeIntent(payload) }
    } catch {
      logger.error(
        "could not store a write intent: if this process is killed before the write reaches every replica, only repair completes it",
        metadata: ["strata.rows": "\(intent.batch.rows.count)", "error": "\(error)"])
      return nil
    }
  }

  public func settled(_ id: UInt64) async {
    let store = self.store
    do {
      try await executor.write { try store.removeIntents([id]) }
    } catch {
      // Left stored: the next start keeps its parts as hints again, which changes nothing.
      logger.warning("could not remove a settled write intent", metadata: ["error": "\(error)"])
    }
  }

  /// Keeps the parts of the write intents the previous process left (it stopped while sending them) as
  /// hints, then removes the intents. Call once after the start, before the hints are replayed.
  /// An intent that does not decode is logged and removed (its rows reach the other replicas only
  /// through repair).
  /// - Returns: the intents found and the hints and rows kept from them.
  /// - Throws: the engine's error when a hint or the removal cannot be written (then the intents stay
  ///   for the next start; hints kept twice change nothing).
  @discardableResult
  public func recoverIntents() async throws -> (intents: Int, hints: Int, rows: Int) {
    let records = store.takeIntentsFromBefore()
    if records.isEmpty { return (0, 0, 0) }
    var hints = 0
    var rows = 0
    let store = self.store
    for record in records {
      let intent: WriteIntent
      do {
        intent = try WriteIntent(decoding: record.payload)
      } catch {
        // Removed with the others: keeping it would fail every start the same way.
        logger.error(
          "a stored write intent does not decode and is dropped: its rows reach every replica only through repair",
          metadata: ["strata.bytes": "\(record.payload.count)", "error": "\(error)"])
        continue
      }
      for target in intent.targets where !target.rows.isEmpty {
        let payload: [UInt8] = try intent.part(for: target).serializedBytes()
        let count = target.rows.count
        _ = try await executor.write { try store.append(node: target.node, payload: payload, rows: count) }
        hints += 1
        rows += count
      }
    }
    try await executor.write { try store.removeIntents(records.map(\.sequence)) }
    logger.info(
      "kept the writes this node was sending when its process stopped as hints",
      metadata: ["strata.intents": "\(records.count)", "strata.hints": "\(hints)", "strata.rows": "\(rows)"])
    return (records.count, hints, rows)
  }

  public func pendingRows(for node: String) -> UInt64 { UInt64(store.pending(node: node).rows) }

  /// Deletes the hints kept for nodes that are not in `members` any more (a node removed or replaced
  /// by a membership change: its rows reached a quorum of the new replicas); returns the rows dropped.
  public func dropHints(forNodesNotIn members: Set<String>) async -> UInt64 {
    let store = self.store
    var dropped: UInt64 = 0
    for node in store.nodesWithHints where !members.contains(node) {
      do {
        while true {
          let hints = try await executor.write { try store.next(node: node, limit: 1_024) }
          if hints.isEmpty { break }
          try await executor.write { try store.remove(node: node, ids: hints.map(\.id)) }
          dropped += hints.reduce(0) { $0 + UInt64($1.rows) }
        }
        logger.info("dropped the hints of a node that left the cluster", metadata: ["strata.node": "\(node)"])
      } catch {
        logger.warning("could not drop the hints of a node that left the cluster", metadata: ["strata.node": "\(node)", "error": "\(error)"])
      }
    }
    return dropped
  }

  public func answered(_ node: String) {
    replayer.withLock { $0 }?.nodeAnswered(node)
  }

  /// Peers on a LAN: a replica that comes back is retried within 5 s at most (sooner when any call to it
  /// succeeds), and new hints are found within 2 s.
  static let replay = HintReplayConfiguration(
    backoff: Backoff(initial: .milliseconds(500), maximum: .seconds(5), multiplier: 2, jitter: 0.2),
    chunkHints: 64, chunkBytes: 4 << 20, rescanInterval: .seconds(2))

  /// Replays hints to the nodes of `cluster` until cancelled.
  public func replay<Transport: ClientTransport>(through cluster: ClusterView<Transport>) async {
    await replay(through: ClusterTopology(cluster))
  }

  /// Replays hints to the nodes of the topology's current view until cancelled.
  public func replay<Transport: ClientTransport>(through topology: ClusterTopology<Transport>) async {
    let logger = self.logger
    let replayer = HintReplayer(
      queue: StoredHintQueue(store: store), delivery: InternodeHintDelivery(topology: topology),
      configuration: Self.replay,
      report: { report in
        switch report {
        case .delivered(let node, let hints, let rows):
          logger.info("replayed hints", metadata: ["strata.node": "\(node)", "strata.hints": "\(hints)", "strata.rows": "\(rows)"])
        case .failed(let node, let error, let retryIn):
          logger.debug(
            "hint replay failed", metadata: ["strata.node": "\(node)", "error": "\(error)", "strata.retry_in": "\(retryIn)"])
        }
      })
    self.replayer.withLock { $0 = replayer }
    await replayer.run()
  }
}

/// Delivers a hint with the internode write it was kept from (`Shard.WriteBatch`), keeping only the
/// rows that a write of them made now would send to the node (`rows(for:of:plan:)`).
struct InternodeHintDelivery<Transport: ClientTransport>: HintDelivery {
  let topology: ClusterTopology<Transport>

  func deliver(_ payload: [UInt8], to node: String) async throws {
    let cluster = topology.current
    let stored = try Strata_V1_WriteFeaturesRequest(serializedBytes: payload)
    let plan = cluster.writePlan(entityIDs: stored.rows.map(\.entityID))
    guard let request = Self.rows(for: node, of: stored, plan: plan) else { return }
    var options = cluster.options
    options.timeout = min(cluster.callTimeout, .seconds(10))
    _ = try await cluster.peer(node).writeBatch(request, metadata: cluster.metadata, options: options)
  }

  /// `request` with only the rows `plan` (a write plan of its rows, in order) sends to `node`; nil when
  /// it sends none (the hint is then delivered: it has nothing for the node).
  ///
  /// A hint kept across a membership change may be for a node that no longer replicates some of its
  /// entities; delivered after that node's cleanup, those rows would be a copy nothing deletes. Dropping
  /// them loses nothing: the write reached a quorum of the entity's other replicas, and the change's
  /// transfer or dual writes brought it to the new ones.
  static func rows(
    for node: String, of request: Strata_V1_WriteFeaturesRequest, plan: ReplicaPlan
  ) -> Strata_V1_WriteFeaturesRequest? {
    guard let k = plan.nodes.firstIndex(of: node) else { return nil }
    let part = plan.parts[k]
    guard part.count != request.rows.count else { return request }
    var kept = request
    kept.rows = part.map { request.rows[$0] }
    return kept
  }
}
