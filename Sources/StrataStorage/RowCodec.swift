public import StrataCore

/// The compact binary encoding of one row of a group version (the values only; times live in the key).
///
/// ```
/// format:u8 (= 1)  presence bitmap: ceil(n/8) bytes, bit i set = feature i is non-null
/// then, for each non-null feature in definition order:
///   FLOAT      8 bytes, IEEE 754 bit pattern, little-endian
///   INT        8 bytes, two's complement, little-endian
///   STRING     varint byte length, UTF-8 bytes
///   EMBEDDING  dimension x 4 bytes, IEEE 754 float32, little-endian (the dimension is in the schema)
/// ```
/// The schema (the dtype of each slot) comes from the group version, so rows carry no names or tags.
public enum RowCodec {
  public static let formatVersion: UInt8 = 1

  /// Encodes `values` (one slot per feature of `dtypes`). The values must already conform to the dtypes.
  public static func encode(_ values: [FeatureValue?], dtypes: [DType]) -> [UInt8] {
    precondition(values.count == dtypes.count, "row has \(values.count) slots, schema has \(dtypes.count)")
    var w = ByteWriter(capacity: 1 + (values.count + 7) / 8 + values.count * 8)
    w.u8(formatVersion)
    var bitmap = [UInt8](repeating: 0, count: (values.count + 7) / 8)
    for (i, v) in values.enumerated() where v != nil { bitmap[i >> 3] |= 1 << UInt8(i & 7) }
    w.append(contentsOf: bitmap)
    for v in values {
      switch v {
      case nil: break
      case .float(let d)?: w.u64LE(d.bitPattern)
      case .int(let i)?: w.u64LE(UInt64(bitPattern: i))
      case .string(let s)?:
        w.varint(UInt64(s.utf8.count))
        w.append(contentsOf: s.utf8)
      case .embedding(let e)?:
        for f in e { w.u32LE(f.bitPattern) }
      }
    }
    return w.bytes
  }

  /// Decodes a row written by `encode` with the same `dtypes`. Throws INTERNAL on corrupt bytes.
  /// The values encoded in `bytes[start...]` (an online value keeps its ordering header before them:
  /// decoding from an offset saves copying the rest out).
  public static func decode(_ bytes: [UInt8], from start: Int = 0, dtypes: [DType]) throws(StrataError) -> [FeatureValue?] {
    do {
      var r = ByteReader(bytes, offset: start)
      let format = try r.u8()
      guard format == formatVersion else { throw CodecError() }
      let bitmap = r.offset
      _ = try r.bytes((dtypes.count + 7) / 8)  // read in place below
      var out: [FeatureValue?] = []
      out.reserveCapacity(dtypes.count)
      for (i, dtype) in dtypes.enumerated() {
        guard bytes[bitmap + (i >> 3)] & (1 << UInt8(i & 7)) != 0 else {
          out.append(nil)
          continue
        }
        switch dtype {
        case .float: out.append(.float(Double(bitPattern: try r.u64LE())))
        case .int: out.append(.int(Int64(bitPattern: try r.u64LE())))
        case .string:
          let n = try r.varint()
          guard n <= UInt64(r.remaining) else { throw CodecError() }
          out.append(.string(String(decoding: try r.bytes(Int(n)), as: UTF8.self)))
        case .embedding(let dimension):
          var e = [Float]()
          e.reserveCapacity(dimension)
          for _ in 0..<dimension { e.append(Float(bitPattern: try r.u32LE())) }
          out.append(.embedding(e))
        }
      }
      guard r.remaining == 0 else { throw CodecError() }
      return out
    } catch {
      throw .internalError("stored row does not decode with its group's schema (corrupt data or a bug)")
    }
  }
}

extension FeatureGroup {
  /// The dtype of each slot of this version's rows.
  public var dtypes: [DType] { spec.features.map(\.dtype) }
}
