public import StrataCore

/// The tiles a node keeps for every stream: per (entity, stream version, width, tile index), the
/// `AggregatePartial` of each field over exactly the events stored in that tile, so that a windowed
/// read merges whole tiles instead of reading every event of its window (`StoredTileSource`).
///
/// Widths 1 d, 6 h, 1 h, 10 min and 1 min (`tiling`): a read of a window up to 90 days merges at most
/// 90 tiles of 1 d, and at each edge at most 3 of 6 h, 5 of 1 h, 5 of 10 min and 9 of 1 min (a 30-day
/// window: at most 74 tiles), and reads raw events only within 1 minute of the window's two ends. A
/// stored event updates one tile per width (5), all fields in one value. The tiling never changes an
/// answer (`AggregationTiling`): only what a read and a write cost.
///
/// Tiles are derived data: `LocalShard.append` adds each event new to the node (a copy already
/// stored is not added again) to its tiles in the same atomic write batch as the event itself, so
/// tiles and history always agree; they are never sent between nodes (a replica, a hint, a repair
/// or a range transfer delivers events, whose append updates the receiver's tiles).
///
/// Value layout: u16 field count n (big-endian), then per field u32 length and that many bytes of
/// `AggregatePartial.encoded()` (an empty partial for a field no event of the tile has).
public enum StreamTiles {
  /// 1 d, 6 h, 1 h, 10 min, 1 min.
  public static let tiling = try! AggregationTiling(
    widths: [86_400_000_000, 21_600_000_000, 3_600_000_000, 600_000_000, 60_000_000])

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
  /// Holds only what a committed write stored (`store` after the engine write succeeded); cleared
  /// whole when it passes `capacity` entries and by every deletion of stored rows.
  struct Cache: Sendable {
    static let capacity = 100_000
    private var entries: [[UInt8]: [UInt8]] = [:]

    func value(_ key: [UInt8]) -> [UInt8]? { entries[key] }

    mutating func store(_ puts: [(key: [UInt8], value: [UInt8])]) {
      if entries.count + puts.count > Self.capacity { entries.removeAll(keepingCapacity: true) }
      for (key, value) in puts { entries[key] = value }
    }

    mutating func clear() { entries.removeAll() }
  }

  /// Adds `events` (new to this node: not stored before, each once) of `stream` to their tiles:
  /// reads the tiles they touch (from `cache`, else one multiGet), merges, and puts the results into
  /// `batch`. Returns those puts, for the cache once the batch is stored.
  static func add(
    _ events: [(entityID: String, row: StoredRow)], stream: FeatureGroup, engine: any StorageEngine, cache: Cache,
    into batch: inout WriteBatch
  ) throws -> [(key: [UInt8], value: [UInt8])] {
    guard !events.isEmpty else { return [] }
    let types = fieldTypes(stream)
    var slot: [[UInt8]: Int] = [:]
    var keys: [[UInt8]] = []
    var updates: [[AggregatePartial]] = []
    for (entity, row) in events {
      for (level, width) in tiling.widths.enumerated() {
        let key = KeyCodec.tileKey(
          entityID: entity, stream: stream.storageID, level: UInt8(level), index: AggregationState.tileIndex(of: row.eventTime, width: width))
        let k: Int
        if let known = slot[key] {
          k = known
        } else {
          k = keys.count
          slot[key] = k
          keys.append(key)
          updates.append(types.map { AggregatePartial(fieldType: $0) })
        }
        for f in types.indices {
          updates[k][f].add(AggregationEvent(eventTime: row.eventTime, createdTime: row.createdTime, sequence: row.sequence, value: row.values[f]))
        }
      }
    }
    var stored = keys.map { cache.value($0) }
    let missing = stored.indices.filter { stored[$0] == nil }
    if !missing.isEmpty {
      for (k, value) in zip(missing, try engine.multiGet(missing.map { keys[$0] }, in: .tiles)) { stored[k] = value }
    }
    var puts: [(key: [UInt8], value: [UInt8])] = []
    puts.reserveCapacity(keys.count)
    for k in keys.indices {
      var partials = updates[k]
      if let bytes = stored[k] {
        let old = try decode(bytes, fieldTypes: types)
        for f in partials.indices { partials[f].merge(old[f]) }
      }
      puts.append((keys[k], encode(partials)))
    }
    puts.sort { LocalShard.precedes($0.key, $1.key) }
    for (key, value) in puts { batch.put(key, value, in: .tiles) }
    return puts
  }
}
