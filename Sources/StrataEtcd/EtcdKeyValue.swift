/// A key and its value as etcd stores it, with the revisions that order its history.
///
/// Revisions: etcd keeps one store-wide revision counter that every write (put, delete, a transaction
/// with writes) increments by one; all changes of one transaction share one revision. `modRevision` is
/// the revision of the key's last change, `createRevision` of its creation (since it last did not
/// exist), and `version` counts the changes since creation (1 right after creation; a deletion resets
/// it, a deleted key has none).
public struct EtcdKeyValue: Hashable, Sendable {
  public var key: String
  public var value: [UInt8]
  public var createRevision: Int64
  public var modRevision: Int64
  public var version: Int64
  /// The lease the key is attached to (0: none). When the lease expires, etcd deletes the key.
  public var lease: Int64

  public init(key: String, value: [UInt8], createRevision: Int64, modRevision: Int64, version: Int64, lease: Int64) {
    self.key = key
    self.value = value
    self.createRevision = createRevision
    self.modRevision = modRevision
    self.version = version
    self.lease = lease
  }

  /// The value decoded as UTF-8.
  public var valueString: String { String(decoding: value, as: UTF8.self) }
}
