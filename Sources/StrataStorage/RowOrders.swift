public import StrataCore

/// For each label (of a historical chunk) or entity (of an online lookup), the order key of the stored
/// row of one group version that answered it: `(eventTime, createdTime, sequence)`, the triple of
/// `StoredRow.supersedes`, where `sequence` is the row's write id.
///
/// A coordinator that asks several replicas the same question merges their answers with it: for each
/// row index, the answer whose key is greater wins, and a replica with a row (`found[i] == 1`) wins
/// over one without. Where no row answered, `found[i]` is 0 and the three keys are 0.
///
/// The four arrays are parallel and dense (one entry per label or entity, in request order).
public struct RowOrders: Sendable, Equatable {
  /// 1 where a stored row answered, 0 where none did.
  public var found: [UInt8]
  /// Event time (µs since the Unix epoch) of the answering row; 0 where none.
  public var eventTimes: [Int64]
  /// Created time (µs since the Unix epoch) of the answering row; 0 where none.
  public var createdTimes: [Int64]
  /// Write id (`WriteID.rawValue`) of the answering row; 0 where none.
  public var sequences: [UInt64]

  public init(found: [UInt8], eventTimes: [Int64], createdTimes: [Int64], sequences: [UInt64]) {
    precondition(
      eventTimes.count == found.count && createdTimes.count == found.count && sequences.count == found.count,
      "the arrays of RowOrders are parallel")
    self.found = found
    self.eventTimes = eventTimes
    self.createdTimes = createdTimes
    self.sequences = sequences
  }

  /// `count` entries, none found.
  public init(count: Int) {
    found = [UInt8](repeating: 0, count: count)
    eventTimes = [Int64](repeating: 0, count: count)
    createdTimes = [Int64](repeating: 0, count: count)
    sequences = [UInt64](repeating: 0, count: count)
  }

  /// The orders of `rows` (nil: no row).
  public init(rows: [StoredRow?]) {
    self.init(count: rows.count)
    for (i, row) in rows.enumerated() {
      guard let row else { continue }
      set(i, event: row.eventTime.microseconds, created: row.createdTime.microseconds, sequence: row.sequence)
    }
  }

  public var count: Int { found.count }

  /// The order key at `i`, or nil where no row answered.
  public subscript(i: Int) -> (eventTime: Timestamp, createdTime: Timestamp, sequence: UInt64)? {
    guard found[i] != 0 else { return nil }
    return (Timestamp(microseconds: eventTimes[i]), Timestamp(microseconds: createdTimes[i]), sequences[i])
  }

  @inline(__always)
  mutating func set(_ i: Int, event: Int64, created: Int64, sequence: UInt64) {
    found[i] = 1
    eventTimes[i] = event
    createdTimes[i] = created
    sequences[i] = sequence
  }
}
