public import Logging
public import StrataEtcd
public import StrataMetadata
internal import StrataCore
public import StrataGRPC
internal import StrataCluster

/// A cluster whose metadata is in etcd: the client and the keys of this cluster.
public struct EtcdMetadata: Sendable {
  public let etcd: EtcdClient
  public let keys: MetadataKeys

  public init(etcd: EtcdClient, keys: MetadataKeys) {
    self.etcd = etcd
    self.keys = keys
  }

  /// Joins the cluster (`EtcdMembership`) as `me` and returns the settings of the layout it formed.
  public func join(
    _ request: EtcdMembership.Request, lookups: InternodeLookups, lanePort: Int, timeout: Duration, logger: Logger
  ) async throws -> ClusterSettings {
    let membership = EtcdMembership(etcd: etcd, keys: keys, logger: logger)
    _ = try await membership.join(request, timeout: timeout)
    // Read again for the revision the node then follows from (a change may have moved on meanwhile).
    guard let (layout, revision) = try await membership.read(), layout.participant(request.me.id) != nil else {
      throw StrataError.failedPrecondition("node \(request.me.id) is no longer a member of this cluster")
    }
    var settings = ClusterSettings(
      nodes: layout.participants.map {
        ClusterSettings.Node(id: $0.id, host: $0.host, port: $0.port, internodePort: $0.internodePort, zone: $0.zone)
      },
      selfID: request.me.id, epoch: layout.epoch, virtualNodes: layout.virtualNodes, lookups: lookups, lanePort: lanePort,
      replicationFactor: layout.replicationFactor)
    settings.layout = layout
    settings.layoutRevision = revision
    return settings
  }
}
