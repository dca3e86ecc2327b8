public import StrataProto

/// Membership changes of the cluster (kept in etcd; see `StrataServer.EtcdMembershipControl`): what
/// `FeatureStore.ChangeMembership` and the status of a change in progress go through.
public protocol MembershipControl: Sendable {
  /// Records the change `request` asks for (or only reads, with STATUS) and answers with the change in
  /// progress. Throws `StrataError` (FAILED_PRECONDITION for a refusal, UNAVAILABLE without etcd).
  func change(_ request: Strata_V1_ChangeMembershipRequest) async throws -> Strata_V1_ChangeMembershipResponse
}
