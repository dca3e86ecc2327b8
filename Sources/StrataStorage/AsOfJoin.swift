public import StrataCore
internal import Dispatch
internal import Foundation
internal import Synchronization

/// One lookup of a historical read: the row of (entity, group version) as of a time.
public struct AsOfProbe: Sendable, Equatable {
  public var entityID: String
  /// Rows with `event <= asOf` are candidates.
  public var asOf: Timestamp
  /// As-of-known-time: rows created after this time are ignored, as if not yet written (leak-free
  /// training when corrections arrive late). nil = every stored row counts.
  public var knownAt: Timestamp?

  public init(entityID: String, asOf: Timestamp, knownAt: Timestamp? = nil) {
    self.entityID = entityID
    self.asOf = asOf
    self.knownAt = knownAt
  }
}

/// The point-in-time join over one group version's history: for each probe, the row with the greatest
/// (event, created, sequence) such that `event <= asOf` (and `created <= knownAt` when given).
///
/// The probes of a chunk are sorted by (entity key, asOf) and merged against the time-ordered history:
/// one seek per entity run, then a forward walk that visits each history row between the run's first
/// and last label at most once, instead of one seek per label. Probes with `knownAt` take one seek each
/// plus a backward walk over the rows created too late. Large chunks are split at entity boundaries
/// over `parallelism` threads, each with its own cursor; answers are placed back by probe index, so
/// the output is in input order.
struct AsOfJoin {
  let engine: any StorageEngine
  let group: FeatureGroup

  /// Chunks smaller than this run on the calling thread only.
  static let parallelThreshold = 2_048

  func run(_ probes: [AsOfProbe], parallelism: Int) throws -> [StoredRow?] {
    if probes.isEmpty { return [] }
    let sid = group.storageID
    let prefixes = probes.map { KeyCodec.historyPrefix(entityID: $0.entityID, groupVersion: sid) }
    var order = Array(probes.indices)
    order.sort { a, b in
      let pa = prefixes[a]
      let pb = prefixes[b]
      if pa == pb { return probes[a].asOf < probes[b].asOf }
      return pa.lexicographicallyPrecedes(pb)
    }
    let parts = Self.partition(order: order, prefixes: prefixes, parts: probes.count < Self.parallelThreshold ? 1 : max(1, parallelism))
    var result = [StoredRow?](repeating: nil, count: probes.count)
    if parts.count == 1 {
      for (index, row) in try walk(order[parts[0]], probes: probes, prefixes: prefixes) { result[index] = row }
      return result
    }
    let answers = Mutex([[(Int, StoredRow?)]](repeating: [], count: parts.count))
    let failure = Mutex<(any Error)?>(nil)
    let orderCopy = order
    DispatchQueue.concurrentPerform(iterations: parts.count) { part in
      do {
        let out = try walk(orderCopy[parts[part]], probes: probes, prefixes: prefixes)
        answers.withLock { $0[part] = out }
      } catch {
        failure.withLock { $0 = error }
      }
    }
    if let error = failure.withLock({ $0 }) { throw error }
    answers.withLock { all in
      for part in all { for (index, row) in part { result[index] = row } }
    }
    return result
  }

  /// Splits `order` into at most `parts` contiguous ranges of similar size, cutting only between
  /// entities (a run of one entity is walked by one cursor).
  static func partition(order: [Int], prefixes: [[UInt8]], parts: Int) -> [Range<Int>] {
    guard parts > 1 else { return [0..<order.count] }
    var ranges: [Range<Int>] = []
    var start = 0
    for p in 1..<parts {
      var cut = max(start, order.count * p / parts)
      while cut > start, cut < order.count, prefixes[order[cut]] == prefixes[order[cut - 1]] { cut += 1 }
      if cut > start && cut < order.count {
        ranges.append(start..<cut)
        start = cut
      }
    }
    ranges.append(start..<order.count)
    return ranges
  }

  /// Answers the probes `order` (sorted by entity key, then time) with one cursor.
  func walk(_ order: ArraySlice<Int>, probes: [AsOfProbe], prefixes: [[UInt8]]) throws -> [(Int, StoredRow?)] {
    let cursor = try engine.makeCursor(in: .history)
    let dtypes = group.dtypes
    var out: [(Int, StoredRow?)] = []
    out.reserveCapacity(order.count)
    var bestKey: [UInt8] = []
    var bestValue: [UInt8] = []
    bestKey.reserveCapacity(128)
    bestValue.reserveCapacity(512)
    var i = order.startIndex
    while i < order.endIndex {
      let prefix = prefixes[order[i]]
      var end = i + 1
      while end < order.endIndex && prefixes[order[end]] == prefix { end += 1 }
      // The merge state of this entity run: the best row so far, copied into reused buffers (no
      // allocation per history row passed), and its decoded form, computed at most once however many
      // labels share it.
      var hasBest = false
      var decoded: StoredRow?
      var positioned = false
      for k in i..<end {
        let index = order[k]
        let probe = probes[index]
        if let knownAt = probe.knownAt {
          out.append((index, try Self.lookupKnownAt(cursor, prefix: prefix, asOf: probe.asOf, knownAt: knownAt, dtypes: dtypes)))
          positioned = false
          continue
        }
        if !positioned {
          hasBest = false
          decoded = nil
          // Dense chunks: when the cursor sits a few rows before this entity (rows of entities without
          // labels in this chunk), step over them; the whole chunk then reads the history sequentially.
          if !Self.skipForward(cursor, to: prefix, maxSteps: Self.maxSkipSteps) {
            // One seek: the last row at or before the first label of the run, then step past it.
            cursor.seekForPrev(Self.seekKey(prefix, probe.asOf))
            if cursor.isValid {
              if cursor.withKey({ Self.hasPrefix($0, prefix) }) {
                Self.copyCurrent(cursor, key: &bestKey, value: &bestValue)
                hasBest = true
              }
              cursor.next()
            } else {
              cursor.seek(prefix)
            }
          }
          positioned = true
        }
        let asOf = probe.asOf.microseconds
        while cursor.isValid,
          cursor.withKey({ Self.hasPrefix($0, prefix) && Self.eventTime($0, prefixLength: prefix.count) <= asOf })
        {
          Self.copyCurrent(cursor, key: &bestKey, value: &bestValue)
          hasBest = true
          decoded = nil
          cursor.next()
        }
        if decoded == nil, hasBest { decoded = try Self.decode(bestKey, bestValue, dtypes: dtypes) }
        out.append((index, decoded))
      }
      i = end
    }
    try cursor.checkStatus()
    return out
  }

  /// Rows `next()` may step over to reach the next entity before a seek is cheaper.
  static let maxSkipSteps = 48

  /// If the cursor is valid and before `prefix`, steps forward (at most `maxSteps` times) until it is at
  /// or after `prefix`: then it is on the entity's first row, or past the entity if it has none. Returns
  /// whether that position was reached; false leaves the cursor anywhere before it (the caller seeks).
  static func skipForward(_ cursor: any StorageCursor, to prefix: [UInt8], maxSteps: Int) -> Bool {
    guard cursor.isValid, cursor.withKey({ precedes($0, prefix) }) else { return false }
    for _ in 0..<maxSteps {
      cursor.next()
      guard cursor.isValid else { return false }
      if !cursor.withKey({ precedes($0, prefix) }) { return true }
    }
    return false
  }

  /// Copies the cursor's current key and value into `key` and `value`, reusing their storage.
  @inline(__always)
  static func copyCurrent(_ cursor: any StorageCursor, key: inout [UInt8], value: inout [UInt8]) {
    key.removeAll(keepingCapacity: true)
    value.removeAll(keepingCapacity: true)
    cursor.withKey { key.append(contentsOf: $0) }
    cursor.withValue { value.append(contentsOf: $0) }
  }

  @inline(__always)
  static func hasPrefix(_ key: UnsafeRawBufferPointer, _ prefix: [UInt8]) -> Bool {
    guard key.count >= prefix.count else { return false }
    return prefix.withUnsafeBytes { p in memcmp(key.baseAddress!, p.baseAddress!, p.count) == 0 }
  }

  /// Unsigned-byte lexicographic `key < other`.
  @inline(__always)
  static func precedes(_ key: UnsafeRawBufferPointer, _ other: [UInt8]) -> Bool {
    other.withUnsafeBytes { o in
      let n = min(key.count, o.count)
      let c = n == 0 ? 0 : memcmp(key.baseAddress!, o.baseAddress!, n)
      return c < 0 || (c == 0 && key.count < o.count)
    }
  }

  static func lookupKnownAt(
    _ cursor: any StorageCursor, prefix: [UInt8], asOf: Timestamp, knownAt: Timestamp, dtypes: [DType]
  ) throws -> StoredRow? {
    cursor.seekForPrev(seekKey(prefix, asOf))
    while cursor.isValid {
      let key = cursor.key
      guard key.starts(with: prefix) else { break }
      let (_, created, _) = try KeyCodec.decodeHistoryKeySuffix(key)
      if created <= knownAt { return try decode(key, cursor.value, dtypes: dtypes) }
      cursor.prev()
    }
    try cursor.checkStatus()
    return nil
  }

  /// `prefix` followed by the greatest (event = asOf, created, sequence) suffix.
  static func seekKey(_ prefix: [UInt8], _ asOf: Timestamp) -> [UInt8] {
    var w = ByteWriter(capacity: prefix.count + 24)
    w.append(contentsOf: prefix)
    w.i64Ordered(asOf.microseconds)
    w.i64Ordered(.max)
    w.u64BE(.max)
    return w.bytes
  }

  /// The event time of a history key, read in place.
  @inline(__always)
  static func eventTime(_ key: UnsafeRawBufferPointer, prefixLength: Int) -> Int64 {
    var v: UInt64 = 0
    for i in prefixLength..<(prefixLength + 8) { v = v << 8 | UInt64(key[i]) }
    return Int64(bitPattern: v ^ (1 << 63))
  }

  static func decode(_ key: [UInt8], _ value: [UInt8], dtypes: [DType]) throws -> StoredRow {
    let (event, created, seq) = try KeyCodec.decodeHistoryKeySuffix(key)
    return StoredRow(eventTime: event, createdTime: created, sequence: seq, values: try RowCodec.decode(value, dtypes: dtypes))
  }
}
