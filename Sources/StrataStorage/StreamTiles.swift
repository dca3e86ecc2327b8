public import StrataCore

/// The tiles a node keeps for every stream: per (entity, stream version, width, tile index), the
/// `AggregatePartial` of each field over exactly the events stored in that tile, so that a windowed
/// read merges whole tiles instead of reading every event of its window (`StoredStreamReader`). A
/// tile of fewer than `StreamTile.sparseBelow` (4) events keeps only its event count (a sparse
/// tile): a read covers it with its raw events, and a write counts the events it adds.
///
/// Widths 1 d, 6 h, 1 h, 10 min and 1 min (`tiling`). Every event is in its 1 d tile; the tiles of a
/// finer width under a tile are kept only once that tile holds at least `tiling.finerTilesFrom` (16)
/// events, and a read covers part of a smaller tile with its raw events instead (fewer than 16). A
/// full tile costs several times the bytes of an event, so a sparse entity keeps one small tile per
/// day with events, and a busy one the whole ladder where it is busy. A read of a window up to 90
/// days merges at most 90 tiles of 1 d and, at each edge, at most 3 of 6 h, 5 of 1 h, 5 of 10 min and
/// 9 of 1 min, plus fewer than 16 raw events where a tile has no finer tiles and fewer than 4 per
/// sparse tile (one scan per run of sparse tiles), or the raw events within 1 minute of the window's
/// ends. The tiling never changes an answer (`AggregationTiling`): only what a read and a write cost.
///
/// Which tiles exist is a function of the stored events alone (a tile's event count only grows while
/// the events under it are stored; removals and retention delete whole entities and whole days, with
/// every tile under them): replicas that hold the same events hold the same tiles, byte for byte.
///
/// Tiles are derived data: `LocalShard.append` adds each event new to the node (a copy already
/// stored is not added again) to its tiles, which are written behind the events (`StreamTileBuffer`:
/// a journal record stored with the events covers them until they are written), so that what a
/// reader sees of tiles and history always agrees; tiles are never sent between nodes (a replica, a
/// hint, a repair or a range transfer delivers events, whose append updates the receiver's tiles).
///
/// Value layout of a full tile: u16 field count n (big-endian), then per field u32 length and that
/// many bytes of `AggregatePartial.encoded()` (an empty partial for a field no event of the tile
/// has); of a sparse tile: `StreamTile.sparseMarker` and the event count (u16 each).
public enum StreamTiles {
  /// 1 d, 6 h, 1 h, 10 min, 1 min; finer tiles under a tile of at least 16 events.
  public static let tiling = try! AggregationTiling(
    widths: [86_400_000_000, 21_600_000_000, 3_600_000_000, 600_000_000, 60_000_000], finerTilesFrom: 16)

  /// The partials of a stream's fields in one tile (one per field, in field order).
  public static func decode(_ bytes: [UInt8], fieldTypes: [AggregateFieldType]) throws -> [AggregatePartial] {
    var r = ByteReader(bytes)
    do {
      let n = Int(try r.u16BE())
      guard n == fieldTypes.count else {
        throw StrataError.internalError("a stream tile holds \(n) fields; the stream has \(fieldTypes.count)")
      }
      var out: [AggregatePartial] = []
      out.reserveCapacity(n)
      for i in 0..<n {
        let length = Int(try r.u32BE())
        let partial = try AggregatePartial(encoded: Array(try r.bytes(length)))
        guard partial.fieldType == fieldTypes[i] else { throw StrataError.internalError("a stream tile's field \(i) has another type") }
        out.append(partial)
      }
      return out
    } catch let error as StrataError {
      throw error
    } catch {
      throw StrataError.internalError("a stream tile does not decode: \(error)")
    }
  }

  /// The partial of field `field` alone (of type `fieldType`) in one tile's bytes: the other fields
  /// are skipped by their lengths, not decoded.
  public static func decode(_ bytes: [UInt8], field: Int, fieldType: AggregateFieldType) throws -> AggregatePartial {
    var r = ByteReader(bytes)
    do {
      let n = Int(try r.u16BE())
      guard field < n else { throw StrataError.internalError("a stream tile holds \(n) fields; field \(field) asked") }
      for _ in 0..<field { _ = try r.bytes(Int(try r.u32BE())) }
      let partial = try AggregatePartial(encoded: Array(try r.bytes(Int(try r.u32BE()))))
      guard partial.fieldType == fieldType else { throw StrataError.internalError("a stream tile's field \(field) has another type") }
      return partial
    } catch let error as StrataError {
      throw error
    } catch {
      throw StrataError.internalError("a stream tile does not decode: \(error)")
    }
  }

  public static func encode(_ partials: [AggregatePartial]) -> [UInt8] {
    var w = ByteWriter(capacity: 2 + partials.count * 64)
    w.u16BE(UInt16(partials.count))
    for p in partials {
      let bytes = p.encoded()
      w.u32BE(UInt32(bytes.count))
      w.append(contentsOf: bytes)
    }
    return w.bytes
  }

  /// The field types of `stream`'s fields (all FLOAT, INT or STRING).
  static func fieldTypes(_ stream: FeatureGroup) -> [AggregateFieldType] {
    stream.spec.features.map { AggregateFieldType($0.dtype)! }
  }

  /// The stored bytes of recently written tiles, kept by the writer (under its lock) so that the next
  /// events of a busy entity, which land in the same tiles, do not read them back from the engine.
  /// Holds only what a committed write stored (`store` after the engine write succeeded). Two
  /// generations of at most `capacity` entries each: when the current one fills up it becomes the
  /// previous one (the one before is dropped), so the tiles written last stay cached across the
  /// turn. Cleared whole by every deletion of stored rows.
  struct Cache: Sendable {
    static let capacity = 100_000
    private var current: [HashedBytes: [UInt8]] = [:]
    private var previous: [HashedBytes: [UInt8]] = [:]

    func value(_ key: [UInt8]) -> [UInt8]? {
      let key = HashedBytes(key)
      return current[key] ?? previous[key]
    }

    mutating func store(_ puts: [(key: [UInt8], value: [UInt8])]) {
      if current.count + puts.count > Self.capacity {
        previous = current
        current = [:]
        current.reserveCapacity(Self.capacity)
      }
      for (key, value) in puts { current[HashedBytes(key)] = value }
    }

    mutating func clear() {
      current.removeAll()
      previous.removeAll()
    }
  }

  /// One event to add to its tiles: its entity, the row, and the event time of the entity's latest
  /// event stored before this batch (nil: the entity has none). A tile that starts after that time
  /// holds no stored event, so it is not stored (tiles exist only where stored events are) and is not
  /// read: in a stream that arrives in event-time order most events open new tiles, and skipping
  /// those reads is most of what a push costs less.
  typealias NewEvent = (entityID: String, row: StoredRow, storedUntil: Timestamp?)

  /// Adds `events` (new to this node: not stored before, each once) of `stream` to their tiles and
  /// returns every tile changed (for the writer's `StreamTileBuffer`): a full tile dirty in `buffer`
  /// as the events it receives (`Change.add`: the buffer adds them in place when it commits), any
  /// other in its new form (`Change.set`).
  ///
  /// Width by width, coarsest first: each tile an event falls in is read (dirty in `buffer`, else
  /// from `cache`, else one multiGet per width, except a tile after its entity's latest stored
  /// event, which cannot exist). A tile that stays below `StreamTile.sparseBelow` events stays sparse
  /// (its count grows); a full one gets the new events merged in; one that reaches `sparseBelow`
  /// now is made from its stored events (one range scan, none when it had no events) and the new
  /// ones. Under a tile that already held `tiling.finerTilesFrom` events the same is done one width
  /// finer; a tile that reaches that count now gets its finer tiles made whole from its stored
  /// events and the new ones.
  static func add(
    _ events: [NewEvent], stream: FeatureGroup, engine: any StorageEngine, buffer: StreamTileBuffer, cache: Cache
  ) throws -> [(key: [UInt8], change: StreamTileBuffer.Change)] {
    guard !events.isEmpty else { return [] }
    let types = fieldTypes(stream)
    let widths = tiling.widths
    let finerFrom = tiling.finerTilesFrom
    var out: [(key: [UInt8], change: StreamTileBuffer.Change)] = []
    var history: (any StorageCursor)?
    /// The stored events of `tile` (of `width`): a range scan of history.
    func storedEvents(_ tile: TileWork, width: Int64) throws -> [StoredRow] {
      if history == nil { history = try engine.makeCursor(in: .history) }
      let start = tile.index * width
      return try LocalShard.events(
        entityID: tile.entityID, stream: stream,
        eventTimes: Timestamp(microseconds: start)...Timestamp(microseconds: start + width - 1), cursor: history!)
    }
    var work = TileWork.group(events, stream: stream, level: 0)
    var level = 0
    while !work.isEmpty {
      let width = widths[level]
      var current: [StreamTile?] = []
      current.reserveCapacity(work.count)
      // Whether `current[k]` is the tile dirty in `buffer`.
      var dirty = [Bool](repeating: false, count: work.count)
      var missing: [Int] = []
      for (k, tile) in work.enumerated() {
        guard tile.mayBeStored(width: width) else {
          current.append(nil)
          continue
        }
        if let tile = buffer.value(tile.key) {
          current.append(tile)
          dirty[k] = true
        } else if let bytes = cache.value(tile.key) {
          current.append(try StreamTile.decode(bytes, fieldTypes: types))
        } else {
          current.append(nil)
          missing.append(k)
        }
      }
      if !missing.isEmpty {
        for (k, value) in zip(missing, try engine.multiGet(missing.map { work[$0].key }, in: .tiles)) {
          current[k] = try value.map { try StreamTile.decode($0, fieldTypes: types) }
        }
      }
      var finer: [NewEvent] = []
      for (k, tile) in work.enumerated() {
        let before = current[k]?.eventCount ?? 0
        let after = before + Int64(tile.rows.count)
        // The tile's stored events, read once when making it (or its finer tiles) needs them.
        var stored: [StoredRow]?
        if after < StreamTile.sparseBelow {
          // Stays (or, a full tile of an older store, becomes) sparse.
          out.append((tile.key, .set(.sparse(eventCount: after))))
        } else if case .full(var partials)? = current[k] {
          if dirty[k] {
            out.append((tile.key, .add(tile.rows)))
          } else {
            StreamTile.add(tile.rows, to: &partials)
            out.append((tile.key, .set(.full(partials))))
          }
        } else {
          let old = before > 0 ? try storedEvents(tile, width: width) : []
          stored = old
          out.append((tile.key, .set(.full(StreamTile.partials(of: old + tile.rows, types: types)))))
        }
        guard level + 1 < widths.count, after >= finerFrom else { continue }
        if before >= finerFrom {
          finer += tile.rows.map { (tile.entityID, $0, tile.storedUntil) }
        } else {
          let old = try stored ?? storedEvents(tile, width: width)
          out += build(old + tile.rows, entityID: tile.entityID, stream: stream, level: level + 1, types: types)
            .map { ($0.key, .set($0.tile)) }
        }
      }
      level += 1
      work = level < widths.count ? TileWork.group(finer, stream: stream, level: level) : []
    }
    return out
  }

  /// The tiles of `rows` (all the events of one coarser tile, which holds at least
  /// `tiling.finerTilesFrom`) from width `level` down, made whole: none of them is stored yet.
  private static func build(
    _ rows: [StoredRow], entityID: String, stream: FeatureGroup, level: Int, types: [AggregateFieldType]
  ) -> [(key: [UInt8], tile: StreamTile)] {
    var out: [(key: [UInt8], tile: StreamTile)] = []
    for tile in TileWork.group(rows.map { (entityID, $0, nil) }, stream: stream, level: level) {
      out.append((tile.key, StreamTile.of(tile.rows, types: types)))
      if level + 1 < tiling.widths.count && Int64(tile.rows.count) >= tiling.finerTilesFrom {
        out += build(tile.rows, entityID: entityID, stream: stream, level: level + 1, types: types)
      }
    }
    return out
  }

  /// Every tile of `entityID`'s events in `stream` over the 1-day tiles that hold an event time of
  /// `journaled` (sorted): the events whose tiles may not have been written (`StreamTileBuffer`'s
  /// journal, after a kill). Made from what is stored, whatever of the dirty tiles was written: a
  /// stored tile with no journaled event under it holds exactly its events (all of them were in
  /// tiles written since); any other is made again, from its events when it has fewer than
  /// `tiling.finerTilesFrom` (or is of the finest width), else by merging its finer tiles (which it
  /// has, as it holds that many events), made the same way. Returns the tiles made again.
  static func rebuild(
    entityID: String, stream: FeatureGroup, journaled: [Timestamp], engine: any StorageEngine, history: any StorageCursor
  ) throws -> [(key: [UInt8], tile: StreamTile)] {
    let types = fieldTypes(stream)
    let widths = tiling.widths
    var out: [(key: [UInt8], tile: StreamTile)] = []
    /// Whether an event time in `range` is journaled.
    func touched(_ range: ClosedRange<Timestamp>) -> Bool {
      var lo = 0
      var hi = journaled.count
      while lo < hi {
        let mid = (lo + hi) / 2
        if journaled[mid] < range.lowerBound { lo = mid + 1 } else { hi = mid }
      }
      return lo < journaled.count && journaled[lo] <= range.upperBound
    }
    /// Tile `index` of width `level`, made again when needed; returns the partials of its events for
    /// a coarser tile made by merging (nil: no event in it, or `merging` false).
    func tile(level: Int, index: Int64, merging: Bool) throws -> [AggregatePartial]? {
      let width = widths[level]
      let range = Timestamp(microseconds: index * width)...Timestamp(microseconds: index * width + width - 1)
      let key = KeyCodec.tileKey(entityID: entityID, stream: stream.storageID, level: UInt8(level), index: index)
      if !touched(range), let stored = try engine.get(key, in: .tiles) {
        switch try StreamTile.decode(stored, fieldTypes: types) {
        case .full(let partials): return partials
        case .sparse:
          guard merging else { return nil }
          return StreamTile.partials(
            of: try LocalShard.events(entityID: entityID, stream: stream, eventTimes: range, cursor: history), types: types)
        }
      }
      let finest = level + 1 == widths.count
      let head = try LocalShard.events(
        entityID: entityID, stream: stream, eventTimes: range, cursor: history, limit: finest ? .max : Int(tiling.finerTilesFrom))
      guard !head.isEmpty else { return nil }
      var partials = types.map { AggregatePartial(fieldType: $0) }
      if finest || Int64(head.count) < tiling.finerTilesFrom {
        StreamTile.add(head, to: &partials)
      } else {
        let finer = width / widths[level + 1]
        for child in 0..<finer {
          guard let parts = try tile(level: level + 1, index: index * finer + child, merging: true) else { continue }
          for f in partials.indices { partials[f].merge(parts[f]) }
        }
      }
      let count = partials.first?.eventCount ?? 0
      out.append((key, count < StreamTile.sparseBelow ? .sparse(eventCount: count) : .full(partials)))
      return partials
    }
    var days = Set<Int64>()
    for time in journaled { days.insert(AggregationState.tileIndex(of: time, width: widths[0])) }
    for day in days.sorted() { _ = try tile(level: 0, index: day, merging: false) }
    return out
  }

  /// One tile of one width and the new events it receives.
  private struct TileWork {
    var entityID: String
    var index: Int64
    var key: [UInt8]
    var rows: [StoredRow]
    /// The entity's latest stored event time before this batch (`NewEvent.storedUntil`).
    var storedUntil: Timestamp?

    /// Whether this tile (of `width`) can be stored: it starts at or before the entity's latest
    /// stored event.
    func mayBeStored(width: Int64) -> Bool {
      guard let storedUntil else { return false }
      return index * width <= storedUntil.microseconds
    }

    /// `events` grouped by their tile of width `level`, in first-seen order.
    static func group(_ events: [NewEvent], stream: FeatureGroup, level: Int) -> [TileWork] {
      let width = tiling.widths[level]
      var slot: [HashedBytes: Int] = [:]
      var out: [TileWork] = []
      for (entity, row, storedUntil) in events {
        let index = AggregationState.tileIndex(of: row.eventTime, width: width)
        let key = KeyCodec.tileKey(entityID: entity, stream: stream.storageID, level: UInt8(level), index: index)
        if let k = slot[HashedBytes(key)] {
          out[k].rows.append(row)
        } else {
          slot[HashedBytes(key)] = out.count
          out.append(TileWork(entityID: entity, index: index, key: key, rows: [row], storedUntil: storedUntil))
        }
      }
      return out
    }
  }
}
