public import GRPCCore
public import Logging
internal import StrataCluster
internal import StrataCore
internal import Synchronization
public import StrataStorage

/// The transfer of the token ranges a node gains in a membership change, run by that node (the target)
/// during the change's streaming phase (docs/scale-out.md).
///
/// With each source (an old replica of some of the ranges), the target runs the merge of anti-entropy
/// repair restricted to the entities it receives from that source (`ReplicaRepair` with a transfer
/// epoch): digests of both sides per (bucket, group version), and the source's rows of every pair that
/// differs, streamed in messages of 1024 rows read from one snapshot per bucket and written here with
/// their write ids (so a row that also arrived by the change's dual writes, or in an earlier attempt,
/// is stored once). Because every source is merged, writes that reached only some old replicas before
/// the dual writes began are caught up too. A pair already equal costs a digest only: after a crash of
/// either side, running the transfer again resumes where it stopped, at the granularity of a pair.
///
/// Sources are tried in rounds; the transfer is done when every source was merged, or, after sources
/// failed for `giveUpAfter`, when every range was merged with at least RF − quorum + 1 of its old
/// replicas (every write acknowledged at QUORUM is on one of them).
///
/// `bytesPerSecond` is the budget of the whole change (row payload received, each node's own
/// `--stream-mb-per-s`): each of the change's receiving nodes takes an equal share of it.
public struct RangeTransfer<Transport: ClientTransport>: Sendable {
  let store: FeatureStore
  let topology: ClusterTopology<Transport>
  let logger: Logger
  /// nil: unlimited.
  let bytesPerSecond: Int?
  let giveUpAfter: Duration

  public init(
    store: FeatureStore, topology: ClusterTopology<Transport>, logger: Logger, bytesPerSecond: Int?,
    giveUpAfter: Duration = .seconds(30)
  ) {
    self.store = store
    self.topology = topology
    self.logger = logger
    self.bytesPerSecond = bytesPerSecond
    self.giveUpAfter = giveUpAfter
  }

  /// Runs the transfer of the change to `toEpoch`; `report` is called after each pair merged and at
  /// the end. `skipping`: old replicas not to ask (the node a replacement replaces: it is gone, and
  /// waiting `giveUpAfter` for it would only delay the change). Throws FAILED_PRECONDITION when this
  /// node's view is not streaming that change (any more), CancellationError when cancelled.
  public func run(
    toEpoch: UInt64, skipping: Set<String> = [], report: @escaping @Sendable (RangeTransferProgress) async -> Void
  ) async throws {
    let view = topology.current
    guard let moves = view.moves, moves.toEpoch == toEpoch, let transition = view.transition else {
      throw StrataError.failedPrecondition("node \(view.selfID) is not streaming ranges to epoch \(toEpoch)")
    }
    let me = view.selfID
    let ranges = moves.ranges
    let sources = ranges.sources(of: me).filter { !skipping.contains($0) }.sorted()
    let rf = transition.new.replicationFactor
    let needed = rf - transition.new.required(.quorum) + 1
    // The throttle is the change's budget: split evenly among the nodes that receive ranges (a removal
    // has several), so that serving pays about the same whatever the change.
    let receivers = max(1, ranges.targets.count)
    let rate = bytesPerSecond.map { max(1, $0 / receivers) }
    let state = TransferState(RangeTransferProgress(toEpoch: toEpoch, tokenShare: ranges.share(receivedBy: me), sources: sources))
    await report(state.snapshot)
    // Progress while a source's rows arrive, every second (the caller publishes it).
    let ticker = Task {
      while !Task.isCancelled {
        try? await Task.sleep(for: .seconds(1))
        if !Task.isCancelled { await report(state.snapshot) }
      }
    }
    defer { ticker.cancel() }
    var done: Set<String> = []
    var firstFailure: ContinuousClock.Instant?
    while true {
      for source in sources where !done.contains(source) {
        try Task.checkCancellation()
        var repair = ReplicaRepair(store: store, cluster: topology.current, logger: logger, rowsPerSecond: nil)
        repair.transferEpoch = toEpoch
        repair.bytesPerSecond = rate
        repair.onPlanned = { pairs in state.update { $0.pairsTotal += UInt64(pairs) } }
        repair.onMerged = { rows, bytes in
          state.update {
            $0.pairsDone += 1
            $0.rowsReceived += rows
            $0.bytesReceived += bytes
          }
        }
        var pace = RepairPace(rowsPerSecond: rate)
        var partial = RepairReport()
        do {
          try await repair.repair(with: source, report: &partial, pace: &pace, start: .now)
          done.insert(source)
          state.update {
            $0.sourcesDone.append(source)
            $0.error = nil
          }
          logger.info(
            "ranges received from a source",
            metadata: ["strata.source": "\(source)", "strata.rows": "\(partial.rowsReceived)", "strata.epoch": "\(toEpoch)"])
        } catch is CancellationError {
          throw CancellationError()
        } catch {
          let message = view.failure(error, node: source).message
          firstFailure = firstFailure ?? .now
          state.update { $0.error = "\(source): \(message)" }
          logger.warning("receiving ranges from a source failed; retrying", metadata: ["strata.source": "\(source)", "error": "\(message)"])
        }
        await report(state.snapshot)
      }
      if done.count == sources.count { break }
      if let firstFailure, ContinuousClock.now - firstFailure >= giveUpAfter,
        ranges.moves(to: me).allSatisfy({ move in move.sources.filter(done.contains).count >= min(needed, move.sources.count) })
      {
        logger.warning(
          "ranges received without every source: each range came from enough replicas for acknowledged writes",
          metadata: ["strata.missing_sources": "\(sources.filter { !done.contains($0) })"])
        break
      }
      try await Task.sleep(for: .seconds(1))
    }
    state.update { $0.done = true }
    await report(state.snapshot)
  }
}

/// What a `RangeTransfer` did so far.
public struct RangeTransferProgress: Sendable, Equatable {
  public var toEpoch: UInt64
  /// The fraction of the token space the node receives.
  public var tokenShare: Double
  public var sources: [String]
  public var sourcesDone: [String] = []
  /// (bucket, group version) pairs that differed and were merged, and that differed in all.
  public var pairsDone: UInt64 = 0
  public var pairsTotal: UInt64 = 0
  public var rowsReceived: UInt64 = 0
  public var bytesReceived: UInt64 = 0
  public var done = false
  /// The last failure of a source (retried).
  public var error: String?
}

/// The progress of a transfer, updated from the repair's callbacks.
final class TransferState: Sendable {
  private let progress: Mutex<RangeTransferProgress>

  init(_ initial: RangeTransferProgress) {
    progress = Mutex(initial)
  }

  var snapshot: RangeTransferProgress { progress.withLock { $0 } }

  func update(_ body: (inout RangeTransferProgress) -> Void) {
    progress.withLock { body(&$0) }
  }
}
