/// The id a row gets once, from the node that accepted it: the last key of the total order that
/// decides which of two rows wins, after event time and created time.
///
/// A row's id is stored in its history key (the `sequence` slot of `KeyCodec.historyKey`) and travels
/// with the row wherever it is copied (replicas, hints, repair, range moves), so that every copy
/// resolves ties the same way and storing the same row twice is one row. Ids are unique across a
/// cluster as long as no two nodes share a `slot`.
///
/// Layout, most significant bits first (so numeric order is time order, then slot, then counter):
///
/// ```
/// milliseconds since 2020-01-01T00:00:00Z : 42 bits   (until about 2159)
/// slot of the node that assigned it        : 10 bits   (0 = a single node; 1...1023 in a cluster)
/// counter within that millisecond          : 12 bits   (4096 ids per millisecond and node)
/// ```
///
/// Rows stored before write ids existed carry a store-wide counter that started at 1 instead. Those
/// values read as ids from the first milliseconds of 2020, so every id assigned since orders after
/// them: "a later write wins" holds across the upgrade.
public struct WriteID: Hashable, Comparable, Sendable, CustomStringConvertible {
  public var rawValue: UInt64

  @inlinable
  public init(rawValue: UInt64) {
    self.rawValue = rawValue
  }

  public static let counterBits = 12
  public static let slotBits = 10
  public static let maxCounter: UInt64 = (1 << 12) - 1
  public static let maxSlot: UInt16 = (1 << 10) - 1
  /// 2020-01-01T00:00:00Z in milliseconds since the Unix epoch.
  public static let epochMilliseconds: Int64 = 1_577_836_800_000

  public init(milliseconds: UInt64, slot: UInt16, counter: UInt64) {
    precondition(slot <= Self.maxSlot && counter <= Self.maxCounter && milliseconds < (1 << 42))
    rawValue = milliseconds << 22 | UInt64(slot) << 12 | counter
  }

  /// Milliseconds since 2020-01-01T00:00:00Z.
  public var milliseconds: UInt64 { rawValue >> 22 }
  public var slot: UInt16 { UInt16(truncatingIfNeeded: (rawValue >> 12) & UInt64(Self.maxSlot)) }
  public var counter: UInt64 { rawValue & Self.maxCounter }

  @inlinable
  public static func < (lhs: WriteID, rhs: WriteID) -> Bool { lhs.rawValue < rhs.rawValue }

  public var description: String { "\(milliseconds)ms/\(slot)/\(counter)" }

  /// The next id of the same slot: the counter plus one, or counter 0 of the next millisecond.
  public var successor: WriteID {
    counter < Self.maxCounter
      ? WriteID(milliseconds: milliseconds, slot: slot, counter: counter + 1)
      : WriteID(milliseconds: milliseconds + 1, slot: slot, counter: 0)
  }

  /// `count` ids of one slot from `first` on, each the `successor` of the one before: a block that
  /// `WriteIDClock.reserve` hands out and that can be rebuilt from its first id and size alone.
  public static func run(from first: WriteID, count: Int) -> [WriteID] {
    var out: [WriteID] = []
    out.reserveCapacity(count)
    var id = first
    for i in 0..<count {
      if i > 0 { id = id.successor }
      out.append(id)
    }
    return out
  }
}

/// Hands out `WriteID`s for one node: a hybrid logical clock, strictly increasing, that follows the
/// wall clock and never goes back, neither when the wall clock does nor across restarts (start it
/// from the greatest id the node has stored, its `floor`).
///
/// Within one millisecond the counter counts up; when it would pass 4095 the clock runs ahead of the
/// wall clock by a millisecond (a write rate above 4.096M rows per second and node), and it waits
/// for the wall clock to catch up by counting on from there, never by repeating an id.
public struct WriteIDClock: Sendable {
  public let slot: UInt16
  /// The last id handed out (or the floor).
  public private(set) var last: WriteID

  /// `floor`: no id handed out will be at or below it.
  public init(slot: UInt16, floor: WriteID = WriteID(rawValue: 0)) {
    precondition(slot <= WriteID.maxSlot, "a write-id slot is 0...\(WriteID.maxSlot)")
    self.slot = slot
    self.last = floor
  }

  /// Moves the clock past `id` (one this node stores that another node assigned), so that the ids it
  /// hands out next order after it.
  public mutating func observe(_ id: WriteID) {
    if id > last { last = id }
  }

  /// A block of `count` (>= 1) ids, `WriteID.run(from:count:)` of the returned first one: the next id
  /// at `now` and its successors; the clock moves past the whole block.
  public mutating func reserve(_ count: Int, now: Timestamp) -> WriteID {
    let first = next(now: now)
    var id = first
    for _ in 1..<max(count, 1) { id = id.successor }
    last = id
    return first
  }

  /// The next id at wall-clock time `now` (greater than every id handed out or observed before).
  public mutating func next(now: Timestamp) -> WriteID {
    let wall = now.microseconds / 1000 - WriteID.epochMilliseconds
    let wallMs = UInt64(clamping: max(0, min(wall, (1 << 42) - 1)))
    var ms = max(wallMs, last.milliseconds)
    var counter: UInt64 = 0
    if ms == last.milliseconds {
      if slot > last.slot {
        counter = 0
      } else if slot == last.slot && last.counter < WriteID.maxCounter {
        counter = last.counter + 1
      } else {
        ms += 1
      }
    }
    let id = WriteID(milliseconds: ms, slot: slot, counter: counter)
    last = id
    return id
  }
}
