public import StrataCore

// Anti-entropy repair reads: per-bucket digests and the rows of one (bucket, group version). Both
// scan one bucket's contiguous key range of the history keyspace on a snapshot (writes go on), and
// block: call them off the cooperative pool (`FeatureStore.digests`, `FeatureStore.bucketRows`).

extension LocalShard {
  /// Per group version, the digest of the history rows in `bucket` whose entity's token passes
  /// `including` (evaluated once per entity). `groups` maps storage ids to the versions to digest;
  /// rows of other storage ids are skipped. One scan of the bucket's key range.
  public func digests(
    bucket: Int, groups: [UInt32: FeatureGroup], including: (UInt64) -> Bool
  ) throws -> [BucketGroup: HistoryDigest] {
    precondition((0..<HistoryDigest.bucketCount).contains(bucket), "bucket \(bucket) out of range")
    let cursor = try engine.makeCursor(in: .history)
    let first = UInt8(bucket)
    var sums: [UInt32: HistoryDigest] = [:]
    var lastToken: UInt64?
    var included = false
    cursor.seek([first])
    while cursor.isValid {
      let inBucket = cursor.withKey { key -> Bool in
        guard key.count >= 38, key[0] == first else { return false }
        let token = Self.u64BE(key, at: 0)
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
      guard inBucket else { break }
      cursor.next()
    }
    try cursor.checkStatus()
    var out: [BucketGroup: HistoryDigest] = [:]
    for (sid, digest) in sums {
      let g = groups[sid]!
      out[BucketGroup(bucket: bucket, group: g.name, version: g.version)] = digest
    }
    return out
  }

  /// At most `limit` history rows of `group` in `bucket` whose entity's token passes `including`, in
  /// history key order, starting after the history key `after` (nil: at the bucket's start).
  public func bucketRows(
    bucket: Int, group: FeatureGroup, including: (UInt64) -> Bool, after: [UInt8]?, limit: Int
  ) throws -> BucketRowsPage {
    precondition((0..<HistoryDigest.bucketCount).contains(bucket) && limit > 0)
    let cursor = try engine.makeCursor(in: .history)
    let first = UInt8(bucket)
    let sid = group.storageID
    let dtypes = group.dtypes
    var rows: [BucketRow] = []
    var lastToken: UInt64?
    var included = false
    if let after {
      cursor.seek(after)
      if cursor.isValid && cursor.key == after { cursor.next() }
    } else {
      cursor.seek([first])
    }
    while cursor.isValid {
      let (inBucket, mine) = cursor.withKey { key -> (Bool, Bool) in
        guard key.count >= 38, key[0] == first else { return (false, false) }
        let token = Self.u64BE(key, at: 0)
        if token != lastToken {
          lastToken = token
          included = including(token)
        }
        return (true, included && Self.u32BE(key, at: key.count - 28) == sid)
      }
      guard inBucket else { break }
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
    try cursor.checkStatus()
    return BucketRowsPage(rows: rows, resumeAfter: nil)
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
