/// Big-endian and little-endian appenders and readers for the key and row codecs (and other stored
/// forms, such as the write intents of StrataGRPC).
public struct ByteWriter {
  public var bytes: [UInt8]

  public init(capacity: Int = 64) {
    bytes = []
    bytes.reserveCapacity(capacity)
  }

  @inline(__always) public mutating func u8(_ v: UInt8) { bytes.append(v) }

  @inline(__always) public mutating func u16BE(_ v: UInt16) {
    bytes.append(UInt8(v >> 8)); bytes.append(UInt8(truncatingIfNeeded: v))
  }

  @inline(__always) public mutating func u32BE(_ v: UInt32) {
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

  public mutating func append<C: Collection>(contentsOf c: C) where C.Element == UInt8 { bytes.append(contentsOf: c) }
}

public struct ByteReader {
  public let bytes: [UInt8]
  public var offset: Int

  public init(_ bytes: [UInt8], offset: Int = 0) {
    self.bytes = bytes
    self.offset = offset
  }

  public var remaining: Int { bytes.count - offset }

  public mutating func u8() throws(CodecError) -> UInt8 {
    guard offset < bytes.count else { throw CodecError() }
    defer { offset += 1 }
    return bytes[offset]
  }

  public mutating func u16BE() throws(CodecError) -> UInt16 {
    guard remaining >= 2 else { throw CodecError() }
    defer { offset += 2 }
    return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
  }

  public mutating func u32BE() throws(CodecError) -> UInt32 {
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

  public mutating func bytes(_ count: Int) throws(CodecError) -> ArraySlice<UInt8> {
    guard count >= 0, remaining >= count else { throw CodecError() }
    defer { offset += count }
    return bytes[offset..<(offset + count)]
  }
}

/// Stored bytes that do not decode: data corruption or a bug, never user input.
public struct CodecError: Error {}
