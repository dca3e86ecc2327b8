/// One row of a group version for one entity, as stored: the version ordering triple plus the values.
///
/// Rows are ordered by `(eventTime, createdTime, sequence)`: the greater triple is the later truth.
/// `sequence` is a store-wide append counter that breaks ties between rows with equal event and created
/// times (the later write wins), so the order is total and no row is ever overwritten.
public struct StoredRow: Hashable, Sendable {
  public var eventTime: Timestamp
  public var createdTime: Timestamp
  public var sequence: UInt64
  /// One slot per feature of the group version, in definition order; `nil` is a null.
  public var values: [FeatureValue?]

  public init(eventTime: Timestamp, createdTime: Timestamp, sequence: UInt64, values: [FeatureValue?]) {
    self.eventTime = eventTime
    self.createdTime = createdTime
    self.sequence = sequence
    self.values = values
  }

  /// Whether `self` supersedes `other`: greater event time, then greater created time, then greater sequence.
  @inlinable
  public func supersedes(_ other: StoredRow) -> Bool {
    (eventTime, createdTime, sequence) > (other.eventTime, other.createdTime, other.sequence)
  }
}
