/// One condition of a transaction, evaluated by etcd against a key's current state.
///
/// A key that does not exist has version 0, create revision 0 and mod revision 0 (so
/// `.version("k", .equal, 0)` means "k does not exist", `.modRevision("k", .equal, r)` means "k has not
/// changed since revision r"); a value comparison on a missing key is false.
public struct EtcdCompare: Hashable, Sendable {
  /// How the key's attribute relates to the given operand.
  public enum Relation: Hashable, Sendable {
    case equal, notEqual, less, greater
  }

  /// What is compared.
  public enum Target: Hashable, Sendable {
    case modRevision(Int64)
    case createRevision(Int64)
    case version(Int64)
    case value([UInt8])
  }

  public var key: String
  public var relation: Relation
  public var target: Target

  public init(key: String, _ relation: Relation, _ target: Target) {
    self.key = key
    self.relation = relation
    self.target = target
  }

  /// The key's last-change revision relates to `revision` (0 for a missing key).
  public static func modRevision(_ key: String, _ relation: Relation, _ revision: Int64) -> EtcdCompare {
    EtcdCompare(key: key, relation, .modRevision(revision))
  }

  /// The key's creation revision relates to `revision` (0 for a missing key).
  public static func createRevision(_ key: String, _ relation: Relation, _ revision: Int64) -> EtcdCompare {
    EtcdCompare(key: key, relation, .createRevision(revision))
  }

  /// The key's version relates to `version` (0 for a missing key).
  public static func version(_ key: String, _ relation: Relation, _ version: Int64) -> EtcdCompare {
    EtcdCompare(key: key, relation, .version(version))
  }

  /// The key's value relates to `value` bytewise.
  public static func value(_ key: String, _ relation: Relation, _ value: [UInt8]) -> EtcdCompare {
    EtcdCompare(key: key, relation, .value(value))
  }

  /// The key does not exist.
  public static func missing(_ key: String) -> EtcdCompare { .version(key, .equal, 0) }
}
