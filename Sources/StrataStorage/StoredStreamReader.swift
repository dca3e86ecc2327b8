public import StrataCore

/// Reads one stream version's stored events and tiles for windowed aggregates, through one history
/// cursor and one tile cursor over one snapshot, taken when the reader is made. Not thread-safe: one
/// reader per read, on one thread.
///
/// The reads of one entity share what they scanned: the windows of one probe (a 1 h and a 30 d window
/// ending at the same time walk the same tiles down to the same minute) and the probes of one entity
/// ask for overlapping ranges, so every tile range and event range scanned is kept until the reader
/// moves to another entity, and a range inside one already scanned is answered from memory.
final class StoredStreamReader {
  let stream: FeatureGroup
  let fieldTypes: [AggregateFieldType]
  private let history: any StorageCursor
  private let tiles: any StorageCursor
  /// The tiles not yet written at the snapshot's point (`StreamTileBuffer`).
  private let dirty: StreamTileOverlay
  /// The entity whose scans `scannedTiles` and `scannedEvents` hold.
  private var entity = ""
  /// Per tile level, the ranges of indices scanned and the (index, value) of the tiles found.
  private var scannedTiles: [[(indices: ClosedRange<Int64>, tiles: [(index: Int64, value: Tile)])]]
  /// The event-time ranges scanned and the events found (all fields decoded), in event order.
  private var scannedEvents: [(times: ClosedRange<Timestamp>, events: [StoredRow])] = []

  /// A tile as found: stored bytes, or a tile not yet written.
  enum Tile {
    case stored([UInt8])
    case dirty(StreamTile)

    /// Whether the tile is sparse (`StreamTile`: read its raw events).
    func isSparse() throws(StrataError) -> Bool {
      switch self {
      case .stored(let bytes): return try StreamTile.sparseCount(bytes) != nil
      case .dirty(.sparse): return true
      case .dirty(.full): return false
      }
    }

    /// The partial of field `field` of a full tile.
    func partial(field: Int, fieldType: AggregateFieldType) throws -> AggregatePartial? {
      switch self {
      case .stored(let bytes): return try StreamTile.sparseCount(bytes) == nil ? StreamTiles.decode(bytes, field: field, fieldType: fieldType) : nil
      case .dirty(.full(let partials)): return partials[field]
      case .dirty(.sparse): return nil
      }
    }
  }

  init(shard: LocalShard, stream: FeatureGroup) throws {
    self.stream = stream
    self.fieldTypes = StreamTiles.fieldTypes(stream)
    // One snapshot, and the tiles not yet written at its point: a batch's events and its tiles are
    // seen together or not at all.
    let (cursors, dirty) = try shard.streamReadView([.history, .tiles])
    self.history = cursors[0]
    self.tiles = cursors[1]
    self.dirty = dirty
    self.scannedTiles = Array(repeating: [], count: StreamTiles.tiling.widths.count)
  }

  /// The source of field `field` of `entityID`'s events: stored tiles plus the raw events at the
  /// windows' edges.
  func field(_ field: Int, of entityID: String) -> Field {
    Field(reader: self, entityID: entityID, field: field, fieldType: fieldTypes[field])
  }

  /// Forgets the scans of the previous entity when `entityID` is another one.
  private func focus(on entityID: String) {
    guard !entityID.utf8.elementsEqual(entity.utf8) else { return }  // bytes: distinct ids may be canonically equal
    entity = entityID
    for level in scannedTiles.indices { scannedTiles[level].removeAll(keepingCapacity: true) }
    scannedEvents.removeAll(keepingCapacity: true)
  }

  /// The stored tiles of `entityID` at `level` with index in `indices` (a superset may come back: the
  /// caller filters), in index order.
  private func tiles(of entityID: String, level: Int, indices: ClosedRange<Int64>) throws -> [(index: Int64, value: Tile)] {
    focus(on: entityID)
    if let known = scannedTiles[level].first(where: { $0.indices.lowerBound <= indices.lowerBound && indices.upperBound <= $0.indices.upperBound }) {
      return known.tiles
    }
    let first = KeyCodec.tileKey(entityID: entityID, stream: stream.storageID, level: UInt8(level), index: indices.lowerBound)
    let prefixLength = first.count - 8
    var found: [(index: Int64, value: Tile)] = []
    tiles.seek(first)
    while tiles.isValid {
      let index: Int64? = try tiles.withKey { key in
        guard key.count == prefixLength + 8, first.withUnsafeBytes({ $0.prefix(prefixLength).elementsEqual(key.prefix(prefixLength)) }) else {
          return nil
        }
        var r = ByteReader(Array(key.suffix(8)))
        return try r.i64Ordered()
      }
      guard let index, index <= indices.upperBound else { break }
      found.append((index, .stored(tiles.value)))
      tiles.next()
    }
    try tiles.checkStatus()
    let unwritten = dirty.tiles(prefix: Array(first.prefix(prefixLength)), indices: indices)
    if !unwritten.isEmpty {
      // A dirty tile is newer than the stored one of its index (which it replaces when written).
      var merged = Dictionary(found.map { ($0.index, $0.value) }, uniquingKeysWith: { a, _ in a })
      for (index, tile) in unwritten { merged[index] = .dirty(tile) }
      found = merged.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
    scannedTiles[level].append((indices, found))
    return found
  }

  /// The events of `entityID` with event time in `times` (a superset may come back: the caller
  /// filters), in event order.
  private func events(of entityID: String, times: ClosedRange<Timestamp>) throws -> [StoredRow] {
    focus(on: entityID)
    if let known = scannedEvents.first(where: { $0.times.lowerBound <= times.lowerBound && times.upperBound <= $0.times.upperBound }) {
      return known.events
    }
    let found = try LocalShard.events(entityID: entityID, stream: stream, eventTimes: times, cursor: history)
    scannedEvents.append((times, found))
    return found
  }

  /// The events of `entityID` from event time `from` on (to its last one), in event order. Kept like
  /// every scan: the entity's later reads from `from` on (edge events, first and latest events) are
  /// then answered from memory, without a seek.
  func events(of entityID: String, from: Timestamp) throws -> [StoredRow] {
    try events(of: entityID, times: from...Timestamp.max)
  }

  /// The event time of `entityID`'s first event at or after `time`, nil when there is none.
  func firstEventTime(of entityID: String, atOrAfter time: Timestamp) throws -> Timestamp? {
    // A scanned range holding `time` answers when it has an event at or after `time`, or when it
    // reaches the last event (none after it).
    focus(on: entityID)
    for scanned in scannedEvents where scanned.times.lowerBound <= time && time <= scanned.times.upperBound {
      if let row = scanned.events.first(where: { $0.eventTime >= time }) { return row.eventTime }
      if scanned.times.upperBound == .max { return nil }
    }
    let prefix = KeyCodec.historyPrefix(entityID: entityID, groupVersion: stream.storageID)
    var start = ByteWriter(capacity: prefix.count + 8)
    start.append(contentsOf: prefix)
    start.i64Ordered(time.microseconds)
    history.seek(start.bytes)
    guard history.isValid, history.key.starts(with: prefix) else {
      try history.checkStatus()
      return nil
    }
    return try KeyCodec.decodeHistoryKeySuffix(history.key).0
  }

  /// The latest event (event, created, sequence) with `floor <= event <= time` and, with `knownAt`,
  /// `created <= knownAt`; nil when there is none.
  func latestEvent(of entityID: String, at time: Timestamp, floor: Timestamp, knownAt: Timestamp?) throws -> (Timestamp, Timestamp, UInt64)? {
    // An event range already scanned that reaches `time` holds the answer when it has a qualifying
    // event at or after its own start (nothing later before `time` can be outside it).
    focus(on: entityID)
    for scanned in scannedEvents where scanned.times.upperBound >= time {
      if let found = AggregateRows.latest(in: scanned.events, at: time, floor: Swift.max(floor, scanned.times.lowerBound), knownAt: knownAt) {
        return found
      }
      // The range scanned holds every event from `floor` to `time`: none qualifies.
      if scanned.times.lowerBound <= floor { return nil }
    }
    let prefix = KeyCodec.historyPrefix(entityID: entityID, groupVersion: stream.storageID)
    var upper = ByteWriter(capacity: prefix.count + 24)
    upper.append(contentsOf: prefix)
    upper.i64Ordered(time.microseconds)
    upper.i64Ordered(.max)
    upper.u64BE(.max)
    history.seekForPrev(upper.bytes)
    while history.isValid, history.key.starts(with: prefix) {
      let (event, created, sequence) = try KeyCodec.decodeHistoryKeySuffix(history.key)
      if event < floor { break }
      if knownAt.map({ created <= $0 }) ?? true { return (event, created, sequence) }
      history.prev()
    }
    try history.checkStatus()
    return nil
  }

  /// One field of one entity's events as an `AggregationSource` over storage.
  struct Field: AggregationSource {
    typealias Failure = StrataError
    let reader: StoredStreamReader
    let entityID: String
    let field: Int
    let fieldType: AggregateFieldType
    var tiling: AggregationTiling { StreamTiles.tiling }

    /// The tiles of `width` with index in `indices`, in index order. A sparse tile's partial is made
    /// from its raw events; a run of sparse tiles with no full tile between them is read in one scan
    /// (between them lie only tiles that do not exist, which hold no events).
    func forEachTile(width: Int64, indices: ClosedRange<Int64>, _ body: (Int64, AggregatePartial) -> Void) throws(StrataError) {
      guard let level = StreamTiles.tiling.widths.firstIndex(of: width) else { return }
      do {
        let found = try reader.tiles(of: entityID, level: level, indices: indices).filter { indices.contains($0.index) }
        var k = 0
        while k < found.count {
          if let partial = try found[k].value.partial(field: field, fieldType: fieldType) {
            body(found[k].index, partial)
            k += 1
            continue
          }
          var end = k + 1
          while end < found.count, try found[end].value.isSparse() { end += 1 }
          let span = Timestamp(microseconds: found[k].index * width)...Timestamp(microseconds: found[end - 1].index * width + width - 1)
          let events = try reader.events(of: entityID, times: span)
          var next = 0
          for (index, _) in found[k..<end] {
            let start = index * width
            while next < events.count, events[next].eventTime.microseconds < start { next += 1 }
            var partial = AggregatePartial(fieldType: fieldType)
            while next < events.count, events[next].eventTime.microseconds <= start + width - 1 {
              partial.add(events[next].aggregationEvent(field: field))
              next += 1
            }
            body(index, partial)
          }
          k = end
        }
      } catch let error as StrataError {
        throw error
      } catch {
        throw .internalError("reading stream tiles: \(error)")
      }
    }

    func forEachEvent(eventTimes: ClosedRange<Timestamp>, _ body: (AggregationEvent) -> Void) throws(StrataError) {
      do {
        for row in try reader.events(of: entityID, times: eventTimes) where eventTimes.contains(row.eventTime) {
          body(row.aggregationEvent(field: field))
        }
      } catch let error as StrataError {
        throw error
      } catch {
        throw .internalError("reading stream events: \(error)")
      }
    }
  }
}
