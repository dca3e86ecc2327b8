/// One unit of anti-entropy repair: the rows of one group version (by name and version, the same on
/// every node) whose entities' tokens fall in one bucket (`HistoryDigest.bucket(ofToken:)`).
///
/// Ordered by bucket, then group name, then version.
public struct BucketGroup: Hashable, Comparable, Sendable, CustomStringConvertible {
  /// 0..<`HistoryDigest.bucketCount`.
  public var bucket: Int
  public var group: String
  public var version: Int

  public init(bucket: Int, group: String, version: Int) {
    self.bucket = bucket
    self.group = group
    self.version = version
  }

  public static func < (lhs: BucketGroup, rhs: BucketGroup) -> Bool {
    (lhs.bucket, lhs.group, lhs.version) < (rhs.bucket, rhs.group, rhs.version)
  }

  /// "bucket 0x3f of user_stats@2".
  public var description: String { "bucket 0x\(String(bucket, radix: 16)) of \(group)@\(version)" }
}
