/// The events of one entity's field and their tiles, in memory: an `AggregationSource` that accepts
/// events in any order and answers windowed reads at any time, as of any `knownAt`.
///
/// ```swift
/// let hour = try AggregationWindow(seconds: 3_600), month = try AggregationWindow(seconds: 30 * 86_400)
/// var state = AggregationState(fieldType: .float, tiling: AggregationTiling(windows: [hour, month]))
/// try state.insert(AggregationEvent(eventTime: t, createdTime: now, sequence: id.rawValue, value: .float(12.5)))
/// let spend30d = try AggregateSpec(function: .sum, fieldType: .float, window: month)
/// state.value(of: spend30d, at: now, knownAt: nil)  // .present(.float(12.5)) while t is in the window
/// ```
///
/// Insertion keeps the events sorted by (event time, created time, sequence) and adds each new
/// event to one tile per width; a late event (an event time in the past) lands in the tiles of its
/// event time. Inserting an event already held (same triple) changes nothing, so replays, retries
/// and repair copies are harmless. The result of every read is a function of the set of events
/// inserted only: neither the insertion order nor the tiling changes a bit of it.
///
/// Costs: insert O(log n + tiles per width) plus the array shifts of an out-of-order insert
/// (O(n) for an event older than the latest, O(1) amortized in event-time order); a read as
/// `AggregationSource+Window` describes, each tile and event range found by binary search.
public struct AggregationState: AggregationSource, Sendable {
  public typealias Failure = Never

  public let fieldType: AggregateFieldType
  public let tiling: AggregationTiling
  /// Every event inserted, in event order (event time, created time, sequence).
  public private(set) var events: [AggregationEvent] = []
  /// One per width of `tiling`, in the same order.
  private var levels: [TileLevel]

  /// The tiles of one width: indices ascending, with their partials.
  private struct TileLevel: Sendable {
    var indices: [Int64] = []
    var partials: [AggregatePartial] = []
  }

  public init(fieldType: AggregateFieldType, tiling: AggregationTiling) {
    self.fieldType = fieldType
    self.tiling = tiling
    self.levels = Array(repeating: TileLevel(), count: tiling.widths.count)
  }

  /// A state holding exactly `sortedEvents`, built in one pass (O(n) per width): the same state
  /// `insert` would build from them in any order, without its binary searches.
  ///
  /// The events must be strictly ascending in event order (event time, created time, sequence: so
  /// also distinct) and their values of `fieldType`, as a store's event log gives them; an event out
  /// of order or a value of another type traps.
  public init(fieldType: AggregateFieldType, tiling: AggregationTiling, sortedEvents: [AggregationEvent]) {
    self.init(fieldType: fieldType, tiling: tiling)
    for i in sortedEvents.indices.dropFirst() {
      precondition(sortedEvents[i].isLater(than: sortedEvents[i - 1]), "events must be strictly ascending in event order")
    }
    events = sortedEvents
    for (level, width) in tiling.widths.enumerated() {
      var tiles = TileLevel()
      for event in sortedEvents {
        let index = Self.tileIndex(of: event.eventTime, width: width)
        if tiles.indices.last != index {
          tiles.indices.append(index)
          tiles.partials.append(AggregatePartial(fieldType: fieldType))
        }
        tiles.partials[tiles.partials.count - 1].add(event)
      }
      levels[level] = tiles
    }
  }

  /// Adds `event` unless the same event (same event time, created time and sequence) is already held.
  /// Returns whether it was added. Throws INVALID_ARGUMENT, changing nothing, when the value is not a
  /// value of `fieldType` (a different kind, or a non-finite float).
  @discardableResult
  public mutating func insert(_ event: AggregationEvent) throws(StrataError) -> Bool {
    try fieldType.validate(event.value, field: "value")
    let position = Self.firstIndex(in: events) { !event.isLater(than: $0) }
    if position < events.count && events[position].isSameEvent(as: event) { return false }
    events.insert(event, at: position)
    for (level, width) in tiling.widths.enumerated() {
      let index = Self.tileIndex(of: event.eventTime, width: width)
      let slot = Self.firstIndex(in: levels[level].indices) { $0 >= index }
      if slot < levels[level].indices.count && levels[level].indices[slot] == index {
        levels[level].partials[slot].add(event)
      } else {
        var tile = AggregatePartial(fieldType: fieldType)
        tile.add(event)
        levels[level].indices.insert(index, at: slot)
        levels[level].partials.insert(tile, at: slot)
      }
    }
    return true
  }

  /// The nonempty tiles of `width` (one of `tiling.widths`) in index order: what a storage engine
  /// would persist (`AggregatePartial.encoded()`), keyed by (width, index).
  public func tiles(width: Int64) -> [(index: Int64, tile: AggregatePartial)] {
    guard let level = tiling.widths.firstIndex(of: width) else { return [] }
    return Array(zip(levels[level].indices, levels[level].partials))
  }

  // MARK: AggregationSource

  public func forEachTile(width: Int64, indices: ClosedRange<Int64>, _ body: (Int64, AggregatePartial) -> Void) {
    guard let level = tiling.widths.firstIndex(of: width) else { return }
    let tiles = levels[level]
    var slot = Self.firstIndex(in: tiles.indices) { $0 >= indices.lowerBound }
    while slot < tiles.indices.count && tiles.indices[slot] <= indices.upperBound {
      body(tiles.indices[slot], tiles.partials[slot])
      slot += 1
    }
  }

  public func forEachEvent(eventTimes: ClosedRange<Timestamp>, _ body: (AggregationEvent) -> Void) {
    var i = Self.firstIndex(in: events) { $0.eventTime >= eventTimes.lowerBound }
    while i < events.count && events[i].eventTime <= eventTimes.upperBound {
      body(events[i])
      i += 1
    }
  }

  // MARK: Helpers

  /// The tile of width `width` holding `time`: floor(time / width), so tile k is
  /// `k * width ..< (k + 1) * width` also before 1970.
  public static func tileIndex(of time: Timestamp, width: Int64) -> Int64 {
    let q = time.microseconds / width
    return (time.microseconds % width != 0 && time.microseconds < 0) ? q - 1 : q
  }

  /// The first index of the sorted `elements` where `isAtOrAfter` holds (it must be false then true).
  private static func firstIndex<T>(in elements: [T], where isAtOrAfter: (T) -> Bool) -> Int {
    var low = 0
    var high = elements.count
    while low < high {
      let mid = (low + high) / 2
      if isAtOrAfter(elements[mid]) { high = mid } else { low = mid + 1 }
    }
    return low
  }
}
