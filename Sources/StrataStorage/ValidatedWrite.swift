public import StrataCore

/// A client's write batch validated ahead of its write, off the writer thread (`FeatureStore.prevalidate`),
/// so that the writer, which stores batches one after the other, only appends it. It stays valid
/// while the registry does not change: `FeatureStore.submit` validates the request again on
/// the writer thread when the registry's generation moved meanwhile (a version retired, say).
public struct ValidatedWrite: Sendable {
  /// The batch as sent, for a validation again.
  public let request: WriteRequest
  let group: FeatureGroup
  let rows: [RowToStore]
  /// The registry generation `rows` were validated against.
  let generation: UInt64
  /// The rows that carried no created time (they got the validation's clock; an idempotency stamp
  /// gives them its own).
  let unstamped: [Int]

  /// The number of rows.
  public var count: Int { rows.count }
}

extension FeatureStore {
  /// Validates a client's batch now, on the calling thread (`validate`), for `submit`.
  /// Throws what `validate` throws.
  public func prevalidate(_ request: WriteRequest) throws(StrataError) -> ValidatedWrite {
    let generation = registry.generation
    let (group, rows) = try validate(request, now: now)
    return ValidatedWrite(
      request: request, group: group, rows: rows, generation: generation,
      unstamped: request.rows.indices.filter { request.rows[$0].createdTime == nil })
  }

  /// What a batch queued with `submit` came to.
  public enum KeyedWriteOutcome: Sendable, Equatable {
    /// Stored now (its first attempt, or a retry of one that did not finish).
    case written(AppendOutcome)
    /// Acknowledged before with these counts: nothing written.
    case duplicate(eventsWritten: UInt64, lateEvents: UInt64)
  }

  /// Queues a prevalidated batch on the writer thread now, behind every write queued before it, and
  /// returns what it will come to, to await later: a call that keeps several batches in flight has
  /// each stored in the order it queued them while it answers the earlier ones. With `key` (an
  /// idempotency key and the content digest) the batch is applied once through this node's ledger
  /// (`idempotency`), in the same job: the claim, the append with the claim's stamp (its created time
  /// for the rows that carried none, its write ids) and the completion (a key claimed by another
  /// call, or used for other content, throws what `IdempotencyLedger.claim` throws; a failed append
  /// ends the claim and leaves its stamp for a retry); without, it is appended as validated
  /// (`.written`). Either way the rows stored and the write log entry are those of the same batch
  /// written whole (`appendOnWriter` validates again if the registry changed). A batch queued
  /// after one of `chain` that failed (or after the chain was abandoned) is not stored: it fails
  /// with UNAVAILABLE, and the chain stays broken.
  public func submit(
    _ batch: ValidatedWrite, key: (String, UInt64)?, chain: WriteChain
  ) -> PendingWrite<KeyedWriteOutcome> {
    executor.submitWrite {
      guard !chain.isBroken else {
        throw StrataError.unavailable("not stored: an earlier batch of the same call failed, or the call ended")
      }
      do {
        return try self.applyOnWriter(batch, key: key)
      } catch {
        chain.abandon()
        throw error
      }
    }
  }

  /// On the writer thread: stores `batch`, with `key` through the ledger: the claim, the append with
  /// the claim's stamp and the completion (a failed append ends the claim and keeps its stamp for the
  /// retry); then the write's counters.
  private func applyOnWriter(_ batch: ValidatedWrite, key: (String, UInt64)?) throws -> KeyedWriteOutcome {
    guard let (key, digest) = key else {
      let (outcome, group) = try appendOnWriter(batch, stamp: nil)
      finishWrite(outcome, group: group)
      return .written(outcome)
    }
    let ledger = idempotency
    let stamp: IdempotencyStamp
    switch try ledger.claim(key: key, digest: digest, count: batch.count, now: clock()) {
    case .applied(_, let events, let late):
      return .duplicate(eventsWritten: events, lateEvents: late)
    case .apply(let s):
      stamp = s
    }
    let outcome: AppendOutcome
    let group: FeatureGroup
    do {
      (outcome, group) = try appendOnWriter(batch, stamp: stamp)
    } catch {
      ledger.release(key: key)
      throw error
    }
    try ledger.complete(key: key, eventsWritten: UInt64(outcome.rowsWritten), lateEvents: UInt64(outcome.lateRows))
    finishWrite(outcome, group: group)
    return .written(outcome)
  }

  /// On the writer thread: appends `batch` with `stamp`; validated again, as sent, when the registry
  /// moved since it was validated (a version retired, say).
  private func appendOnWriter(_ batch: ValidatedWrite, stamp: IdempotencyStamp?) throws -> (AppendOutcome, FeatureGroup) {
    if let stamp, stamp.count != batch.count {
      throw StrataError.internalError("an idempotency stamp for \(stamp.count) rows given to a batch of \(batch.count)")
    }
    let now = clock()
    guard registry.generation == batch.generation else {
      var request = batch.request
      if let stamp {
        for i in request.rows.indices where request.rows[i].createdTime == nil { request.rows[i].createdTime = stamp.createdTime }
      }
      var (group, rows) = try validate(request, now: now, writeIDs: .refuse)
      if let stamp {
        for (i, id) in stamp.writeIDs.enumerated() { rows[i].writeID = id }
      }
      return (try append(rows, to: group, writer: request.writer, now: now, logged: true), group)
    }
    var rows = batch.rows
    if let stamp {
      for i in batch.unstamped { rows[i].createdTime = stamp.createdTime }
      for (i, id) in stamp.writeIDs.enumerated() { rows[i].writeID = id }
    }
    return (try append(rows, to: batch.group, writer: batch.request.writer, now: now, logged: true), batch.group)
  }
}
