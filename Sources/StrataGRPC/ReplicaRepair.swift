public import GRPCCore
internal import GRPCProtobuf
public import Logging
public import StrataCluster
internal import StrataCore
internal import StrataProto
internal import SwiftProtobuf
public import StrataStorage
internal import Synchronization

/// Anti-entropy repair of one node with each of its peers, one peer after another, so that replicas
/// converge whatever they missed (hints are best effort: a coordinator that dies loses its hints, a
/// hint that cannot be stored is dropped).
///
/// With a peer: both compute, for every bucket of the token space (`HistoryDigest.bucket(ofToken:)`)
/// and group version, the digest of the rows of the entities they both replicate (`Shard.GetDigests`
/// there, `FeatureStore.digests` here, at the same time). For each (bucket, group version) whose
/// digests differ (`RepairPlan`), the peer's rows are streamed (`Shard.GetRangeRows`) and merged with
/// this node's (`RepairMerge`, in pages of `pageRows`): rows missing here are written here, rows
/// missing there are sent there (`Shard.WriteBatch`), both with their write ids (`.accept`), so each
/// side ends with the union, and repeating a repair changes nothing.
///
/// Rows moved (received plus sent) are paced to `rowsPerSecond` (`RepairPace`); memory holds a few
/// pages. A peer that fails is reported, and the next peer is repaired. One repair at a time per
/// store: a second one fails with FAILED_PRECONDITION while the first runs.
public struct ReplicaRepair<Transport: ClientTransport>: Sendable {
  let store: FeatureStore
  let cluster: ClusterView<Transport>
  let logger: Logger
  /// nil: unlimited.
  let rowsPerSecond: Int?
  /// Nonzero: a range transfer of the membership change to this epoch (`RangeTransfer`): with each
  /// source, only the entities this node receives from it, and the pace in bytes per second.
  var transferEpoch: UInt64 = 0
  /// With a transfer: the most bytes per second received (nil: unlimited).
  var bytesPerSecond: Int?
  /// Called after each (bucket, group version) merged: pairs merged, rows and bytes received.
  var onMerged: (@Sendable (_ rows: UInt64, _ bytes: UInt64) -> Void)?
  /// Called when the pairs that differ with a peer are known (how many).
  var onPlanned: (@Sendable (_ pairs: Int) -> Void)?

  /// The node default of `max_rows_per_second`.
  public static var defaultRowsPerSecond: Int { 20_000 }
  /// Rows per page read here, per message from the peer, and per write batch on either side.
  static var pageRows: Int { 1_024 }

  public init(store: FeatureStore, cluster: ClusterView<Transport>, logger: Logger, rowsPerSecond: Int?) {
    self.store = store
    self.cluster = cluster
    self.logger = logger
    self.rowsPerSecond = rowsPerSecond
  }

  /// Repairs this node with every other node of the ring, in node id order.
  public func run() async throws -> RepairReport {
    let id = ObjectIdentifier(store)
    guard runningStores.withLock({ $0.insert(id).inserted }) else {
      throw RPCError(code: .failedPrecondition, message: "a repair is already running on node \(cluster.describe(cluster.selfID)); wait for it to finish")
    }
    defer { _ = runningStores.withLock { $0.remove(id) } }
    var report = RepairReport()
    var pace = RepairPace(rowsPerSecond: rowsPerSecond)
    let start = ContinuousClock.now
    for peer in cluster.ring.nodes.sorted() where peer != cluster.selfID {
      try Task.checkCancellation()
      let before = report
      do {
        try await repair(with: peer, report: &report, pace: &pace, start: start)
        report.peersRepaired += 1
        logger.info(
          "repaired with peer",
          metadata: [
            "strata.node": "\(peer)", "strata.buckets_differing": "\(report.bucketsDiffering - before.bucketsDiffering)",
            "strata.rows_received": "\(report.rowsReceived - before.rowsReceived)",
            "strata.rows_sent": "\(report.rowsSent - before.rowsSent)",
          ])
      } catch is CancellationError {
        throw CancellationError()
      } catch {
        let message = cluster.failure(error, node: peer).message
        report.peersFailed.append(.init(node: peer, message: message))
        logger.warning("repair with a peer failed", metadata: ["strata.node": "\(peer)", "error": "\(message)"])
      }
    }
    return report
  }

  /// Options of repair's internode calls: no waiting for a connection, and `timeout`.
  func options(timeout: Duration) -> CallOptions {
    var o = CallOptions.defaults
    o.waitForReady = false
    o.timeout = timeout
    return o
  }

  /// Compares digests with `peer` and merges every differing (bucket, group version). The first
  /// error of a pair is thrown after the other pairs were tried.
  func repair(with peer: String, report: inout RepairReport, pace: inout RepairPace, start: ContinuousClock.Instant) async throws {
    let shared = try filter(with: peer)
    let client = try cluster.peer(peer)
    let (metadata, selfID, epoch) = (cluster.metadata, cluster.selfID, transferEpoch)
    // A digest pass reads the whole history: allow it minutes, not the call timeout.
    let digestOptions = options(timeout: max(cluster.callTimeout, .seconds(600)))
    async let remote = client.getDigests(
      .with {
        $0.peer = selfID
        $0.movingToEpoch = epoch
      }, metadata: metadata, options: digestOptions)
    let within = ranges(with: peer)
    let local = try await store.digests(including: shared, within: within)
    var peerDigests: [BucketGroup: HistoryDigest] = [:]
    for d in try await remote.digests {
      peerDigests[BucketGroup(bucket: Int(d.bucket), group: d.group, version: Int(d.version))] = HistoryDigest(rows: d.rows, sum: d.sum)
    }
    let plan = RepairPlan(local: local, peer: peerDigests)
    report.bucketsCompared += plan.compared
    report.bucketsDiffering += plan.items.count
    onPlanned?(plan.items.count)
    var firstError: (any Error)?
    for item in plan.items {
      try Task.checkCancellation()
      do {
        let moved = try await merge(item, with: peer, client: client, shared: shared, within: within, pace: pace, start: start)
        report.rowsReceived += moved.received
        report.rowsSent += moved.sent
        pace = moved.pace
        onMerged?(moved.received, moved.bytes)
      } catch is CancellationError {
        throw CancellationError()
      } catch {
        logger.info("repair of a bucket failed", metadata: ["strata.node": "\(peer)", "strata.bucket": "\(item.key)", "error": "\(error)"])
        if firstError == nil { firstError = RepairItemError(item: item.key, underlying: error) }
      }
    }
    if let firstError { throw firstError }
  }

  /// Merges one differing (bucket, group version) with `peer`.
  func merge(
    _ item: RepairPlan.Item, with peer: String, client: Strata_V1_Shard.Client<Transport>, shared: @escaping @Sendable (UInt64) -> Bool,
    within: [ClosedRange<UInt64>]?,
    pace: RepairPace, start: ContinuousClock.Instant
  ) async throws -> (received: UInt64, sent: UInt64, bytes: UInt64, pace: RepairPace) {
    let group = try store.catalog.group(named: item.key.group, version: item.key.version)
    guard item.fetchesFromPeer else {
      // Nothing to fetch: this node sends what the peer lacks.
      return try await exchange(item, group: group, client: client, shared: shared, within: within, pace: pace, start: start) { nil }
    }
    let request = Strata_V1_RangeRowsRequest.with {
      $0.peer = cluster.selfID
      $0.bucket = UInt32(item.key.bucket)
      $0.group = item.key.group
      $0.version = UInt32(item.key.version)
      $0.movingToEpoch = transferEpoch
    }
    // Paced rows take their time: a minute plus twice the time the pair's rows take at the pace.
    let rows = Double(item.local.rows + item.peer.rows)
    let timeout =
      transferEpoch != 0
      ? Duration.seconds(600) : Duration.seconds(60 + 2 * rows / Double(rowsPerSecond ?? 100_000))
    let repair = self
    // The peer's messages are decoded on the bulk threads: the cooperative pool serves online lookups.
    return try await cluster.grpcClient(peer).serverStreaming(
      request: ClientRequest(message: request, metadata: cluster.metadata),
      descriptor: Strata_V1_Shard.Method.GetRangeRows.descriptor,
      serializer: ProtobufSerializer<Strata_V1_RangeRowsRequest>(),
      deserializer: RawBytesDeserializer(),
      options: options(timeout: timeout)
    ) { response in
      var messages = response.messages.makeAsyncIterator()
      return try await repair.exchange(item, group: group, client: client, shared: shared, within: within, pace: pace, start: start) {
        guard let bytes = try await messages.next() else { return nil }
        return try await BackgroundThreads.shared.run { try Strata_V1_WriteFeaturesRequest(serializedBytes: bytes) }
      }
    }
  }

  /// The merge loop of one pair: reads this node's rows page by page, takes the peer's from
  /// `nextPeerMessage` (nil: no more), writes what is missing here and sends what is missing there in
  /// batches of `pageRows`, pacing after each batch.
  func exchange(
    _ item: RepairPlan.Item, group: FeatureGroup, client: Strata_V1_Shard.Client<Transport>,
    shared: @escaping @Sendable (UInt64) -> Bool, within: [ClosedRange<UInt64>]?, pace start: RepairPace,
    start began: ContinuousClock.Instant,
    nextPeerMessage: () async throws -> Strata_V1_WriteFeaturesRequest?
  ) async throws -> (received: UInt64, sent: UInt64, bytes: UInt64, pace: RepairPace) {
    var pace = start
    var merge = RepairMerge<RepairKey, Strata_V1_WriteRow>()
    let localFeatures = group.spec.features.map(\.name)
    var peerFeatures = localFeatures
    var after: [UInt8]?
    if item.local.rows == 0 { merge.addLocal([], last: true) }
    var toHere: [Strata_V1_WriteRow] = []
    var toPeer: [Strata_V1_WriteRow] = []
    var received: UInt64 = 0
    var sent: UInt64 = 0
    var bytes: UInt64 = 0
    var finished = false
    while !finished || !toHere.isEmpty || !toPeer.isEmpty {
      if !finished {
        switch merge.step() {
        case .needLocal:
          let page = try await store.bucketRows(
            bucket: item.key.bucket, group: group, including: shared, after: after, limit: Self.pageRows, within: within)
          after = page.resumeAfter
          merge.addLocal(page.rows.map { ($0.repairKey, ShardService<Transport>.writeRow($0)) }, last: after == nil)
        case .needPeer:
          if let message = try await nextPeerMessage() {
            let size = UInt64(FeatureStoreService.estimate(message))
            bytes += size
            if transferEpoch != 0 { try await wait(pace.record(Int(size), elapsed: .now - began)) }
            peerFeatures = message.features
            merge.addPeer(
              message.rows.map { r in
                let key = BucketRow.repairKey(
                  entityID: r.entityID, eventTime: Timestamp(microseconds: r.eventTimestampMicros),
                  createdTime: Timestamp(microseconds: r.createdTimestampMicros), writeID: r.writeID)
                return (key, r)
              },
              last: false)
          } else {
            merge.addPeer([], last: true)
          }
        case .done:
          finished = true
        }
        toHere += merge.takeMissingLocally()
        toPeer += merge.takeMissingOnPeer()
      }
      if toHere.count >= Self.pageRows || (finished && !toHere.isEmpty) {
        let batch = Array(toHere.prefix(Self.pageRows))
        toHere.removeFirst(batch.count)
        let request = Self.batch(batch, group: group, features: peerFeatures)
        // Converted on the store's writer thread, not on the cooperative pool that serves lookups.
        _ = try await store.write(writeIDs: .accept) { WriteRequest(proto: request) }
        received += UInt64(batch.count)
        if transferEpoch == 0 { try await wait(pace.record(batch.count, elapsed: .now - began)) }
      }
      if toPeer.count >= Self.pageRows || (finished && !toPeer.isEmpty) {
        let batch = Array(toPeer.prefix(Self.pageRows))
        toPeer.removeFirst(batch.count)
        let request = Self.batch(batch, group: group, features: localFeatures)
        _ = try await client.writeBatch(request, metadata: cluster.metadata, options: options(timeout: cluster.callTimeout))
        sent += UInt64(batch.count)
        if transferEpoch == 0 { try await wait(pace.record(batch.count, elapsed: .now - began)) }
      }
    }
    return (received, sent, bytes, pace)
  }

  /// The entities a repair with `peer` covers (replicated on both), or with a transfer those this node
  /// receives from `peer`.
  func filter(with peer: String) throws -> @Sendable (UInt64) -> Bool {
    guard transferEpoch != 0 else { return cluster.placement.sharedBy(cluster.selfID, peer) }
    guard let moves = cluster.moves, moves.toEpoch == transferEpoch else {
      throw StrataError.failedPrecondition("this node is not moving ranges to epoch \(transferEpoch) any more")
    }
    return moves.ranges.movingTo(cluster.selfID, from: peer)
  }

  /// With a transfer: the token ranges this node receives from `peer` (what `filter` accepts), so
  /// that reads seek over the rest; nil for a repair.
  func ranges(with peer: String) -> [ClosedRange<UInt64>]? {
    guard transferEpoch != 0, let moves = cluster.moves, moves.toEpoch == transferEpoch else { return nil }
    return moves.ranges.ranges(to: cluster.selfID, from: peer)
  }

  private func wait(_ duration: Duration) async throws {
    if duration > .zero { try await Task.sleep(for: duration) }
  }

  static func batch(_ rows: [Strata_V1_WriteRow], group: FeatureGroup, features: [String]) -> Strata_V1_WriteFeaturesRequest {
    .with {
      $0.group = group.name
      $0.version = UInt32(group.version)
      $0.features = features
      $0.rows = rows
    }
  }
}

/// Stores with a repair running (see `ReplicaRepair.run`).
private let runningStores = Mutex<Set<ObjectIdentifier>>([])

/// The failure of one (bucket, group version) of a repair with a peer.
struct RepairItemError: Error, CustomStringConvertible {
  let item: BucketGroup
  let underlying: any Error

  var description: String { "\(item): \(underlying)" }
}
