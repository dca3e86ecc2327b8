public import StrataCore
internal import Foundation

extension Timestamp {
  /// The system's wall clock, microsecond resolution. Inject a different clock in tests.
  public static func now() -> Timestamp {
    Timestamp(microseconds: Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()))
  }
}
