public import StrataCore

/// A client's write batch validated ahead of its write, off the writer thread (`FeatureStore.prevalidate`),
/// so that the writer, which stores batches one after the other, only appends it. It stays valid
/// while the registry does not change: `FeatureStore.write(_:stamp:)` validates the request again on
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
  /// Validates a client's batch now, on the calling thread (`validate`), for `write(_:stamp:)`.
  /// Throws what `validate` throws.
  public func prevalidate(_ request: WriteRequest) throws(StrataError) -> ValidatedWrite {
    let generation = registry.generation
    let (group, rows) = try validate(request, now: now)
    return ValidatedWrite(
      request: request, group: group, rows: rows, generation: generation,
      unstamped: request.rows.indices.filter { request.rows[$0].createdTime == nil })
  }

  /// Appends a prevalidated client batch on the writer thread, as `write(stamp:decoding:)` would: the
  /// same answer, the same rows stored, the same write log entry. `stamp`: the created time (for the
  /// rows that carried none) and write ids its idempotency key fixed.
  public func write(_ batch: ValidatedWrite, stamp: IdempotencyStamp? = nil) async throws -> AppendOutcome {
    if let stamp, stamp.count != batch.count {
      throw StrataError.internalError("an idempotency stamp for \(stamp.count) rows given to a batch of \(batch.count)")
    }
    let clock = self.clock
    let result = try await executor.write { () throws -> (AppendOutcome, FeatureGroup)? in
      // The registry moved since the batch was validated: validate it again, as sent.
      guard self.registry.generation == batch.generation else { return nil }
      var rows = batch.rows
      if let stamp {
        for i in batch.unstamped { rows[i].createdTime = stamp.createdTime }
        for (i, id) in stamp.writeIDs.enumerated() { rows[i].writeID = id }
      }
      return (try self.append(rows, to: batch.group, writer: batch.request.writer, now: clock(), logged: true), batch.group)
    }
    guard let (outcome, group) = result else {
      let request = batch.request
      return try await write(stamp: stamp) { request }
    }
    finishWrite(outcome, group: group)
    return outcome
  }
}
