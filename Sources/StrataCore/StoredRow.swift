/// One row of a group version for one entity, as stored: the version ordering triple plus the values.
///
/// Rows are ordered by `(eventTime, createdTime, sequence)`: the greater triple is the later truth.
/// `sequence` is the row's write id (`WriteID.rawValue`), assigned once by the node that accepted the
/// row and kept by every copy of it: it breaks ties between rows with equal event and created times
/// (the later write wins; ids grow with each node's hybrid logical clock), so the order is total, no
/// row is ever overwritten, and every copy of the same rows agrees on the winner.
public struct StoredRow: Hashable, Sendable {
  public var eventTime: Timestamp
  public var createdTime: Timestamp
  public var sequence: UInt64
  /// One slot per feature of the group version, in definition order; `nil` is a null.
  public var values: [FeatureValue?]
  /// Slots whose null must read as MISSING even when the feature has a default: an aggregate whose
  /// sum does not fit its type (`AggregateResult.overflow`; a default, often 0, would pass for a real
  /// sum). Empty for every stored row.
  public var overflowed: Set<Int> = []

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

extension StoredRow {
  /// This stored event as the input of a windowed aggregate over its field `field`.
  @inlinable public func aggregationEvent(field: Int) -> AggregationEvent {
    AggregationEvent(eventTime: eventTime, createdTime: createdTime, sequence: sequence, value: values[field])
  }
}
