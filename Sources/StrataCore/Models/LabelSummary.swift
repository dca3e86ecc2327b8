/// What a training set's label input was: how many rows, their checksum, the label time range and
/// whether any row set `known_at`.
public struct LabelSummary: Hashable, Sendable {
  public var rows: Int
  /// `sha256:` and the lowercase hex SHA-256 of the labels in input order, each encoded as: the entity
  /// id's UTF-8 length (u32 big-endian), its bytes, the label time in microseconds (i64 big-endian),
  /// then 0x00 without `known_at`, or 0x01 and `known_at` in microseconds (i64 big-endian).
  public var checksum: String
  /// The earliest and latest label time (nil for no rows).
  public var firstLabelTime: Timestamp?
  public var lastLabelTime: Timestamp?
  /// Whether any label row set `known_at` (as-of-known-time export).
  public var usedKnownAt: Bool

  public init(rows: Int, checksum: String, firstLabelTime: Timestamp?, lastLabelTime: Timestamp?, usedKnownAt: Bool) {
    self.rows = rows
    self.checksum = checksum
    self.firstLabelTime = firstLabelTime
    self.lastLabelTime = lastLabelTime
    self.usedKnownAt = usedKnownAt
  }
}
