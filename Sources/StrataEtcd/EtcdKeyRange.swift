/// The keys an operation applies to: one key, every key with a prefix, or every key at or after a key.
///
/// etcd keys are byte strings ordered bytewise; here they are UTF-8 strings. A range is etcd's
/// `[key, rangeEnd)`: `.prefix("a/")` is `["a/", "a0")` (the last byte below 0xff incremented).
public struct EtcdKeyRange: Hashable, Sendable, CustomStringConvertible {
  /// The first key of the range (the key itself for a single key).
  public let key: [UInt8]
  /// One past the last key of the range; empty for a single key, `[0]` for "every key >= key".
  public let rangeEnd: [UInt8]

  private init(key: [UInt8], rangeEnd: [UInt8]) {
    self.key = key
    self.rangeEnd = rangeEnd
  }

  /// Exactly `key`.
  public static func key(_ key: String) -> EtcdKeyRange { EtcdKeyRange(key: Array(key.utf8), rangeEnd: []) }

  /// Every key that starts with `prefix` (an empty prefix is every key).
  public static func prefix(_ prefix: String) -> EtcdKeyRange {
    let key = Array(prefix.utf8)
    return EtcdKeyRange(key: key.isEmpty ? [0] : key, rangeEnd: prefixEnd(key))
  }

  /// Every key `>= from` and `< to` (bytewise).
  public static func range(from: String, to: String) -> EtcdKeyRange {
    EtcdKeyRange(key: Array(from.utf8), rangeEnd: Array(to.utf8))
  }

  /// Whether `candidate` is in the range.
  public func contains(_ candidate: [UInt8]) -> Bool {
    if rangeEnd.isEmpty { return candidate == key }
    guard !candidate.lexicographicallyPrecedes(key) else { return false }
    return rangeEnd == [0] || candidate.lexicographicallyPrecedes(rangeEnd)
  }

  /// The smallest key greater than every key with `prefix`: drop trailing 0xff bytes and increment the
  /// last byte; `[0]` (etcd's "no upper bound") when there is none.
  static func prefixEnd(_ prefix: [UInt8]) -> [UInt8] {
    var end = prefix
    while let last = end.last {
      if last < 0xff {
        end[end.count - 1] = last + 1
        return end
      }
      end.removeLast()
    }
    return [0]
  }

  public var description: String {
    let k = String(decoding: key, as: UTF8.self)
    if rangeEnd.isEmpty { return "'\(k)'" }
    if rangeEnd == Self.prefixEnd(key) { return "prefix '\(k)'" }
    if rangeEnd == [0] { return "keys >= '\(k)'" }
    return "['\(k)', '\(String(decoding: rangeEnd, as: UTF8.self))')"
  }
}
