/// The answer to a read: the keys that matched and the store revision the read saw.
public struct EtcdRangeResult: Hashable, Sendable {
  /// The store's revision for this read: every change up to it is reflected, none after it. A watch
  /// started at `revision + 1` sees exactly the changes after this read.
  public var revision: Int64
  /// The matching keys in key order (bytewise), at most `limit` of them when a limit was given.
  public var keyValues: [EtcdKeyValue]
  /// Whether more keys matched than were returned (because of the limit).
  public var more: Bool
  /// How many keys matched in total (not only those returned).
  public var count: Int64

  public init(revision: Int64, keyValues: [EtcdKeyValue], more: Bool, count: Int64) {
    self.revision = revision
    self.keyValues = keyValues
    self.more = more
    self.count = count
  }

  /// The first matching key, if any (the key itself for a single-key read).
  public var first: EtcdKeyValue? { keyValues.first }
}
