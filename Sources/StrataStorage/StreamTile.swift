public import StrataCore

/// One stored stream tile (`StreamTiles`): the partial aggregate of each field over the tile's
/// events, or, for a tile holding fewer than `sparseBelow` events, only how many it holds.
///
/// A sparse tile says "read my events": a reader covers it with its raw events (fewer than
/// `sparseBelow`, so about what decoding one full tile costs), and a writer adds events to it by
/// counting them, without computing a partial. Most tiles of a stream spread over many entities and
/// days hold one or two events; a full tile of four fields is several hundred bytes, so storing those
/// whole cost a push more than storing the events themselves. A tile becomes full (made from its stored
/// events and the new ones) in the write that brings it to `sparseBelow` events.
///
/// Which form a tile takes is a function of its event count alone, so replicas that hold the same
/// events hold the same tiles, byte for byte. (A store written before sparse tiles existed may hold
/// full tiles of fewer events: they are exact, read as any full tile, and become sparse with the next
/// event added to them.)
///
/// Stored form: a full tile is `StreamTiles.encode(partials)` (u16 field count first, never
/// `sparseMarker`); a sparse one is u16 `sparseMarker` and its event count as u16 (big-endian).
enum StreamTile: Sendable, Equatable {
  case full([AggregatePartial])
  case sparse(eventCount: Int64)

  /// Tiles with fewer events are sparse.
  static let sparseBelow: Int64 = 4
  /// The first two bytes of a sparse tile (a full tile starts with its field count, far below).
  static let sparseMarker: UInt16 = 0xFFFF

  /// The events under the tile.
  var eventCount: Int64 {
    switch self {
    case .full(let partials): partials.first?.eventCount ?? 0
    case .sparse(let count): count
    }
  }

  /// The tile of `events` (all of one tile's events) for a stream with fields of `types`: sparse
  /// below `sparseBelow` events, else the partials of every field.
  static func of(_ events: [StoredRow], types: [AggregateFieldType]) -> StreamTile {
    guard Int64(events.count) >= sparseBelow else { return .sparse(eventCount: Int64(events.count)) }
    return .full(partials(of: events, types: types))
  }

  /// The partials of `types`' fields over `events`.
  static func partials(of events: [StoredRow], types: [AggregateFieldType]) -> [AggregatePartial] {
    var partials = types.map { AggregatePartial(fieldType: $0) }
    add(events, to: &partials)
    return partials
  }

  /// Adds `events` to `partials` (one per field).
  static func add(_ events: [StoredRow], to partials: inout [AggregatePartial]) {
    for row in events {
      for f in partials.indices {
        partials[f].add(row.aggregationEvent(field: f))
      }
    }
  }

  /// The stored form.
  func encoded() -> [UInt8] {
    switch self {
    case .full(let partials):
      return StreamTiles.encode(partials)
    case .sparse(let count):
      var w = ByteWriter(capacity: 4)
      w.u16BE(Self.sparseMarker)
      w.u16BE(UInt16(count))
      return w.bytes
    }
  }

  /// The event count of a sparse tile's stored form, nil for a full tile's. Throws on a sparse tile
  /// that is not `sparseMarker` and a count below `sparseBelow`.
  static func sparseCount(_ bytes: [UInt8]) throws(StrataError) -> Int64? {
    guard bytes.count >= 2, bytes[0] == 0xFF, bytes[1] == 0xFF else { return nil }
    var r = ByteReader(bytes, offset: 2)
    guard bytes.count == 4, let count = try? r.u16BE(), count > 0, Int64(count) < sparseBelow else {
      throw .internalError("a sparse stream tile does not decode (\(bytes.count) bytes)")
    }
    return Int64(count)
  }

  /// The tile in `bytes` (its stored form) for a stream with fields of `types`.
  static func decode(_ bytes: [UInt8], fieldTypes types: [AggregateFieldType]) throws -> StreamTile {
    if let count = try sparseCount(bytes) { return .sparse(eventCount: count) }
    return .full(try StreamTiles.decode(bytes, fieldTypes: types))
  }
}
