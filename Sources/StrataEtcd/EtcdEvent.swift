/// One change seen by a watch.
public struct EtcdEvent: Hashable, Sendable {
  public enum Kind: Hashable, Sendable {
    /// The key was created or changed (`keyValue.version == 1`: created).
    case put
    /// The key was deleted, or its lease expired. `keyValue` carries the key and, in `modRevision`, the
    /// revision of the deletion; its value is empty.
    case delete
  }

  public var kind: Kind
  public var keyValue: EtcdKeyValue

  public init(kind: Kind, keyValue: EtcdKeyValue) {
    self.kind = kind
    self.keyValue = keyValue
  }

  /// The store revision of this change (all changes of one transaction share it).
  public var revision: Int64 { keyValue.modRevision }
}
