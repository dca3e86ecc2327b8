public import GRPCCore
internal import StrataCluster
internal import StrataCore
public import StrataProto
internal import SwiftProtobuf
internal import StrataStorage

// The answering side of anti-entropy repair (docs/repair.md): digests and rows of the entities this
// node replicates together with the caller.

extension ShardService {
  /// Rows per `GetRangeRows` message (and per page read from storage): small enough that decoding one
  /// on the receiving node holds its thread for well under a millisecond.
  static var rangeRowsPerMessage: Int { 256 }

  public func getDigests(request: Strata_V1_DigestRequest, context: ServerContext) async throws -> Strata_V1_DigestResponse {
    try await rpc {
      let shared = try scope(peer: request.peer, movingToEpoch: request.movingToEpoch)
      let digests = try await store.digests(including: shared, within: ranges(peer: request.peer, movingToEpoch: request.movingToEpoch))
      return .with {
        $0.digests = digests.sorted { $0.key < $1.key }.map { key, digest in
          .with {
            $0.bucket = UInt32(key.bucket)
            $0.group = key.group
            $0.version = UInt32(key.version)
            $0.sum = digest.sum
            $0.rows = digest.rows
          }
        }
      }
    }
  }

  public func getRangeRows(
    request: Strata_V1_RangeRowsRequest, response: RPCWriter<Strata_V1_WriteFeaturesRequest>, context: ServerContext
  ) async throws {
    try await rpc {
      let shared = try scope(peer: request.peer, movingToEpoch: request.movingToEpoch)
      guard request.bucket < HistoryDigest.bucketCount else {
        throw StrataError.invalidArgument("bucket \(request.bucket) is out of range (0-255)")
      }
      let group = try store.catalog.group(named: request.group, version: Int(request.version))
      let within = ranges(peer: request.peer, movingToEpoch: request.movingToEpoch)
      var after: [UInt8]?
      repeat {
        let page = try await store.bucketRows(
          bucket: Int(request.bucket), group: group, including: shared, after: after, limit: Self.rangeRowsPerMessage,
          within: within)
        if !page.rows.isEmpty {
          // Rows become a message on the bulk threads: the cooperative pool serves online lookups.
          let rows = page.rows
          try await response.write(BackgroundThreads.shared.run { Self.writeRequest(rows, group: group) })
        }
        after = page.resumeAfter
      } while after != nil
    }
  }

  /// The filter of a repair with `peer`: entities replicated on both nodes. INVALID_ARGUMENT for a
  /// node that is not in this node's ring, or this node itself.
  func sharedWith(_ peer: String) throws(StrataError) -> @Sendable (UInt64) -> Bool {
    try scope(peer: peer, movingToEpoch: 0)
  }

  /// The filter of a repair (`movingToEpoch` 0) or of a range transfer to `peer` in the membership
  /// change to that epoch: the entities `peer` receives that this node holds as an old replica.
  /// FAILED_PRECONDITION when this node's view has no such change (it is over, or not known here yet).
  func scope(peer: String, movingToEpoch: UInt64) throws(StrataError) -> @Sendable (UInt64) -> Bool {
    let cluster = self.cluster
    guard peer != cluster.selfID, cluster.members.contains(peer) else {
      throw .invalidArgument("'\(peer)' is not another node of this cluster (nodes: \(cluster.members.joined(separator: ", ")))")
    }
    guard movingToEpoch != 0 else { return cluster.placement.sharedBy(cluster.selfID, peer) }
    guard let moves = cluster.moves, moves.toEpoch == movingToEpoch else {
      throw .failedPrecondition(
        "node \(cluster.selfID) is not moving ranges to epoch \(movingToEpoch) (it routes by \(cluster.transition.map { "a change to epoch \($0.new.ring.epoch)" } ?? "epoch \(cluster.ring.epoch) with no change in progress")); retry once both nodes applied the same layout")
    }
    return moves.ranges.movingTo(peer, from: cluster.selfID)
  }

  /// With a range transfer (`movingToEpoch` nonzero): the token ranges `peer` receives from this node,
  /// outside which `scope` is false, so reads seek over the rest of the history; nil for a repair.
  func ranges(peer: String, movingToEpoch: UInt64) -> [ClosedRange<UInt64>]? {
    guard movingToEpoch != 0, let moves = cluster.moves, moves.toEpoch == movingToEpoch else { return nil }
    return moves.ranges.ranges(to: peer, from: cluster.selfID)
  }

  /// `rows` of `group` as one internode write: every feature, created times and write ids set.
  static func writeRequest(_ rows: [BucketRow], group: FeatureGroup) -> Strata_V1_WriteFeaturesRequest {
    .with {
      $0.group = group.name
      $0.version = UInt32(group.version)
      $0.features = group.spec.features.map(\.name)
      $0.rows = rows.map(writeRow)
    }
  }

  /// One stored row as an internode write row (every feature, in definition order).
  static func writeRow(_ r: BucketRow) -> Strata_V1_WriteRow {
    .with {
      $0.entityID = r.entityID
      $0.eventTimestampMicros = r.row.eventTime.microseconds
      $0.createdTimestampMicros = r.row.createdTime.microseconds
      $0.writeID = r.row.sequence
      $0.values = r.row.values.map(\.proto)
    }
  }
}
