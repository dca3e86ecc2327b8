/// A point in time: signed microseconds since the Unix epoch, UTC.
///
/// Microseconds are the unit everywhere in Strata (storage keys, the wire contract, comparisons), so two
/// timestamps compare exactly; there is no floating-point rounding anywhere on the semantic path.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
  public var microseconds: Int64

  @inlinable
  public init(microseconds: Int64) {
    self.microseconds = microseconds
  }

  public static func seconds(_ seconds: Int64) -> Timestamp {
    let (r, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000)
    return overflow ? (seconds < 0 ? .min : .max) : Timestamp(microseconds: r)
  }

  public static let min = Timestamp(microseconds: .min)
  public static let max = Timestamp(microseconds: .max)
  public static let epoch = Timestamp(microseconds: 0)

  @inlinable
  public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
    lhs.microseconds < rhs.microseconds
  }

  /// `self - delta`, saturating at `Timestamp.min`/`.max` (toward the true result) instead of overflowing.
  public func subtracting(microseconds delta: Int64) -> Timestamp {
    let (r, overflow) = self.microseconds.subtractingReportingOverflow(delta)
    return overflow ? (delta > 0 ? .min : .max) : Timestamp(microseconds: r)
  }

  /// `self + delta`, saturating at `Timestamp.max`/`.min` (toward the true result) instead of overflowing.
  public func adding(microseconds delta: Int64) -> Timestamp {
    let (r, overflow) = self.microseconds.addingReportingOverflow(delta)
    return overflow ? (delta > 0 ? .max : .min) : Timestamp(microseconds: r)
  }

  /// RFC 3339 in UTC with microsecond precision, e.g. `2024-05-01T12:00:00.000250Z`.
  public var description: String { TimestampFormat.rfc3339(self) }
}
