public import StrataCore

/// The byte layout of online and history keys.
///
/// ```
/// entity prefix = token:u64be  idLength:u16be  idBytes          (token = EntityToken.of(id))
/// online key    = entity prefix  groupVersion:u32be
/// history key   = entity prefix  groupVersion:u32be  event:i64  created:i64  sequence:u64be
/// ```
/// Integers are big-endian and signed ones have the sign bit flipped, so byte order is numeric order.
/// Consequences that the rest of Strata relies on:
/// - every key starts with the ring token: a token range is one contiguous key range (cluster moves);
/// - one entity's history is contiguous, and within one group version ordered by
///   (event, created, sequence) ascending, so "the latest row at or before T" is one `seekForPrev` to
///   `historyKey(..., event: T, created: .max, sequence: .max)`;
/// - the length prefix makes the entity prefix prefix-free: no id's keys interleave with another's.
public enum KeyCodec {
  public static let maxEntityIDBytes = 1024

  public static func entityPrefix(_ entityID: String) -> [UInt8] {
    var w = ByteWriter(capacity: 10 + entityID.utf8.count + 28)
    appendEntity(entityID, to: &w)
    return w.bytes
  }

  static func appendEntity(_ entityID: String, to w: inout ByteWriter) {
    w.u64BE(EntityToken.of(entityID))
    w.u16BE(UInt16(truncatingIfNeeded: entityID.utf8.count))
    w.append(contentsOf: entityID.utf8)
  }

  public static func onlineKey(entityID: String, groupVersion: UInt32) -> [UInt8] {
    var w = ByteWriter(capacity: 14 + entityID.utf8.count)
    appendEntity(entityID, to: &w)
    w.u32BE(groupVersion)
    return w.bytes
  }

  /// The prefix shared by every history key of (entity, group version).
  public static func historyPrefix(entityID: String, groupVersion: UInt32) -> [UInt8] {
    onlineKey(entityID: entityID, groupVersion: groupVersion)
  }

  /// The key of tile `index` of width level `level` (`StreamTiles.tiling.widths[level]`) of (entity,
  /// stream version): the history prefix, then the level byte and the ordered index. Tiles of one
  /// level sort by index.
  public static func tileKey(entityID: String, stream: UInt32, level: UInt8, index: Int64) -> [UInt8] {
    var w = ByteWriter(capacity: 23 + entityID.utf8.count)
    appendEntity(entityID, to: &w)
    w.u32BE(stream)
    w.u8(level)
    w.i64Ordered(index)
    return w.bytes
  }

  public static func historyKey(
    entityID: String, groupVersion: UInt32, eventTime: Timestamp, createdTime: Timestamp, sequence: UInt64
  ) -> [UInt8] {
    var w = ByteWriter(capacity: 38 + entityID.utf8.count)
    appendEntity(entityID, to: &w)
    w.u32BE(groupVersion)
    w.i64Ordered(eventTime.microseconds)
    w.i64Ordered(createdTime.microseconds)
    w.u64BE(sequence)
    return w.bytes
  }

  /// The greatest possible history key of (entity, group version) with event time `asOf`: the seek
  /// target of a point-in-time lookup.
  public static func historySeekKey(entityID: String, groupVersion: UInt32, asOf: Timestamp) -> [UInt8] {
    historyKey(entityID: entityID, groupVersion: groupVersion, eventTime: asOf, createdTime: .max, sequence: .max)
  }

  /// The (event, created, sequence) suffix of a history key.
  public static func decodeHistoryKeySuffix(_ key: [UInt8]) throws(StrataError) -> (Timestamp, Timestamp, UInt64) {
    guard key.count >= 24 + 14 else { throw .internalError("history key too short (\(key.count) bytes)") }
    var r = ByteReader(key, offset: key.count - 24)
    do {
      let e = try r.i64Ordered()
      let c = try r.i64Ordered()
      let s = try r.u64BE()
      return (Timestamp(microseconds: e), Timestamp(microseconds: c), s)
    } catch {
      throw .internalError("history key does not decode")
    }
  }

  /// The entity id and group version of an online or history key.
  public static func decodeEntity(_ key: [UInt8]) throws(StrataError) -> (entityID: String, groupVersion: UInt32) {
    var r = ByteReader(key, offset: 8)
    do {
      let len = Int(try r.u16BE())
      let idBytes = try r.bytes(len)
      let gv = try r.u32BE()
      return (String(decoding: idBytes, as: UTF8.self), gv)
    } catch {
      throw .internalError("storage key does not decode")
    }
  }
}
