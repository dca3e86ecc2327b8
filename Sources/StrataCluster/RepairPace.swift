/// Keeps a repair's transfer at or below a rate: after each batch, how long to wait so that the rows
/// moved so far (received plus sent) divided by the time since the start stays at or below
/// `rowsPerSecond`. Pure: the caller measures the time and sleeps.
///
/// Example: at 1000 rows/s, a first batch of 500 rows done after 0.1 s waits 0.4 s.
public struct RepairPace: Sendable, Equatable {
  /// nil: no limit.
  public let rowsPerSecond: Int?
  public private(set) var rows = 0

  public init(rowsPerSecond: Int?) {
    precondition(rowsPerSecond.map { $0 > 0 } ?? true, "a repair rate must be positive")
    self.rowsPerSecond = rowsPerSecond
  }

  /// Counts `count` more rows, `elapsed` after the transfer began; returns the wait before the next batch.
  public mutating func record(_ count: Int, elapsed: Duration) -> Duration {
    rows += count
    guard let rate = rowsPerSecond else { return .zero }
    let due = Duration.seconds(Double(rows) / Double(rate))
    return due > elapsed ? due - elapsed : .zero
  }
}
