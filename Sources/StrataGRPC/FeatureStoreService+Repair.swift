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

extension FeatureStoreService {
  /// A single node (or a cluster file) has no membership to change while serving.
  public func changeMembership(
    request: Strata_V1_ChangeMembershipRequest, context: ServerContext
  ) async throws -> Strata_V1_ChangeMembershipResponse {
    throw RPCError(
      code: .failedPrecondition,
      message: "membership changes need a cluster whose metadata is in etcd (strata serve --etcd ...); this node is a single node or was started from a cluster file. To turn a single node into a cluster, restart it with --etcd and --node, keeping its --data-dir (docs/scale-out.md)")
  }
}
