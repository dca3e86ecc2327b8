public import GRPCCore
internal import StrataCluster
public import StrataProto
internal import SwiftProtobuf
internal import Foundation

extension ClusterCoordinator {
  /// Repairs this node with each of its peers (`ReplicaRepair`); answers when every peer is done.
  /// Cancelled with the call.
  public func repair(request: Strata_V1_RepairRequest, context: ServerContext) async throws -> Strata_V1_RepairResponse {
    let rate = request.maxRowsPerSecond == 0 ? ReplicaRepair<Transport>.defaultRowsPerSecond : Int(clamping: request.maxRowsPerSecond)
    let repair = ReplicaRepair(store: store, cluster: cluster, logger: logger, rowsPerSecond: rate)
    let started = ContinuousClock.now
    let report = try await cancelledWithRPC { try await repair.run() }
    let elapsed = ContinuousClock.now - started
    let cluster = self.cluster
    return .with {
      $0.nodeID = cluster.selfID
      $0.peersRepaired = UInt32(report.peersRepaired)
      $0.bucketsCompared = UInt64(report.bucketsCompared)
      $0.bucketsDiffering = UInt64(report.bucketsDiffering)
      $0.rowsReceived = report.rowsReceived
      $0.rowsSent = report.rowsSent
      $0.peersFailed = report.peersFailed.map { f in
        .with {
          $0.nodeID = f.node
          $0.address = cluster.addresses[f.node] ?? ""
          $0.message = f.message
        }
      }
      $0.durationMicros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
    }
  }
}
