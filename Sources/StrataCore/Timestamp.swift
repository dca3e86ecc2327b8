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
    Timestamp(microseconds: seconds.multipliedReportingOverflow(by: 1_000_000).overflow ? .max : seconds * 1_000_000)
  }

  public static let min = Timestamp(microseconds: .min)
  public static let max = Timestamp(microseconds: .max)
  public static let epoch = Timestamp(microseconds: 0)

  @inlinable
  public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
    lhs.microseconds < rhs.microseconds
  }

  /// `self - duration`, saturating at `Timestamp.min` instead of overflowing.
  public func subtracting(microseconds delta: Int64) -> Timestamp {
    let (r, overflow) = self.microseconds.subtractingReportingOverflow(delta)
    return overflow ? .min : Timestamp(microseconds: r)
  }

  /// `self + duration`, saturating at `Timestamp.max` instead of overflowing.
  public func adding(microseconds delta: Int64) -> Timestamp {
    let (r, overflow) = self.microseconds.addingReportingOverflow(delta)
    return overflow ? .max : Timestamp(microseconds: r)
  }

  /// RFC 3339 in UTC with microsecond precision, e.g. `2024-05-01T12:00:00.000250Z`.
  public var description: String { TimestampFormat.rfc3339(self) }
}
