public import StrataCore

// Anti-entropy repair reads: per-bucket digests and the rows of one (bucket, group version). Both
// scan one bucket's contiguous key range of the history keyspace (history keys start with the entity's
// token, big-endian, so a bucket is the tokens with one top byte), or only its parts in given token
// ranges, on a snapshot (writes go on), and block: call them off the cooperative pool
// (`FeatureStore.digests`, `FeatureStore.bucketRows`).

extension LocalShard {
  /// Per group version, the digest of the history rows in `bucket` whose entity's token passes
  /// `including` (evaluated once per entity). `groups` maps storage ids to the versions to digest;
  /// rows of other storage ids are skipped. `within`: ascending, disjoint token ranges outside which
  /// `including` is false (nil: it may pass any token); the scan then seeks from range to range instead
  /// of reading the whole bucket. One scan of the bucket's key range (or of its parts in `within`).
  public func digests(
    bucket: Int, groups: [UInt32: FeatureGroup], including: (UInt64) -> Bool, within: [ClosedRange<UInt64>]? = nil
  ) throws -> [BucketGroup: HistoryDigest] {
    precondition((0..<HistoryDigest.bucketCount).contains(bucket), "bucket \(bucket) out of range")
    let cursor = try engine.makeCursor(in: .history)
    var sums: [UInt32: HistoryDigest] = [:]
    var lastToken: UInt64?
    var included = false
    for span in Self.spans(ofBucket: bucket, within: within) {
      cursor.seek(Self.tokenBytes(span.lowerBound))
      while cursor.isValid {
        let inSpan = cursor.withKey { key -> Bool in
          guard key.count >= 38 else { return false }
          let token = Self.u64BE(key, at: 0)
          guard token <= span.upperBound else { return false }
          if token != lastToken {
            lastToken = token
            included = including(token)
          }
          guard included else { return true }
          let sid = Self.u32BE(key, at: key.count - 28)
          guard groups[sid] != nil else { return true }
          let hash = cursor.withValue { value in HistoryDigest.rowHash(key: key, value: value) }
          sums[sid, default: HistoryDigest()].add(hash: hash)
          return true
        }
        guard inSpan else { break }
        cursor.next()
      }
    }
    try cursor.checkStatus()
    var out: [BucketGroup: HistoryDigest] = [:]
    for (sid, digest) in sums {
      let g = groups[sid]!
      out[BucketGroup(bucket: bucket, group: g.name, version: g.version)] = digest
    }
    return out
  }

  /// The token ranges of `bucket` a scan reads: the whole bucket, or its parts in `within`.
  static func spans(ofBucket bucket: Int, within: [ClosedRange<UInt64>]?) -> [ClosedRange<UInt64>] {
    let low = UInt64(bucket) << 56
    let whole = low...(low | (1 << 56 - 1))
    guard let within else { return [whole] }
    return within.compactMap { r in
      guard r.upperBound >= whole.lowerBound, r.lowerBound <= whole.upperBound else { return nil }
      return max(r.lowerBound, whole.lowerBound)...min(r.upperBound, whole.upperBound)
    }
  }

  /// The big-endian bytes of `token`: where its keys start in the history keyspace.
  static func tokenBytes(_ token: UInt64) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: token >> (56 - 8 * $0)) }
  }

  /// At most `limit` history rows of `group` in `bucket` whose entity's token passes `including`, in
  /// history key order, starting after the history key `after` (nil: at the bucket's start).
  /// `within`: as for `digests` (the scan seeks over the tokens outside those ranges).
  public func bucketRows(
    bucket: Int, group: FeatureGroup, including: (UInt64) -> Bool, after: [UInt8]?, limit: Int,
    within: [ClosedRange<UInt64>]? = nil
  ) throws -> BucketRowsPage {
    precondition((0..<HistoryDigest.bucketCount).contains(bucket) && limit > 0)
    let cursor = try engine.makeCursor(in: .history)
    let sid = group.storageID
    let dtypes = group.dtypes
    var rows: [BucketRow] = []
    var lastToken: UInt64?
    var included = false
    let resumeToken = after.map { Self.u64BE($0) }
    for span in Self.spans(ofBucket: bucket, within: within) {
      if let resumeToken, span.upperBound < resumeToken { continue }
      if let after, let resumeToken, span.contains(resumeToken) {
        cursor.seek(after)
        if cursor.isValid && cursor.key == after { cursor.next() }
      } else {
        cursor.seek(Self.tokenBytes(span.lowerBound))
      }
      while cursor.isValid {
        let (inSpan, mine) = cursor.withKey { key -> (Bool, Bool) in
          guard key.count >= 38 else { return (false, false) }
          let token = Self.u64BE(key, at: 0)
          guard token <= span.upperBound else { return (false, false) }
          if token != lastToken {
            lastToken = token
            included = including(token)
          }
          return (true, included && Self.u32BE(key, at: key.count - 28) == sid)
        }
        guard inSpan else { break }
        if mine {
          let key = cursor.key
          let (entityID, _) = try KeyCodec.decodeEntity(key)
          let (event, created, seq) = try KeyCodec.decodeHistoryKeySuffix(key)
          let values = try RowCodec.decode(cursor.value, dtypes: dtypes)
          rows.append(
            BucketRow(entityID: entityID, row: StoredRow(eventTime: event, createdTime: created, sequence: seq, values: values)))
          if rows.count == limit { return BucketRowsPage(rows: rows, resumeAfter: key) }
        }
        cursor.next()
      }
    }
    try cursor.checkStatus()
    return BucketRowsPage(rows: rows, resumeAfter: nil)
  }

  /// The token a history key starts with (its first 8 bytes, big-endian; zero-padded if shorter).
  static func u64BE(_ bytes: [UInt8]) -> UInt64 {
    var v: UInt64 = 0
    for k in 0..<min(8, bytes.count) { v = v << 8 | UInt64(bytes[k]) }
    return v << (8 * UInt64(8 - min(8, bytes.count)))
  }

  @inline(__always)
  static func u64BE(_ b: UnsafeRawBufferPointer, at i: Int) -> UInt64 {
    var v: UInt64 = 0
    for k in 0..<8 { v = v << 8 | UInt64(b[i + k]) }
    return v
  }

  @inline(__always)
  static func u32BE(_ b: UnsafeRawBufferPointer, at i: Int) -> UInt32 {
    var v: UInt32 = 0
    for k in 0..<4 { v = v << 8 | UInt32(b[i + k]) }
    return v
  }
}
