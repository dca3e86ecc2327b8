public import GRPCCore
public import StrataProto
internal import SwiftProtobuf

extension FeatureStoreService {
  /// A single node holds one copy of everything: there is nothing to compare, and the answer says so
  /// (no peers, nothing moved).
  public func repair(request: Strata_V1_RepairRequest, context: ServerContext) async throws -> Strata_V1_RepairResponse {
    .with { $0.nodeID = node.nodeID }
  }
}
