/// The exact point-in-time rules, shared by online serving and historical joins.
///
/// Choosing the row (done by storage with a single seek, and by `latestRow(in:asOf:)` as the oracle):
/// the row with the greatest `eventTime <= reference`; among equal event times the greatest
/// `createdTime`; then the greatest `sequence`. A row with `eventTime > reference` is never used.
///
/// Turning the chosen row into a value (`result(...)`):
/// - no row → DEFAULTED (the feature's default) or MISSING (null);
/// - row older than the group's max age, `eventTime < reference - maxAge` → EXPIRED, value = the
///   default or null (the bound is inclusive: `reference - maxAge <= eventTime` is still valid);
/// - row with this feature null → DEFAULTED or MISSING;
/// - otherwise PRESENT with the stored value.
/// Online reads use `now` as the reference, historical reads the label time.
public enum PointInTime {
  /// The oracle: the winning row among `rows` (any order) at `reference`, or nil.
  public static func latestRow(in rows: [StoredRow], asOf reference: Timestamp) -> StoredRow? {
    var best: StoredRow?
    for row in rows where row.eventTime <= reference {
      if let b = best, !row.supersedes(b) { continue }
      best = row
    }
    return best
  }

  /// The value of `feature` (index into the group's features) from `row` at `reference`.
  @inlinable
  public static func result(
    row: StoredRow?,
    featureIndex: Int,
    group: FeatureGroup,
    reference: Timestamp
  ) -> FeatureResult {
    let spec = group.spec.features[featureIndex]
    guard let row else {
      return spec.defaultValue.map { FeatureResult(value: $0, status: .defaulted, eventTime: nil) }
        ?? FeatureResult(value: nil, status: .missing, eventTime: nil)
    }
    if let maxAge = group.maxAgeMicros, row.eventTime < reference.subtracting(microseconds: maxAge) {
      return FeatureResult(value: spec.defaultValue, status: .expired, eventTime: row.eventTime)
    }
    if spec.aggregation != nil {
      // An aggregate has no single source row (`AggregateResult.featureResult`).
      let fallback = row.overflowed.contains(featureIndex) ? nil : spec.defaultValue
      return row.values[featureIndex].map { FeatureResult(value: $0, status: .present, eventTime: nil) }
        ?? fallback.map { FeatureResult(value: $0, status: .defaulted, eventTime: nil) }
        ?? FeatureResult(value: nil, status: .missing, eventTime: nil)
    }
    if let value = row.values[featureIndex] {
      return FeatureResult(value: value, status: .present, eventTime: row.eventTime)
    }
    return spec.defaultValue.map { FeatureResult(value: $0, status: .defaulted, eventTime: row.eventTime) }
      ?? FeatureResult(value: nil, status: .missing, eventTime: row.eventTime)
  }
}

/// One returned feature value with its status and the event time of the row it came from.
public struct FeatureResult: Hashable, Sendable {
  public var value: FeatureValue?
  public var status: ValueStatus
  /// Event time of the stored row the value came from; nil when no row was found.
  public var eventTime: Timestamp?

  public init(value: FeatureValue?, status: ValueStatus, eventTime: Timestamp?) {
    self.value = value
    self.status = status
    self.eventTime = eventTime
  }
}
