public import StrataCore

/// Where a cluster's registry changes are made when it is not pushed by a leader node: each change
/// returns once every live node serves it (`EtcdRegistry`).
public protocol ClusterRegistry: Sendable {
  /// Runs `body` on the cluster's registry and makes what it changed (group versions, models, training
  /// sets) the whole cluster's; all or nothing (`body` throwing changes nothing).
  func change<Result: Sendable>(_ body: (inout Catalog) throws(StrataError) -> Result) async throws -> Result
}

extension ClusterRegistry {
  /// Applies `specs` (all-or-nothing, `Catalog.apply` rules) for the whole cluster.
  public func apply(_ specs: [FeatureGroupSpec], now: Timestamp) async throws -> [Catalog.ApplyResult] {
    try await change { catalog throws(StrataError) in try catalog.apply(specs, now: now).results }
  }

  /// Changes one version's status for the whole cluster at `now`, recording `note` with the change.
  public func setStatus(_ status: GroupStatus, group: String, version: Int, now: Timestamp, note: StatusNote) async throws -> FeatureGroup {
    try await change { catalog throws(StrataError) in try catalog.setStatus(status, group: group, version: version, at: now, note: note) }
  }
}
