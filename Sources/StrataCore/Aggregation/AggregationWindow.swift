/// The length of a sliding window, from 1 minute to 90 days inclusive, in microseconds.
///
/// The value of an aggregate at time `T` covers the events with `T - window < eventTime <= T`: an
/// event exactly at `T` counts, an event exactly at `T - window` does not (so two adjacent windows
/// never share an event, and a window of 1 minute at 12:01:00 covers 12:00:00.000001...12:01:00).
///
/// ```swift
/// let hour = try AggregationWindow(seconds: 3_600)
/// hour.tileWidth  // 10 s: at most 360 whole tiles in the window
/// ```
public struct AggregationWindow: Hashable, Comparable, Sendable, CustomStringConvertible {
  public let microseconds: Int64

  public static let minimumMicroseconds: Int64 = 60 * 1_000_000
  public static let maximumMicroseconds: Int64 = 90 * 86_400 * 1_000_000

  /// Throws INVALID_ARGUMENT unless `minimumMicroseconds <= microseconds <= maximumMicroseconds`.
  public init(microseconds: Int64) throws(StrataError) {
    guard microseconds >= Self.minimumMicroseconds, microseconds <= Self.maximumMicroseconds else {
      throw .invalidArgument(
        "aggregation window of \(microseconds) microseconds is out of range: use 1 minute to 90 days (60000000...7776000000000 microseconds)"
      )
    }
    self.microseconds = microseconds
  }

  /// A window of whole seconds (60...7776000).
  public init(seconds: Int64) throws(StrataError) {
    let (micros, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000)
    guard !overflow else {
      throw .invalidArgument("aggregation window of \(seconds) seconds is out of range: use 1 minute to 90 days")
    }
    try self.init(microseconds: micros)
  }

  /// The coarsest tile width a window of this length reads whole tiles of: the smallest width of
  /// `AggregationTiling.ladder` with `window <= maxTilesPerWindow * width`, so that a read merges at
  /// most 360 tiles of that width (and, with the finer widths of the ladder at the two edges, at most
  /// 66 more; see `AggregationTiling`). 1 min...6 min: 1 s; ...1 h: 10 s; ...6 h: 1 min;
  /// ...60 h: 10 min; ...15 d: 1 h; ...90 d: 6 h.
  public var tileWidth: Int64 {
    for width in AggregationTiling.ladder where microseconds <= Int64(AggregationTiling.maxTilesPerWindow) * width {
      return width
    }
    return AggregationTiling.ladder[AggregationTiling.ladder.count - 1]
  }

  public static func < (lhs: AggregationWindow, rhs: AggregationWindow) -> Bool { lhs.microseconds < rhs.microseconds }

  /// `90d`, `1h`, `5m`, `30s` when whole, else microseconds (`1500000us`).
  public var description: String {
    for (unit, name) in [(Int64(86_400_000_000), "d"), (3_600_000_000, "h"), (60_000_000, "m"), (1_000_000, "s")]
    where microseconds % unit == 0 {
      return "\(microseconds / unit)\(name)"
    }
    return "\(microseconds)us"
  }
}
