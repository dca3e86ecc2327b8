internal import StrataCore
internal import Foundation

/// An immutable, columnar, in-memory copy of one group version's history, built by one scan of the
/// history keyspace: the fast path of point-in-time exports.
///
/// Layout (all arrays dense, indexes are `Int32`):
/// - entities ascending by (token, id bytes), which is storage key order; a bucket directory over the
///   token's top bits finds an entity in O(1) on average (tokens are uniform hashes);
/// - per entity a contiguous range of rows ascending by (event time, created time, sequence). For a
///   group of rows, one row per distinct event time: of several stored rows with the same event time
///   only the winner (greatest created, then greatest sequence, exactly `StoredRow.supersedes`) is
///   kept, since no label without a known-at time can choose another. For an event stream
///   every stored row, as every event counts in the aggregates over it; the last
///   row at or before a time is still the winner, so joins read both kinds alike;
/// - per row its event time, created time and sequence (write id): the kept row's full order key, so
///   a join can report which stored row answered a label (`RowOrders`, for merging replicas' answers);
/// - per feature one packed value array of its dtype (0 / "" / zeros where null) and a presence bitmap.
///
/// So "the row with the greatest event <= T" is a binary search over one entity's event times, and a
/// joined column is a gather from packed arrays. Only the winner of each event time is kept, so labels
/// with a known-at time (which may have to skip it) are answered from storage (`AsOfJoin`). The image
/// is a snapshot: rows written after its scan started are not in it. `HistoryImages` holds a stream's
/// events stored since then beside it (`ImageDelta`, which aggregate reads merge in) and routes labels
/// of entities otherwise written since then to storage.
///
/// Memory (`byteSize`): per row 24 bytes of order key plus the feature values (8 per float or int, 16
/// per string plus its bytes beyond 15, 4 per embedding element) and one presence bit per feature; per
/// entity 16 bytes plus its id bytes; plus the bucket directory.
public final class HistoryImage: Sendable {
  public let storageID: UInt32
  let dtypes: [DType]
  let tokens: [UInt64]
  /// `entityCount + 1` offsets into `idBytes`.
  let idOffsets: [Int32]
  let idBytes: [UInt8]
  /// `entityCount + 1` offsets into the rows.
  let rowStart: [Int32]
  let events: [Int64]
  /// Created time of each row (µs), parallel to `events`.
  let created: [Int64]
  /// Sequence (write id) of each row, parallel to `events`.
  let sequences: [UInt64]
  let columns: [Column]
  /// `buckets[b] ..< buckets[b + 1]` are the entities whose token's top bits are `b`.
  let buckets: [Int32]
  let bucketShift: UInt64
  /// Approximate heap bytes held.
  public let byteSize: Int

  /// One feature's values, dense over the image's rows.
  enum Values: Sendable {
    case float([Double])
    case int([Int64])
    case string([String])
    case embedding([Float], dimension: Int)
  }

  struct Column: Sendable {
    var values: Values
    /// Bit r set = row r has a value for this feature.
    var present: [UInt64]

    @inline(__always) func has(_ r: Int) -> Bool { present[r >> 6] & (1 << UInt64(r & 63)) != 0 }
  }

  public var entityCount: Int { tokens.count }
  public var rowCount: Int { events.count }

  fileprivate init(storageID: UInt32, dtypes: [DType], builder b: Builder) {
    self.storageID = storageID
    self.dtypes = dtypes
    tokens = b.tokens
    idOffsets = b.idOffsets
    idBytes = b.idBytes
    rowStart = b.rowStart
    events = b.events
    created = b.created
    sequences = b.sequences
    columns = b.columns
    // Directory: about one entity per bucket.
    var bits: UInt64 = 0
    while (1 << bits) < max(1, b.tokens.count) && bits < 30 { bits += 1 }
    bucketShift = 64 - bits
    var buckets = [Int32](repeating: 0, count: (1 << Int(bits)) + 1)
    var e = 0
    for bucket in 0..<(1 << Int(bits)) {
      while e < b.tokens.count && (bits == 0 ? 0 : b.tokens[e] >> (64 - bits)) < UInt64(bucket) { e += 1 }
      buckets[bucket] = Int32(e)
    }
    buckets[1 << Int(bits)] = Int32(b.tokens.count)
    self.buckets = buckets
    byteSize = b.bytes + buckets.count * 4
  }

  /// The entity index of `entityID` (whose token is `token`), or nil if it has no rows in the image.
  @inline(__always)
  func entity(_ entityID: String, token: UInt64) -> Int? {
    let bucket = bucketShift == 64 ? 0 : Int(token >> bucketShift)
    var e = Int(buckets[bucket])
    let end = Int(buckets[bucket + 1])
    while e < end {
      let t = tokens[e]
      if t > token { return nil }
      if t == token && idEquals(e, entityID) { return e }
      e += 1
    }
    return nil
  }

  private func idEquals(_ e: Int, _ entityID: String) -> Bool {
    let start = Int(idOffsets[e])
    let count = Int(idOffsets[e + 1]) - start
    var id = entityID
    return id.withUTF8 { utf8 in
      guard utf8.count == count else { return false }
      if count == 0 { return true }
      return idBytes.withUnsafeBufferPointer { arena in memcmp(arena.baseAddress! + start, utf8.baseAddress!, count) == 0 }
    }
  }

  /// The row chosen for `entityID` at `asOf` (the greatest event time <= asOf), or -1 if none.
  @inline(__always)
  public func row(for entityID: String, token: UInt64, asOf: Int64) -> Int32 {
    guard let e = entity(entityID, token: token) else { return -1 }
    var lo = Int(rowStart[e])
    var hi = Int(rowStart[e + 1])
    // Invariant: rows before lo have event <= asOf, rows from hi on have event > asOf.
    let first = lo
    while lo < hi {
      let mid = (lo + hi) >> 1
      if events[mid] <= asOf { lo = mid + 1 } else { hi = mid }
    }
    return lo == first ? -1 : Int32(lo - 1)
  }

  /// Every row of the image as `(entity id, event time, created time, sequence, values)`, in image
  /// order (tests).
  func dump() -> [(entityID: String, event: Int64, created: Int64, sequence: UInt64, values: [FeatureValue?])] {
    var out: [(String, Int64, Int64, UInt64, [FeatureValue?])] = []
    for e in 0..<entityCount {
      let id = String(decoding: idBytes[Int(idOffsets[e])..<Int(idOffsets[e + 1])], as: UTF8.self)
      for r in Int(rowStart[e])..<Int(rowStart[e + 1]) {
        out.append((id, events[r], created[r], sequences[r], columns.map { $0.has(r) ? $0.value(r) : nil }))
      }
    }
    return out
  }

  // MARK: Building

  /// Scans `cursor` (over the history keyspace) from the start and collects the rows of `group`.
  /// Throws INTERNAL on a row that does not decode, or if the image would exceed `maxBytes`
  /// (approximately) or 2^31 rows; the caller then answers from storage. Throws UNAVAILABLE when
  /// `stop` (asked every 4,096 keys) says the node is stopping.
  static func build(
    from cursor: any StorageCursor, group: FeatureGroup, expectedRows: Int, maxBytes: Int, stop: () -> Bool = { false }
  ) throws -> HistoryImage {
    let sid = group.storageID
    var b = Builder(
      dtypes: group.dtypes, keepsEveryRow: group.spec.source == .events,
      reserve: min(expectedRows, maxBytes / bytesPerRow(group.dtypes)))
    cursor.seek([])
    var scanned = 0
    while cursor.isValid {
      scanned += 1
      if scanned & 4_095 == 0, stop() {
        throw StrataError(.unavailable, "the history image of \(group.qualifiedName) was not built: the node is stopping")
      }
      try cursor.withKey { key in
        try cursor.withValue { value in try b.add(key: key, value: value, storageID: sid) }
      }
      if b.bytes > maxBytes {
        throw StrataError.resourceExhausted("history image of \(group.qualifiedName) exceeds \(maxBytes) bytes")
      }
      guard b.events.count < Int(Int32.max) else {
        throw StrataError.resourceExhausted("history of \(group.qualifiedName) has too many rows for an image")
      }
      cursor.next()
    }
    try cursor.checkStatus()
    b.finish()
    return HistoryImage(storageID: sid, dtypes: group.dtypes, builder: b)
  }

  /// The least bytes one row takes in an image of a group with `dtypes` (a lower bound: strings
  /// longer than 15 bytes and per-entity data come on top; `Builder.bytes` counts them exactly).
  static func bytesPerRow(_ dtypes: [DType]) -> Int {
    dtypes.reduce(24 + dtypes.count / 8) { total, dtype in
      switch dtype {
      case .float, .int: total + 8
      case .string: total + 16
      case .embedding(let d): total + 4 * d
      }
    }
  }

  /// Accumulates rows in key order.
  fileprivate struct Builder {
    let dtypes: [DType]
    /// Whether every stored row is kept (an event stream), not only each event time's winner.
    let keepsEveryRow: Bool
    var tokens: [UInt64] = []
    var idOffsets: [Int32] = [0]
    var idBytes: [UInt8] = []
    var rowStart: [Int32] = [0]
    var events: [Int64] = []
    var created: [Int64] = []
    var sequences: [UInt64] = []
    /// Per feature slot; only the array of the slot's dtype is used.
    var floats: [[Double]]
    var ints: [[Int64]]
    var strings: [[String]]
    var embeddings: [[Float]]
    var present: [[UInt64]]
    /// The finished columns (set by `finish`).
    var columns: [Column] = []
    /// Whether an entity is open (its rows are being added).
    var open = false
    /// Heap bytes of what was added so far: entities, rows, string bytes (whatever the reserved
    /// capacity, so a budget check is exact for the content).
    var bytes = 0
    let rowBytes: Int

    init(dtypes: [DType], keepsEveryRow: Bool, reserve n: Int) {
      self.dtypes = dtypes
      self.keepsEveryRow = keepsEveryRow
      rowBytes = HistoryImage.bytesPerRow(dtypes)
      floats = Array(repeating: [], count: dtypes.count)
      ints = Array(repeating: [], count: dtypes.count)
      strings = Array(repeating: [], count: dtypes.count)
      embeddings = Array(repeating: [], count: dtypes.count)
      present = Array(repeating: [], count: dtypes.count)
      events.reserveCapacity(n)
      created.reserveCapacity(n)
      sequences.reserveCapacity(n)
      for (k, dtype) in dtypes.enumerated() {
        present[k].reserveCapacity((n + 63) / 64)
        switch dtype {
        case .float: floats[k].reserveCapacity(n)
        case .int: ints[k].reserveCapacity(n)
        case .string: strings[k].reserveCapacity(n)
        case .embedding(let d): embeddings[k].reserveCapacity(n * d)
        }
      }
    }


    mutating func add(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, storageID: UInt32) throws {
      // token:8 idLength:2 id gv:4 event:8 created:8 sequence:8
      guard key.count >= 38 else { throw StrataError.internalError("history key too short (\(key.count) bytes)") }
      let idLength = Int(key[8]) << 8 | Int(key[9])
      guard key.count == 10 + idLength + 28 else { throw StrataError.internalError("history key has a bad length") }
      guard Self.u32BE(key, 10 + idLength) == storageID else { return }
      let token = Self.u64BE(key, 0)
      let event = Int64(bitPattern: Self.u64BE(key, 14 + idLength) ^ (1 << 63))
      let createdTime = Int64(bitPattern: Self.u64BE(key, 22 + idLength) ^ (1 << 63))
      let sequence = Self.u64BE(key, 30 + idLength)
      let id = UnsafeRawBufferPointer(rebasing: key[10..<(10 + idLength)])
      if open && tokens[tokens.count - 1] == token && sameID(id) {
        // Same entity. Rows come ascending by (event, created, sequence): an equal event time means
        // this row supersedes the previous one (in a group of rows; events all count).
        if !keepsEveryRow && events[events.count - 1] == event { removeLastRow() }
      } else {
        if open { rowStart.append(Int32(events.count)) }
        tokens.append(token)
        idBytes.append(contentsOf: id)
        idOffsets.append(Int32(idBytes.count))
        open = true
        bytes += 8 + 4 + 4 + id.count
      }
      events.append(event)
      created.append(createdTime)
      sequences.append(sequence)
      bytes += rowBytes
      try appendValues(value)
    }

    private func sameID(_ id: UnsafeRawBufferPointer) -> Bool {
      let start = Int(idOffsets[idOffsets.count - 2])
      guard idBytes.count - start == id.count else { return false }
      if id.isEmpty { return true }
      return idBytes.withUnsafeBufferPointer { memcmp($0.baseAddress! + start, id.baseAddress!, id.count) == 0 }
    }

    mutating func finish() {
      if open { rowStart.append(Int32(events.count)) }
      open = false
      columns = dtypes.indices.map { k in
        let values: Values
        switch dtypes[k] {
        case .float: values = .float(floats[k])
        case .int: values = .int(ints[k])
        case .string: values = .string(strings[k])
        case .embedding(let d): values = .embedding(embeddings[k], dimension: d)
        }
        return Column(values: values, present: present[k])
      }
      floats = []
      ints = []
      strings = []
      embeddings = []
      present = []
    }

    private mutating func removeLastRow() {
      let r = events.count - 1
      events.removeLast()
      created.removeLast()
      sequences.removeLast()
      bytes -= rowBytes
      for k in dtypes.indices {
        present[k][r >> 6] &= ~(1 << UInt64(r & 63))
        switch dtypes[k] {
        case .float: floats[k].removeLast()
        case .int: ints[k].removeLast()
        case .string:
          let last = strings[k].removeLast()
          bytes -= Self.heapBytes(last)
        case .embedding(let d): embeddings[k].removeLast(d)
        }
      }
    }

    /// Decodes one `RowCodec` value straight into the columns (row index = `events.count - 1`).
    private mutating func appendValues(_ bytes: UnsafeRawBufferPointer) throws {
      let r = events.count - 1
      let n = dtypes.count
      let bitmapBytes = (n + 7) / 8
      guard bytes.count >= 1 + bitmapBytes, bytes[0] == RowCodec.formatVersion else { throw Self.corrupt }
      var offset = 1 + bitmapBytes
      if r & 63 == 0 { for k in 0..<n { present[k].append(0) } }
      for k in 0..<n {
        let has = bytes[1 + k >> 3] & (1 << UInt8(k & 7)) != 0
        if has { present[k][r >> 6] |= 1 << UInt64(r & 63) }
        switch dtypes[k] {
        case .float:
          if has {
            guard offset + 8 <= bytes.count else { throw Self.corrupt }
            floats[k].append(Double(bitPattern: Self.u64LE(bytes, offset)))
            offset += 8
          } else {
            floats[k].append(0)
          }
        case .int:
          if has {
            guard offset + 8 <= bytes.count else { throw Self.corrupt }
            ints[k].append(Int64(bitPattern: Self.u64LE(bytes, offset)))
            offset += 8
          } else {
            ints[k].append(0)
          }
        case .string:
          if has {
            var length = 0
            var shift = 0
            while true {
              guard offset < bytes.count, shift < 64 else { throw Self.corrupt }
              let byte = bytes[offset]
              offset += 1
              length |= Int(byte & 0x7F) << shift
              if byte & 0x80 == 0 { break }
              shift += 7
            }
            guard length >= 0, length <= bytes.count - offset else { throw Self.corrupt }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)]), as: UTF8.self)
            self.bytes += Self.heapBytes(text)
            strings[k].append(text)
            offset += length
          } else {
            strings[k].append("")
          }
        case .embedding(let d):
          if has {
            guard offset + 4 * d <= bytes.count else { throw Self.corrupt }
            for i in 0..<d { embeddings[k].append(Float(bitPattern: Self.u32LE(bytes, offset + 4 * i))) }
            offset += 4 * d
          } else {
            embeddings[k].append(contentsOf: repeatElement(0, count: d))
          }
        }
      }
      guard offset == bytes.count else { throw Self.corrupt }
    }

    /// Heap bytes of a string beyond its 16-byte inline representation (small ones are inline).
    @inline(__always) static func heapBytes(_ s: String) -> Int {
      let n = s.utf8.count
      return n > 15 ? n + 32 : 0
    }

    static let corrupt = StrataError.internalError("stored row does not decode with its group's schema (corrupt data or a bug)")

    @inline(__always) static func u64BE(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt64 {
      var v: UInt64 = 0
      for i in 0..<8 { v = v << 8 | UInt64(b[at + i]) }
      return v
    }

    @inline(__always) static func u32BE(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
      var v: UInt32 = 0
      for i in 0..<4 { v = v << 8 | UInt32(b[at + i]) }
      return v
    }

    @inline(__always) static func u64LE(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt64 {
      UInt64(littleEndian: b.loadUnaligned(fromByteOffset: at, as: UInt64.self))
    }

    @inline(__always) static func u32LE(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
      UInt32(littleEndian: b.loadUnaligned(fromByteOffset: at, as: UInt32.self))
    }
  }
}

extension HistoryImage.Column {
  func value(_ r: Int) -> FeatureValue {
    switch values {
    case .float(let v): .float(v[r])
    case .int(let v): .int(v[r])
    case .string(let v): .string(v[r])
    case .embedding(let v, let d): .embedding(Array(v[(r * d)..<((r + 1) * d)]))
    }
  }
}
