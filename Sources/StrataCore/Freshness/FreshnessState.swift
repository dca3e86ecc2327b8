/// Whether a group's data is as fresh as its declared refresh interval promises.
///
/// With interval I and the age A of the last write (now minus the last write's time; a version never
/// written counts from its registration): FRESH when A <= I, LATE when I < A <= 2I, ALERT when
/// A > 2I. A group without a declared interval is UNTRACKED (no promise to check).
public enum FreshnessState: String, Hashable, Sendable, CaseIterable {
  case fresh = "FRESH"
  case late = "LATE"
  case alert = "ALERT"
  case untracked = "UNTRACKED"

  /// The state at `now` of a group version with refresh interval `intervalSeconds` (nil: untracked)
  /// last written at `lastWrite` (nil: never, then counted from `registeredAt`).
  public static func of(
    lastWrite: Timestamp?, registeredAt: Timestamp, intervalSeconds: Int64?, now: Timestamp
  ) -> FreshnessState {
    guard let intervalSeconds, intervalSeconds > 0 else { return .untracked }
    let since = lastWrite ?? registeredAt
    let age = Int128(now.microseconds) - Int128(since.microseconds)
    let interval = Int128(intervalSeconds) * 1_000_000
    if age <= interval { return .fresh }
    if age <= 2 * interval { return .late }
    return .alert
  }
}
