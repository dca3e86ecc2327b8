internal import GRPCCore
internal import GRPCProtobuf
internal import SwiftProtobuf
internal import StrataProto

/// Encodes a `GetOnlineFeaturesResponse` to exactly the bytes SwiftProtobuf produces, several times
/// faster for ranking-sized answers.
///
/// SwiftProtobuf writes a nested message's length prefix by computing that message's size, which
/// computes the sizes of everything nested in it again: the four levels of a lookup answer (response,
/// vector, result, value) make it size each `Value` three times before writing it once. Here every
/// size is computed once (bottom-up, kept in an array) and the bytes are written in one pass. The
/// columns (a few per answer), the row orders (internode answers only) and the freshness entries (a
/// few per answer, when asked for) are still encoded by SwiftProtobuf.
///
/// Byte equality with SwiftProtobuf is the contract (tested against it on random answers): fields in
/// number order, proto3 defaults omitted, oneof members and set messages always written, packed
/// floats, no unknown fields (answers are built by the server and never carry any).
enum OnlineResponseEncoder {
  static func encode(_ response: Strata_V1_GetOnlineFeaturesResponse) throws -> [UInt8] {
    let columns: [[UInt8]] = try response.columns.map { try $0.serializedBytes() }
    let rowOrders: [[UInt8]] = try response.rowOrders.map { try $0.serializedBytes() }
    let freshness: [[UInt8]] = try response.freshness.map { try $0.serializedBytes() }
    // Sizes, computed once: per vector, then per result of each vector (in order).
    var vectorSizes: [Int] = []
    vectorSizes.reserveCapacity(response.vectors.count)
    var resultSizes: [Int] = []
    var valueSizes: [Int] = []  // of each result's value (0 when unset), so nothing is sized twice
    var total = columns.reduce(0) { $0 + 1 + varintSize(UInt64($1.count)) + $1.count }
    for vector in response.vectors {
      var size = 0
      let id = vector.entityID.utf8.count
      if id > 0 { size += 1 + varintSize(UInt64(id)) + id }
      for result in vector.results {
        let v = result.hasValue ? valueSize(result.value) : 0
        let r = resultSize(result, valueSize: v)
        valueSizes.append(v)
        resultSizes.append(r)
        size += 1 + varintSize(UInt64(r)) + r
      }
      vectorSizes.append(size)
      total += 1 + varintSize(UInt64(size)) + size
    }
    total += rowOrders.reduce(0) { $0 + 1 + varintSize(UInt64($1.count)) + $1.count }
    total += freshness.reduce(0) { $0 + 1 + varintSize(UInt64($1.count)) + $1.count }
    let model = response.model.utf8.count
    if model > 0 { total += 1 + varintSize(UInt64(model)) + model }
    var out = Writer(capacity: total)
    for column in columns {
      out.tag(1, wire: 2)
      out.varint(UInt64(column.count))
      out.bytes(column)
    }
    var k = 0
    for (i, vector) in response.vectors.enumerated() {
      out.tag(2, wire: 2)
      out.varint(UInt64(vectorSizes[i]))
      if !vector.entityID.isEmpty { out.string(1, vector.entityID) }
      for result in vector.results {
        out.tag(2, wire: 2)
        out.varint(UInt64(resultSizes[k]))
        writeResult(result, valueSize: valueSizes[k], to: &out)
        k += 1
      }
    }
    for order in rowOrders {
      out.tag(3, wire: 2)
      out.varint(UInt64(order.count))
      out.bytes(order)
    }
    for entry in freshness {
      out.tag(4, wire: 2)
      out.varint(UInt64(entry.count))
      out.bytes(entry)
    }
    if model > 0 { out.string(5, response.model) }
    precondition(out.bytes.count == total, "online response size mismatch")
    return out.bytes
  }

  private static func resultSize(_ r: Strata_V1_FeatureResult, valueSize v: Int) -> Int {
    var size = 0
    if r.hasValue { size += 1 + varintSize(UInt64(v)) + v }
    if r.status.rawValue != 0 { size += 1 + varintSize(UInt64(bitPattern: Int64(r.status.rawValue))) }
    if r.eventTimestampMicros != 0 { size += 1 + varintSize(UInt64(bitPattern: r.eventTimestampMicros)) }
    return size
  }

  private static func valueSize(_ v: Strata_V1_Value) -> Int {
    switch v.kind {
    case nil: return 0
    case .floatValue: return 1 + 8
    case .intValue(let i): return 1 + varintSize(UInt64(bitPattern: i))
    case .stringValue(let s):
      let n = s.utf8.count
      return 1 + varintSize(UInt64(n)) + n
    case .embeddingValue(let e):
      let inner = embeddingSize(e)
      return 1 + varintSize(UInt64(inner)) + inner
    }
  }

  private static func embeddingSize(_ e: Strata_V1_Embedding) -> Int {
    guard !e.values.isEmpty else { return 0 }
    let n = e.values.count * 4
    return 1 + varintSize(UInt64(n)) + n
  }

  private static func writeResult(_ r: Strata_V1_FeatureResult, valueSize: Int, to out: inout Writer) {
    if r.hasValue {
      out.tag(1, wire: 2)
      out.varint(UInt64(valueSize))
      switch r.value.kind {
      case nil: break
      case .floatValue(let d):
        out.tag(1, wire: 1)
        out.fixed64(d.bitPattern)
      case .intValue(let i):
        out.tag(2, wire: 0)
        out.varint(UInt64(bitPattern: i))
      case .stringValue(let s):
        out.string(3, s)
      case .embeddingValue(let e):
        out.tag(4, wire: 2)
        out.varint(UInt64(embeddingSize(e)))
        if !e.values.isEmpty {
          out.tag(1, wire: 2)
          out.varint(UInt64(e.values.count * 4))
          for f in e.values { out.fixed32(f.bitPattern) }
        }
      }
    }
    if r.status.rawValue != 0 {
      out.tag(2, wire: 0)
      out.varint(UInt64(bitPattern: Int64(r.status.rawValue)))
    }
    if r.eventTimestampMicros != 0 {
      out.tag(3, wire: 0)
      out.varint(UInt64(bitPattern: r.eventTimestampMicros))
    }
  }

  static func varintSize(_ v: UInt64) -> Int {
    var v = v
    var n = 1
    while v >= 0x80 {
      v >>= 7
      n += 1
    }
    return n
  }

  /// Appends protobuf wire primitives to a byte array.
  struct Writer {
    var bytes: [UInt8]

    init(capacity: Int) {
      bytes = []
      bytes.reserveCapacity(capacity)
    }

    mutating func tag(_ field: Int, wire: Int) { varint(UInt64(field << 3 | wire)) }

    mutating func varint(_ value: UInt64) {
      var v = value
      while v >= 0x80 {
        bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
        v >>= 7
      }
      bytes.append(UInt8(truncatingIfNeeded: v))
    }

    mutating func fixed64(_ v: UInt64) {
      for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    mutating func fixed32(_ v: UInt32) {
      for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) }
    }

    mutating func string(_ field: Int, _ s: String) {
      tag(field, wire: 2)
      var s = s
      s.withUTF8 { utf8 in
        varint(UInt64(utf8.count))
        bytes.append(contentsOf: utf8)
      }
    }

    mutating func bytes(_ b: [UInt8]) { bytes.append(contentsOf: b) }
  }
}
