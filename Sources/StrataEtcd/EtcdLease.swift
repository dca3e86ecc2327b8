/// A lease granted by etcd: keys attached to it are deleted when it expires or is revoked.
///
/// A lease expires `ttl` after it was granted or last kept alive (`EtcdClient.keepAlive`); etcd may
/// grant a longer TTL than asked for (its minimum is about 1.5 s of election timeout).
public struct EtcdLease: Hashable, Sendable {
  /// etcd's lease id; pass it to `put(..., lease:)`.
  public var id: Int64
  /// The TTL etcd granted, in whole seconds.
  public var ttl: Duration

  public init(id: Int64, ttl: Duration) {
    self.id = id
    self.ttl = ttl
  }
}
