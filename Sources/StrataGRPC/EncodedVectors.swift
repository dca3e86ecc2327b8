internal import GRPCCore

/// The `FeatureVector`s of an encoded `GetOnlineFeaturesResponse`, each kept as its whole field (tag,
/// length prefix and message bytes) in the order they were encoded, so that a coordinator can put the
/// owners' answers together in request order by copying bytes, without decoding them and encoding
/// them again.
///
/// Concatenating encoded fields is encoding the message that holds all of them: the coordinator's
/// answer (columns first, then the vectors in request order) is byte for byte what encoding the merged
/// message would give, as long as each part was encoded with fields in number order (ours are).
struct EncodedVectors: Sendable {
  /// The encoded response (or a larger buffer holding it).
  let bytes: [UInt8]
  /// Where each vector's field is in `bytes`, in encoded order.
  let entries: [Range<Int>]

  var count: Int { entries.count }

  /// Scans `bytes[range]`, an encoded `GetOnlineFeaturesResponse`: field 2 (`vectors`) is collected,
  /// field 1 (`columns`) skipped. INTERNAL on anything else or on a malformed message (they come from
  /// another Strata node, so that would be a bug, not bad input).
  init(response bytes: [UInt8], in range: Range<Int>? = nil) throws(RPCError) {
    var reader = WireReader(bytes, in: range ?? bytes.indices)
    var entries: [Range<Int>] = []
    while !reader.atEnd {
      let start = reader.offset
      let (field, wire) = try reader.tag()
      guard wire == 2, field == 1 || field == 2 else {
        throw RPCError(code: .internalError, message: "unexpected field \(field) (wire type \(wire)) in a lookup answer")
      }
      _ = try reader.lengthDelimited()
      if field == 2 { entries.append(start..<reader.offset) }
    }
    self.bytes = bytes
    self.entries = entries
  }

  /// The public answer: `columns` (each an encoded `FeatureColumn`), then vector `i` of the request
  /// taken from `parts[owner[i]]`, where each part holds its owner's vectors in request order.
  /// `parts[k]` must have exactly as many vectors as `owner` names `k` (checked by the caller).
  static func assemble(columns: [[UInt8]], parts: [EncodedVectors], owner: [Int]) -> [UInt8] {
    var size = 0
    for c in columns { size += 1 + OnlineResponseEncoder.varintSize(UInt64(c.count)) + c.count }
    for p in parts { for e in p.entries { size += e.count } }
    var out = OnlineResponseEncoder.Writer(capacity: size)
    for c in columns {
      out.tag(1, wire: 2)
      out.varint(UInt64(c.count))
      out.bytes(c)
    }
    var next = [Int](repeating: 0, count: parts.count)
    for k in owner {
      let entry = parts[k].entries[next[k]]
      next[k] += 1
      parts[k].bytes.withUnsafeBufferPointer { out.bytes.append(contentsOf: $0[entry]) }
    }
    return out.bytes
  }

  /// The public answer: `columns`, then for each item of the request the vector `picks[i].entry` of
  /// `parts[picks[i].part]` (a replicated read, where an answer may cover items that another took).
  static func assemble(columns: [[UInt8]], parts: [EncodedVectors?], picks: [(part: Int, entry: Int)]) -> [UInt8] {
    var size = 0
    for c in columns { size += 1 + OnlineResponseEncoder.varintSize(UInt64(c.count)) + c.count }
    for (k, j) in picks { size += parts[k]!.entries[j].count }
    var out = OnlineResponseEncoder.Writer(capacity: size)
    for c in columns {
      out.tag(1, wire: 2)
      out.varint(UInt64(c.count))
      out.bytes(c)
    }
    for (k, j) in picks {
      let part = parts[k]!
      let entry = part.entries[j]
      part.bytes.withUnsafeBufferPointer { out.bytes.append(contentsOf: $0[entry]) }
    }
    return out.bytes
  }
}

/// Reads the protobuf wire format: varints, tags and length-delimited fields, with bounds checks
/// (`OnlineResponseEncoder.Writer` writes it).
struct WireReader {
  let bytes: [UInt8]
  private(set) var offset: Int
  let end: Int

  init(_ bytes: [UInt8], in range: Range<Int>) {
    self.bytes = bytes
    self.offset = range.lowerBound
    self.end = range.upperBound
  }

  var atEnd: Bool { offset >= end }

  mutating func varint() throws(RPCError) -> UInt64 {
    var value: UInt64 = 0
    var shift: UInt64 = 0
    while offset < end, shift < 64 {
      let byte = bytes[offset]
      offset += 1
      value |= UInt64(byte & 0x7F) << shift
      if byte < 0x80 { return value }
      shift += 7
    }
    throw RPCError(code: .internalError, message: "truncated or overlong varint in a lookup answer")
  }

  mutating func tag() throws(RPCError) -> (field: Int, wire: Int) {
    let t = try varint()
    guard t >> 3 > 0, t >> 3 < 1 << 29 else { throw RPCError(code: .internalError, message: "bad field tag \(t) in a lookup answer") }
    return (Int(t >> 3), Int(t & 7))
  }

  /// The range of a length-delimited field's bytes (after its length prefix), which it skips.
  mutating func lengthDelimited() throws(RPCError) -> Range<Int> {
    let n = try varint()
    guard n <= UInt64(end - offset) else {
      throw RPCError(code: .internalError, message: "a field of \(n) bytes overruns a lookup answer")
    }
    let range = offset..<(offset + Int(n))
    offset += Int(n)
    return range
  }

  /// Skips a field of wire type `wire` (its tag already read).
  mutating func skip(wire: Int) throws(RPCError) {
    switch wire {
    case 0: _ = try varint()
    case 1: try advance(8)
    case 2: _ = try lengthDelimited()
    case 5: try advance(4)
    default: throw RPCError(code: .internalError, message: "unsupported wire type \(wire) in a lookup answer")
    }
  }

  private mutating func advance(_ n: Int) throws(RPCError) {
    guard end - offset >= n else { throw RPCError(code: .internalError, message: "truncated lookup answer") }
    offset += n
  }
}
