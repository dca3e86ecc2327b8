/// One event of a stream as the aggregates of one field see it: when it happened, when it was
/// ingested, its write id, and the field's value (nil when the event has the field null or absent).
///
/// Events are ordered like stored rows (`StoredRow.supersedes`): by `eventTime`, then `createdTime`
/// (the ingest time), then `sequence` (the write id assigned once by the accepting node, kept by every
/// copy). That triple identifies an event: two events with the same triple are the same event (a
/// retried, hinted or repaired copy), and a source stores it once.
public struct AggregationEvent: Hashable, Sendable {
  /// When the event happened; decides which windows contain it.
  public var eventTime: Timestamp
  /// When Strata accepted it; `knownAt` reads exclude events with `createdTime > knownAt`.
  public var createdTime: Timestamp
  /// The write id (`WriteID.rawValue`); the last tie-break of the order.
  public var sequence: UInt64
  /// The field's value; nil is a null.
  public var value: FeatureValue?

  public init(eventTime: Timestamp, createdTime: Timestamp, sequence: UInt64, value: FeatureValue?) {
    self.eventTime = eventTime
    self.createdTime = createdTime
    self.sequence = sequence
    self.value = value
  }

  /// Whether `self` comes after `other` in the event order (event time, created time, sequence).
  @inlinable
  public func isLater(than other: AggregationEvent) -> Bool {
    (eventTime, createdTime, sequence) > (other.eventTime, other.createdTime, other.sequence)
  }

  /// Whether `self` and `other` are the same event (equal event time, created time and sequence).
  @inlinable
  public func isSameEvent(as other: AggregationEvent) -> Bool {
    eventTime == other.eventTime && createdTime == other.createdTime && sequence == other.sequence
  }
}
