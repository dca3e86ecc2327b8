/// Appends fixed-width little-endian integers (the layout of stored aggregate tiles).
struct LittleEndianWriter {
  private(set) var bytes: [UInt8] = []

  init(capacity: Int) { bytes.reserveCapacity(capacity) }

  mutating func u8(_ v: UInt8) { bytes.append(v) }
  mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
  mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
  mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
  mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
  mutating func append(contentsOf c: some Collection<UInt8>) { bytes.append(contentsOf: c) }
}

/// Reads what `LittleEndianWriter` wrote; every read checks the remaining length.
struct LittleEndianReader {
  struct Truncated: Error {}

  private let bytes: [UInt8]
  private(set) var offset = 0

  init(_ bytes: [UInt8]) { self.bytes = bytes }

  var isAtEnd: Bool { offset == bytes.count }

  mutating func u8() throws(Truncated) -> UInt8 { UInt8(try fixed(1)) }
  mutating func u16() throws(Truncated) -> UInt16 { UInt16(try fixed(2)) }
  mutating func u32() throws(Truncated) -> UInt32 { UInt32(try fixed(4)) }
  mutating func u64() throws(Truncated) -> UInt64 { try fixed(8) }
  mutating func i64() throws(Truncated) -> Int64 { Int64(bitPattern: try fixed(8)) }

  mutating func bytes(_ count: Int) throws(Truncated) -> ArraySlice<UInt8> {
    guard count >= 0, bytes.count - offset >= count else { throw Truncated() }
    defer { offset += count }
    return bytes[offset..<(offset + count)]
  }

  private mutating func fixed(_ width: Int) throws(Truncated) -> UInt64 {
    guard bytes.count - offset >= width else { throw Truncated() }
    var v: UInt64 = 0
    for i in (0..<width).reversed() { v = v << 8 | UInt64(bytes[offset + i]) }
    offset += width
    return v
  }
}
