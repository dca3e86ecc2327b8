public import StrataCore

/// An order-independent summary of a set of history rows, comparable between replicas: how many rows
/// there are and the wrapping sum of each row's `rowHash`.
///
/// Two replicas that hold the same rows of a (bucket, group version) have equal digests, whatever
/// order the rows were written in and whatever local storage id the group version has on each node.
/// Unequal digests mean the sets differ (a row missing on one side, or, never in normal operation, one
/// history key with other values); equal digests of different sets need a 64-bit hash collision of the
/// sums.
///
/// A row's hash covers its logical content: the entity id, event time, created time, write id and the
/// encoded values (`RowCodec`, deterministic for the same values and schema). It leaves out the group
/// version's storage id, which is local to each node. The hash is FNV-1a (64-bit) over
/// `token:u64be idLength:u16be id event:i64 created:i64 writeID:u64be` (the history key without its
/// group version) followed by the value bytes, then the MurmurHash3 `fmix64` finalizer. It is part of
/// the internode protocol: every node of a cluster must compute the same one.
public struct HistoryDigest: Hashable, Sendable, CustomStringConvertible {
  /// Rows summarized.
  public var rows: UInt64
  /// Wrapping sum of the rows' hashes.
  public var sum: UInt64

  public init(rows: UInt64 = 0, sum: UInt64 = 0) {
    self.rows = rows
    self.sum = sum
  }

  /// Adds one row, given its hash.
  @inlinable
  public mutating func add(hash: UInt64) {
    rows &+= 1
    sum &+= hash
  }

  /// The digest of the union of two disjoint sets.
  public static func + (lhs: HistoryDigest, rhs: HistoryDigest) -> HistoryDigest {
    HistoryDigest(rows: lhs.rows &+ rhs.rows, sum: lhs.sum &+ rhs.sum)
  }

  public var description: String { "\(rows) rows, sum \(String(sum, radix: 16))" }

  /// Number of buckets the token space is split into: bucket b holds the tokens whose top byte is b,
  /// which is the history keys whose first byte is b (one contiguous key range).
  public static let bucketCount = 256

  /// The bucket of a ring token (its top 8 bits).
  @inlinable
  public static func bucket(ofToken token: UInt64) -> Int { Int(token >> 56) }

  /// The hash of a history entry (key and value bytes as stored). The key's 4 group-version bytes, just
  /// before its 24-byte (event, created, write id) suffix, are skipped.
  public static func rowHash(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> UInt64 {
    let gvStart = key.count - 28
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    @inline(__always) func mix(_ bytes: UnsafeRawBufferPointer) {
      for byte in bytes {
        h ^= UInt64(byte)
        h = h &* 0x0000_0100_0000_01b3
      }
    }
    mix(UnsafeRawBufferPointer(rebasing: key[0..<gvStart]))
    mix(UnsafeRawBufferPointer(rebasing: key[(gvStart + 4)...]))
    mix(value)
    h ^= h >> 33
    h = h &* 0xff51_afd7_ed55_8ccd
    h ^= h >> 33
    h = h &* 0xc4ce_b9fe_1a85_ec53
    h ^= h >> 33
    return h
  }

  /// `rowHash` of a row given by its parts (what a replica that stores it hashes).
  public static func rowHash(
    entityID: String, eventTime: Timestamp, createdTime: Timestamp, writeID: UInt64, encodedValues: [UInt8]
  ) -> UInt64 {
    let key = KeyCodec.historyKey(
      entityID: entityID, groupVersion: 0, eventTime: eventTime, createdTime: createdTime, sequence: writeID)
    return key.withUnsafeBytes { k in encodedValues.withUnsafeBytes { v in rowHash(key: k, value: v) } }
  }
}
