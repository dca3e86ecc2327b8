internal import StrataCore

/// The stored form of a hint.
///
/// Key: `u16be(len(node utf8)) node-utf8 u64be(sequence)`: the length prefix keeps each node's keys one
/// contiguous range ("n1" and "n10" have different prefixes), the big-endian sequence sorts it in append
/// order.
/// Value: `u8(1) u64be(rows) payload` (the leading byte is the format version).
/// The next sequence (written with removals): key `u16be(0)`, which sorts before every node's range
/// and is no node's prefix (node ids are never empty); value `u64be(sequence)`.
extension HintStore {
  static let nextSequenceKey: [UInt8] = [0, 0]

  static let formatVersion: UInt8 = 1
  static let valueHeaderSize = 9

  /// The key prefix of `node`'s hints.
  /// - Throws: `.invalidArgument` for an empty id or one longer than 65,535 UTF-8 bytes.
  static func nodePrefix(_ node: String) throws -> [UInt8] {
    let bytes = Array(node.utf8)
    guard !bytes.isEmpty, bytes.count <= Int(UInt16.max) else {
      throw StrataError.invalidArgument(
        "a hint's node id must have 1 to 65535 UTF-8 bytes, not \(bytes.count)")
    }
    var w = ByteWriter(capacity: 2 + bytes.count + 8)
    w.u16BE(UInt16(bytes.count))
    w.append(contentsOf: bytes)
    return w.bytes
  }

  static func key(_ prefix: [UInt8], _ sequence: UInt64) -> [UInt8] {
    var w = ByteWriter(capacity: prefix.count + 8)
    w.append(contentsOf: prefix)
    w.u64BE(sequence)
    return w.bytes
  }

  static func hasPrefix(_ key: UnsafeRawBufferPointer, _ prefix: [UInt8]) -> Bool {
    key.count >= prefix.count && key.prefix(prefix.count).elementsEqual(prefix)
  }

  static func decodeKey(_ key: UnsafeRawBufferPointer) throws -> (node: String, sequence: UInt64) {
    guard key.count >= 2 else { throw corrupt("key", key) }
    let length = Int(key[0]) << 8 | Int(key[1])
    guard length > 0, key.count == 2 + length + 8 else { throw corrupt("key", key) }
    var sequence: UInt64 = 0
    for i in (2 + length)..<key.count { sequence = sequence << 8 | UInt64(key[i]) }
    return (String(decoding: key[2..<(2 + length)], as: UTF8.self), sequence)
  }

  static func encodeValue(rows: Int, payload: [UInt8]) -> [UInt8] {
    var w = ByteWriter(capacity: valueHeaderSize + payload.count)
    w.u8(formatVersion)
    w.u64BE(UInt64(rows))
    w.append(contentsOf: payload)
    return w.bytes
  }

  static func encodeSequence(_ sequence: UInt64) -> [UInt8] {
    var w = ByteWriter(capacity: 8)
    w.u64BE(sequence)
    return w.bytes
  }

  static func decodeSequence(_ value: UnsafeRawBufferPointer) throws -> UInt64 {
    guard value.count == 8 else { throw corrupt("next sequence", value) }
    return value.reduce(0) { $0 << 8 | UInt64($1) }
  }

  /// The row count of a stored value, read in place.
  static func decodeRows(_ value: UnsafeRawBufferPointer) throws -> Int {
    guard value.count >= valueHeaderSize, value[0] == formatVersion else { throw corrupt("value", value) }
    var rows: UInt64 = 0
    for i in 1..<valueHeaderSize { rows = rows << 8 | UInt64(value[i]) }
    guard rows <= UInt64(Int.max) else { throw corrupt("value", value) }
    return Int(rows)
  }

  static func decodeValue(_ value: [UInt8]) throws -> (rows: Int, payload: [UInt8]) {
    let rows = try value.withUnsafeBytes { try decodeRows($0) }
    return (rows, Array(value[valueHeaderSize...]))
  }

  private static func corrupt(_ what: String, _ bytes: UnsafeRawBufferPointer) -> StrataError {
    StrataError.internalError("a stored hint \(what) does not decode (\(bytes.count) bytes): data corruption or a bug")
  }
}
