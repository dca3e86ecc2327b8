import Synchronization
public import StrataCore

/// The created time and write ids a batch with an idempotency key was given the first time this
/// node accepted it. Every retry of the batch is stored with exactly these, so its rows have the same
/// history keys as the first attempt's and storage keeps each once (on every replica, also for the
/// parts of a failed attempt that some replicas stored or that hints deliver later).
public struct IdempotencyStamp: Sendable, Equatable {
  /// The created time of the batch's rows that carry none.
  public var createdTime: Timestamp
  /// The first of the batch's write ids; row i has `WriteID.run(from: firstWriteID, count:)[i]`.
  public var firstWriteID: WriteID
  public var count: Int

  public var writeIDs: [WriteID] { WriteID.run(from: firstWriteID, count: count) }

  public init(createdTime: Timestamp, firstWriteID: WriteID, count: Int) {
    self.createdTime = createdTime
    self.firstWriteID = firstWriteID
    self.count = count
  }
}

/// What to do with a batch that carries an idempotency key.
public enum IdempotencyClaim: Sendable, Equatable {
  /// Store it with this stamp: its first attempt, or a retry of one that did not finish. The caller
  /// must call `complete` after the batch is acknowledged, or `release` when it failed.
  case apply(IdempotencyStamp)
  /// A batch with this key and the same content was acknowledged before, with these counts: write
  /// nothing, answer as a duplicate.
  case applied(IdempotencyStamp, eventsWritten: UInt64, lateEvents: UInt64)
}

/// The idempotency keys of event batches this node accepted in the last `retention`, persisted in
/// the catalog keyspace (they survive restarts).
///
/// A record holds the key's content digest, the stamp (created time, first write id, row count) and,
/// once the batch was acknowledged, its counts. The same key with another digest is refused. A key
/// is applied by one call at a time: a second call with a key in flight is refused UNAVAILABLE (retry
/// once the first answers). Records older than `retention` are deleted a few at a time on later
/// claims; a batch resent after that is applied again.
///
/// Keys are this node's own: a retry must go to the node that took the first attempt (the SDKs push
/// each call to one node). Sent to another node, a batch is applied again (its events then stored
/// twice, with different write ids). A cluster whose metadata is in etcd keeps its keys there instead
/// (`IdempotencyKeys`, `EtcdIdempotencyKeys`), shared by every node.
public final class IdempotencyLedger: Sendable {
  let shard: LocalShard
  public let retentionMicros: Int64
  private let inFlight = IdempotencyKeysInFlight()

  public static let maxKeyBytes = 128
  static let recordPrefix = Array("idem/k/".utf8)
  static let expiryPrefix = Array("idem/t/".utf8)
  /// Expired records deleted per claim at most.
  static let expiryBatch = 64

  public init(shard: LocalShard, retentionMicros: Int64 = 86_400_000_000) {
    self.shard = shard
    self.retentionMicros = retentionMicros
  }

  /// Claims `key` for a batch of `count` rows with content digest `digest`, at `now`.
  /// INVALID_ARGUMENT for a key over 128 bytes; FAILED_PRECONDITION when the key was used for other
  /// content; UNAVAILABLE while another call applies the same key.
  public func claim(key: String, digest: UInt64, count: Int, now: Timestamp) throws -> IdempotencyClaim {
    try inFlight.take(key)
    do {
      try expire(now: now)
      let recordKey = Self.recordPrefix + Array(key.utf8)
      if let bytes = try shard.engine.get(recordKey, in: .catalog) {
        let claim = try IdempotencyRecord(decoding: bytes).claim(key: key, digest: digest, count: count)
        if case .applied = claim { inFlight.release(key) }
        return claim
      }
      var stamp: IdempotencyStamp?
      _ = try shard.reserveWriteIDs(max(count, 1), now: now) { first in
        let s = IdempotencyStamp(createdTime: now, firstWriteID: first, count: count)
        stamp = s
        var batch = WriteBatch()
        batch.put(recordKey, IdempotencyRecord(digest: digest, stamp: s, recordedAt: now, done: nil).encoded, in: .catalog)
        batch.put(Self.expiryKey(now, key), [], in: .catalog)
        return batch
      }
      return .apply(stamp!)
    } catch {
      inFlight.release(key)
      throw error
    }
  }

  /// Records that the batch claimed with `key` was acknowledged with these counts, and ends the claim.
  public func complete(key: String, eventsWritten: UInt64, lateEvents: UInt64) throws {
    defer { inFlight.release(key) }
    let recordKey = Self.recordPrefix + Array(key.utf8)
    guard let bytes = try shard.engine.get(recordKey, in: .catalog) else { return }
    var record = try IdempotencyRecord(decoding: bytes)
    record.done = (eventsWritten, lateEvents)
    var batch = WriteBatch()
    batch.put(recordKey, record.encoded, in: .catalog)
    try shard.engine.write(batch)
  }

  /// Ends a claim whose batch failed; its record stays, so a retry reuses the stamp.
  public func release(key: String) {
    inFlight.release(key)
  }

  /// Deletes up to `expiryBatch` records recorded before `now - retention`.
  private func expire(now: Timestamp) throws {
    let cutoff = now.subtracting(microseconds: retentionMicros)
    let cursor = try shard.engine.makeCursor(in: .catalog)
    cursor.seek(Self.expiryPrefix)
    var batch = WriteBatch()
    var deleted = 0
    while cursor.isValid, deleted < Self.expiryBatch {
      let key = cursor.key
      guard key.starts(with: Self.expiryPrefix) else { break }
      var r = ByteReader(key, offset: Self.expiryPrefix.count)
      guard let at = try? r.i64Ordered() else { throw StrataError.internalError("corrupt idempotency expiry entry") }
      if at >= cutoff.microseconds { break }
      batch.delete(key, in: .catalog)
      batch.delete(Self.recordPrefix + Array(key[(Self.expiryPrefix.count + 8)...]), in: .catalog)
      deleted += 1
      cursor.next()
    }
    try cursor.checkStatus()
    if deleted > 0 { try shard.engine.write(batch) }
  }

  static func expiryKey(_ at: Timestamp, _ key: String) -> [UInt8] {
    var w = ByteWriter(capacity: expiryPrefix.count + 8 + key.utf8.count)
    w.append(contentsOf: expiryPrefix)
    w.i64Ordered(at.microseconds)
    w.append(contentsOf: key.utf8)
    return w.bytes
  }
}

/// What is recorded for an idempotency key, in the node's catalog (`IdempotencyLedger`) or in etcd
/// (`EtcdIdempotencyKeys`): the batch's content digest, its stamp, when it was recorded and, once the
/// batch was acknowledged, its counts. Bytes: digest u64, created i64, first write id u64, count u32,
/// recorded i64, then done u8 (0/1) and, when 1, events u64 and late u64.
public struct IdempotencyRecord: Sendable {
  public var digest: UInt64
  public var stamp: IdempotencyStamp
  public var recordedAt: Timestamp
  public var done: (events: UInt64, late: UInt64)?

  public var encoded: [UInt8] {
    var w = ByteWriter(capacity: 53)
    w.u64BE(digest)
    w.i64Ordered(stamp.createdTime.microseconds)
    w.u64BE(stamp.firstWriteID.rawValue)
    w.u32BE(UInt32(stamp.count))
    w.i64Ordered(recordedAt.microseconds)
    if let done {
      w.u8(1)
      w.u64BE(done.events)
      w.u64BE(done.late)
    } else {
      w.u8(0)
    }
    return w.bytes
  }

  public init(digest: UInt64, stamp: IdempotencyStamp, recordedAt: Timestamp, done: (events: UInt64, late: UInt64)?) {
    self.digest = digest
    self.stamp = stamp
    self.recordedAt = recordedAt
    self.done = done
  }

  public init(decoding bytes: [UInt8]) throws {
    var r = ByteReader(bytes)
    do {
      digest = try r.u64BE()
      let created = try r.i64Ordered()
      let first = try r.u64BE()
      let count = try r.u32BE()
      stamp = IdempotencyStamp(createdTime: Timestamp(microseconds: created), firstWriteID: WriteID(rawValue: first), count: Int(count))
      recordedAt = Timestamp(microseconds: try r.i64Ordered())
      done = try r.u8() == 1 ? (try r.u64BE(), try r.u64BE()) : nil
    } catch {
      throw StrataError.internalError("corrupt idempotency record in the catalog")
    }
  }

  /// What a claim of `key` for a batch with `digest` and `count` rows gets from this record: the same
  /// content applied before answers `.applied` with its counts, claimed before but not acknowledged
  /// `.apply` with the same stamp; other content is FAILED_PRECONDITION.
  public func claim(key: String, digest: UInt64, count: Int) throws(StrataError) -> IdempotencyClaim {
    guard self.digest == digest, stamp.count == count else {
      throw StrataError.failedPrecondition(
        "idempotency key '\(key.prefix(64))' was used at \(recordedAt) for a batch with other events; a retry must resend the same batch, and new events need a new key")
    }
    if let done { return .applied(stamp, eventsWritten: done.events, lateEvents: done.late) }
    return .apply(stamp)
  }
}
