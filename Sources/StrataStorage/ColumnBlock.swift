public import StrataCore

/// One feature's joined values for consecutive label rows, in packed arrays (the columnar form of a
/// historical read). Built by `scatter`, which decodes each winning row once straight into the arrays:
/// one array per column per chunk, no object per value.
public struct ColumnBlock: Sendable, Equatable {
  /// `ValueStatus` per row: 1 PRESENT, 2 DEFAULTED, 3 MISSING, 4 EXPIRED (the wire numbering).
  public var statuses: [UInt8] = []
  /// 1 where the row has a value (stored or default), 0 for null.
  public var hasValue: [UInt8] = []
  /// Dense per row (0 / "" for null); only the array of the feature's dtype is filled.
  public var floats: [Double] = []
  public var ints: [Int64] = []
  public var strings: [String] = []
  /// `rows * dimension` floats.
  public var embeddings: [Float] = []
  /// Event time of the row each value came from, 0 when none.
  public var eventTimes: [Int64] = []

  public init() {}

  public static func code(_ status: ValueStatus) -> UInt8 {
    switch status {
    case .present: 1
    case .defaulted: 2
    case .missing: 3
    case .expired: 4
    }
  }

  /// For each label `i` in `range`, appends the features of `group` that columns read, taken from
  /// `rows[i]` (nil = no row), by the rules of `PointInTime.result`. Each row's bytes are decoded once,
  /// straight into the column arrays (no intermediate values). `wanted[slot]` lists the indices into
  /// `blocks` of the columns reading that slot; `times[i]` is the label time (for max age).
  static func scatter(
    rows: [RawRow?], times: [Int64], range: Range<Int>, group: FeatureGroup, wanted: [[Int]], into blocks: inout [ColumnBlock]
  ) throws {
    let specs = group.spec.features
    let dtypes = group.dtypes
    let n = dtypes.count
    let bitmapBytes = (n + 7) / 8
    let maxAge = group.maxAgeMicros
    let present = code(.present)
    func fallback(slot s: Int, status: ValueStatus?, event: Int64, into blocks: inout [ColumnBlock]) {
      let d = specs[s].defaultValue
      for c in wanted[s] { blocks[c].appendFallback(d, status: status ?? (d == nil ? .missing : .defaulted), event: event, dtype: dtypes[s]) }
    }
    let corrupt = StrataError.internalError("stored row does not decode with its group's schema (corrupt data or a bug)")
    for i in range {
      guard let row = rows[i] else {
        for s in 0..<n where !wanted[s].isEmpty { fallback(slot: s, status: nil, event: 0, into: &blocks) }
        continue
      }
      let event = row.eventTime.microseconds
      if let maxAge, row.eventTime < Timestamp(microseconds: times[i]).subtracting(microseconds: maxAge) {
        for s in 0..<n where !wanted[s].isEmpty { fallback(slot: s, status: .expired, event: event, into: &blocks) }
        continue
      }
      try row.bytes.withUnsafeBytes { raw in
        guard raw.count >= 1 + bitmapBytes, raw[0] == RowCodec.formatVersion else { throw corrupt }
        var offset = 1 + bitmapBytes
        for s in 0..<n {
          guard raw[1 + s >> 3] & (1 << UInt8(s & 7)) != 0 else {
            if !wanted[s].isEmpty { fallback(slot: s, status: nil, event: event, into: &blocks) }
            continue
          }
          let columns = wanted[s]
          switch dtypes[s] {
          case .float, .int:
            guard offset + 8 <= raw.count else { throw corrupt }
            if !columns.isEmpty {
              let bits = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
              for c in columns {
                blocks[c].pushPresent(status: present, event: event)
                if case .float = dtypes[s] { blocks[c].floats.append(Double(bitPattern: bits)) } else { blocks[c].ints.append(Int64(bitPattern: bits)) }
              }
            }
            offset += 8
          case .string:
            var length = 0
            var shift = 0
            while true {
              guard offset < raw.count, shift < 64 else { throw corrupt }
              let b = raw[offset]
              offset += 1
              length |= Int(b & 0x7f) << shift
              if b < 0x80 { break }
              shift += 7
            }
            guard length >= 0, offset + length <= raw.count else { throw corrupt }
            if !columns.isEmpty {
              let text = String(decoding: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + length)]), as: UTF8.self)
              for c in columns {
                blocks[c].pushPresent(status: present, event: event)
                blocks[c].strings.append(text)
              }
            }
            offset += length
          case .embedding(let dimension):
            guard offset + 4 * dimension <= raw.count else { throw corrupt }
            for c in columns {
              blocks[c].pushPresent(status: present, event: event)
              for k in 0..<dimension {
                let bits = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4 * k, as: UInt32.self))
                blocks[c].embeddings.append(Float(bitPattern: bits))
              }
            }
            offset += 4 * dimension
          }
        }
        guard offset == raw.count else { throw corrupt }
      }
    }
  }

  @inline(__always)
  private mutating func pushPresent(status: UInt8, event: Int64) {
    statuses.append(status)
    hasValue.append(1)
    eventTimes.append(event)
  }

  /// Appends another block's rows after this block's (same dtype).
  mutating func append(contentsOf other: ColumnBlock) {
    statuses += other.statuses
    hasValue += other.hasValue
    floats += other.floats
    ints += other.ints
    strings += other.strings
    embeddings += other.embeddings
    eventTimes += other.eventTimes
  }

  private mutating func appendFallback(_ value: FeatureValue?, status: ValueStatus, event: Int64, dtype: DType) {
    statuses.append(Self.code(status))
    eventTimes.append(event)
    if let value {
      hasValue.append(1)
      appendValue(value, dtype: dtype)
    } else {
      hasValue.append(0)
      appendNull(dtype)
    }
  }

  @inline(__always)
  private mutating func appendValue(_ value: FeatureValue, dtype: DType) {
    switch value {
    case .float(let v): floats.append(v)
    case .int(let v): ints.append(v)
    case .string(let v): strings.append(v)
    case .embedding(let v): embeddings.append(contentsOf: v)
    }
  }

  @inline(__always)
  private mutating func appendNull(_ dtype: DType) {
    switch dtype {
    case .float: floats.append(0)
    case .int: ints.append(0)
    case .string: strings.append("")
    case .embedding(let d): embeddings.append(contentsOf: repeatElement(0, count: d))
    }
  }

  mutating func reserve(_ n: Int, dtype: DType) {
    statuses.reserveCapacity(n)
    hasValue.reserveCapacity(n)
    eventTimes.reserveCapacity(n)
    switch dtype {
    case .float: floats.reserveCapacity(n)
    case .int: ints.reserveCapacity(n)
    case .string: strings.reserveCapacity(n)
    case .embedding(let d): embeddings.reserveCapacity(n * d)
    }
  }


}
