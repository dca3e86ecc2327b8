/// Big-endian and little-endian appenders and readers for the key and row codecs.
struct ByteWriter {
  var bytes: [UInt8]

  init(capacity: Int = 64) {
    bytes = []
    bytes.reserveCapacity(capacity)
  }

  @inline(__always) mutating func u8(_ v: UInt8) { bytes.append(v) }

  @inline(__always) mutating func u16BE(_ v: UInt16) {
    bytes.append(UInt8(v >> 8)); bytes.append(UInt8(truncatingIfNeeded: v))
  }

  @inline(__always) mutating func u32BE(_ v: UInt32) {
    withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) }
  }

  @inline(__always) mutating func u64BE(_ v: UInt64) {
    withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) }
  }

  /// Signed integers flipped on the sign bit so that byte order equals numeric order.
  @inline(__always) mutating func i64Ordered(_ v: Int64) {
    u64BE(UInt64(bitPattern: v) ^ (1 << 63))
  }

  @inline(__always) mutating func u64LE(_ v: UInt64) {
    withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
  }

  @inline(__always) mutating func u32LE(_ v: UInt32) {
    withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
  }

  @inline(__always) mutating func varint(_ v: UInt64) {
    var v = v
    while v >= 0x80 {
      bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
      v >>= 7
    }
    bytes.append(UInt8(v))
  }

  mutating func append<C: Collection>(contentsOf c: C) where C.Element == UInt8 { bytes.append(contentsOf: c) }
}

struct ByteReader {
  let bytes: [UInt8]
  var offset: Int

  init(_ bytes: [UInt8], offset: Int = 0) {
    self.bytes = bytes
    self.offset = offset
  }

  var remaining: Int { bytes.count - offset }

  mutating func u8() throws(CodecError) -> UInt8 {
    guard offset < bytes.count else { throw CodecError() }
    defer { offset += 1 }
    return bytes[offset]
  }

  mutating func u16BE() throws(CodecError) -> UInt16 {
    guard remaining >= 2 else { throw CodecError() }
    defer { offset += 2 }
    return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
  }

  mutating func u32BE() throws(CodecError) -> UInt32 {
    guard remaining >= 4 else { throw CodecError() }
    var v: UInt32 = 0
    for i in 0..<4 { v = v << 8 | UInt32(bytes[offset + i]) }
    offset += 4
    return v
  }

  mutating func u64BE() throws(CodecError) -> UInt64 {
    guard remaining >= 8 else { throw CodecError() }
    var v: UInt64 = 0
    for i in 0..<8 { v = v << 8 | UInt64(bytes[offset + i]) }
    offset += 8
    return v
  }

  mutating func i64Ordered() throws(CodecError) -> Int64 {
    Int64(bitPattern: try u64BE() ^ (1 << 63))
  }

  mutating func u64LE() throws(CodecError) -> UInt64 {
    guard remaining >= 8 else { throw CodecError() }
    var v: UInt64 = 0
    for i in (0..<8).reversed() { v = v << 8 | UInt64(bytes[offset + i]) }
    offset += 8
    return v
  }

  mutating func u32LE() throws(CodecError) -> UInt32 {
    guard remaining >= 4 else { throw CodecError() }
    var v: UInt32 = 0
    for i in (0..<4).reversed() { v = v << 8 | UInt32(bytes[offset + i]) }
    offset += 4
    return v
  }

  mutating func varint() throws(CodecError) -> UInt64 {
    var result: UInt64 = 0
    var shift: UInt64 = 0
    while true {
      let b = try u8()
      result |= UInt64(b & 0x7f) << shift
      if b < 0x80 { return result }
      shift += 7
      guard shift < 64 else { throw CodecError() }
    }
  }

  mutating func bytes(_ count: Int) throws(CodecError) -> ArraySlice<UInt8> {
    guard count >= 0, remaining >= count else { throw CodecError() }
    defer { offset += count }
    return bytes[offset..<(offset + count)]
  }
}

/// Stored bytes that do not decode: data corruption or a bug, never user input.
struct CodecError: Error {}
