public import StrataCore

/// Where a cluster's metadata lives in etcd: every key starts with `/strata/<cluster name>/`.
///
/// - `layout`: the `ClusterLayout` (JSON);
/// - `registry/<group>/<version, 10 digits>`: one group version (JSON, the registry's own form), its
///   status included; `registry/@model/<name>/<version, 10 digits>`: one model version;
///   `registry/@training-set/<name>`: one training set (group names cannot start with `@`); a change
///   of the registry is one transaction against these keys;
/// - `applied/<node id>`: the registry revision the node serves (decimal), under the node's lease, so
///   it disappears when the node stops or loses etcd;
/// - `layout-applied/`, `change-driver`, `change-done/`, `change-progress/`: membership changes
///   (`MembershipChanges`);
/// - `idempotency/<key>`: the record of a pushed event batch's idempotency key (`EtcdIdempotencyKeys`),
///   under a lease that ends it after the keys' retention.
public struct MetadataKeys: Sendable, Equatable {
  public let prefix: String

  /// INVALID_ARGUMENT-style message for a name that cannot be used in a key.
  public static func check(clusterName name: String) -> String? {
    guard !name.isEmpty, name.utf8.count <= 128, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
      return "the cluster name '\(name)' must be 1 to 128 letters, digits, '-', '_' or '.'"
    }
    return nil
  }

  public init(clusterName: String) {
    prefix = "/strata/\(clusterName)/"
  }

  public var layout: String { prefix + "layout" }
  public var registry: String { prefix + "registry/" }
  public func registry(group: String) -> String { prefix + "registry/\(group)/" }
  public func registry(group: String, version: Int) -> String {
    let digits = String(version)
    return registry(group: group) + String(repeating: "0", count: max(0, 10 - digits.count)) + digits
  }
  /// The key of one registry entry (see the type's documentation).
  public func registry(entry: RegistryEntry) -> String {
    switch entry {
    case .group(let g): return registry(group: g.name, version: g.version)
    case .model(let m):
      let digits = String(m.version)
      return registry + "@model/\(m.name)/" + String(repeating: "0", count: max(0, 10 - digits.count)) + digits
    case .trainingSet(let t): return registry + "@training-set/\(t.name)"
    }
  }
  public var applied: String { prefix + "applied/" }
  public func applied(node: String) -> String { applied + node }
  /// `layout-applied/<node>`: the layout revision the node routes by (under its lease).
  public var layoutApplied: String { prefix + "layout-applied/" }
  public func layoutApplied(node: String) -> String { layoutApplied + node }
  /// `change-driver`: the node driving the membership change in progress (under its lease).
  public var changeDriver: String { prefix + "change-driver" }
  /// `change-done/<node>`: the last phase of a change the node finished (`MembershipChange.doneMarker`).
  public var changeDone: String { prefix + "change-done/" }
  public func changeDone(node: String) -> String { changeDone + node }
  /// `change-progress/<node>`: how the node's transfer of the ranges it gains goes (JSON).
  public var changeProgress: String { prefix + "change-progress/" }
  public func changeProgress(node: String) -> String { changeProgress + node }
  /// `idempotency/<key>`: one idempotency key's record (`IdempotencyRecord`).
  public var idempotency: String { prefix + "idempotency/" }
  public func idempotency(key: String) -> String { idempotency + key }
}
