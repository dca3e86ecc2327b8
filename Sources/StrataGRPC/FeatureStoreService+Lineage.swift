public import GRPCCore
internal import StrataCore
public import StrataProto
internal import StrataStorage
internal import SwiftProtobuf

extension FeatureStoreService {
  /// `GetLineage` on a single node: the graph from this node's registry and this node's write log.
  public func getLineage(
    request: Strata_V1_GetLineageRequest, context: ServerContext
  ) async throws -> Strata_V1_GetLineageResponse {
    try await rpc {
      var response = try Self.lineage(request, catalog: store.catalog)
      response.writers = Self.writeRecords(store, storageID: try Self.version(request, catalog: store.catalog).storageID, nodeID: "")
      return response
    }
  }

  /// The version `request` names: NOT_FOUND for an unknown group or version, FAILED_PRECONDITION for
  /// an unpinned name without an ACTIVE version.
  static func version(_ request: Strata_V1_GetLineageRequest, catalog: Catalog) throws(StrataError) -> FeatureGroup {
    try catalog.group(named: request.group, version: request.version == 0 ? nil : Int(request.version))
  }

  /// The version `request` names and its upstream and downstream graph (`LineageGraph`), without writers.
  static func lineage(_ request: Strata_V1_GetLineageRequest, catalog: Catalog) throws(StrataError) -> Strata_V1_GetLineageResponse {
    let group = try version(request, catalog: catalog)
    let graph = LineageGraph(of: group, in: catalog)
    func node(_ n: LineageGraph.Node) -> Strata_V1_LineageNode {
      let spec = n.group.proto.spec
      return .with {
        $0.group = n.group.name
        $0.version = UInt32(n.group.version)
        $0.kind = spec.kind
        $0.status = n.group.status.proto
        if spec.hasLineage { $0.lineage = spec.lineage }
        $0.depth = UInt32(n.depth)
        $0.derivedFrom = n.derivedFrom
      }
    }
    return .with {
      $0.group = group.proto
      $0.upstream = graph.upstream.map(node)
      $0.downstream = graph.downstream.map(node)
      $0.models = graph.models.map(\.proto)
      $0.trainingSets = graph.trainingSets.map(\.proto)
    }
  }

  /// This node's write log of one group version, each record tagged with `nodeID`.
  static func writeRecords(_ store: FeatureStore, storageID: UInt32, nodeID: String) -> [Strata_V1_WriteRecord] {
    store.writeLog.records(storageID: storageID).map { r in
      .with {
        $0.nodeID = nodeID
        $0.pipeline = r.writer.pipeline
        $0.runID = r.writer.runID
        $0.batches = r.batches
        $0.rows = r.rows
        $0.firstWriteMicros = r.firstWrite.microseconds
        $0.lastWriteMicros = r.lastWrite.microseconds
        if let events = r.events {
          $0.minEventMicros = events.lowerBound.microseconds
          $0.maxEventMicros = events.upperBound.microseconds
        }
      }
    }
  }
}
