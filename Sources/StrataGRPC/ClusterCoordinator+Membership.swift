public import GRPCCore
public import StrataProto

extension ClusterCoordinator {
  /// Adds, removes or replaces a node, starts a cleanup, or reads the change in progress
  /// (`MembershipControl`); errors from etcd name it (node "etcd").
  public func changeMembership(
    request: Strata_V1_ChangeMembershipRequest, context: ServerContext
  ) async throws -> Strata_V1_ChangeMembershipResponse {
    guard let control = cluster.membership else {
      return try await local.changeMembership(request: request, context: context)
    }
    return try await Self.etcdFailures { try await control.change(request) }
  }
}
