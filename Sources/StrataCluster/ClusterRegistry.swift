public import StrataCore

/// Where a cluster's registry changes are made when it is not pushed by a leader node: each change
/// returns once every live node serves it (`EtcdRegistry`).
public protocol ClusterRegistry: Sendable {
  /// Applies `specs` (all-or-nothing, `Catalog.apply` rules) for the whole cluster.
  func apply(_ specs: [FeatureGroupSpec], now: Timestamp) async throws -> [Catalog.ApplyResult]
  /// Changes one version's status for the whole cluster at `now`, recording `note` with the change.
  func setStatus(_ status: GroupStatus, group: String, version: Int, now: Timestamp, note: StatusNote) async throws -> FeatureGroup
}
