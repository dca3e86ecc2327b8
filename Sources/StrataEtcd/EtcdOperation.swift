/// One operation of a transaction's `then` or `else` branch.
///
/// etcd refuses (invalidArgument) a transaction that writes the same key twice in one branch.
public enum EtcdOperation: Hashable, Sendable {
  /// Sets `key` to `value`, attached to `lease` when given (0 or nil: no lease).
  case put(key: String, value: [UInt8], lease: Int64? = nil)
  /// Deletes every key in the range.
  case delete(EtcdKeyRange)
  /// Reads the range as of the transaction's own revision (writes earlier in the branch are visible).
  case get(EtcdKeyRange)

  /// `.put` with a UTF-8 string value.
  public static func put(_ key: String, _ value: String, lease: Int64? = nil) -> EtcdOperation {
    .put(key: key, value: Array(value.utf8), lease: lease)
  }
}
