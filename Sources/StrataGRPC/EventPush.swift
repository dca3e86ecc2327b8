import GRPCCore
import StrataCore
import StrataProto
import StrataStorage
import SwiftProtobuf

/// What single nodes and cluster coordinators share to answer `PushEvents`: the batch as a write of
/// events, its content digest, and the idempotent application of a batch that carries a key.
enum EventPush {
  /// The batch as the write batch it stores (the stream is the group, its fields the features).
  static func writeRequest(_ message: Strata_V1_PushEventsRequest) -> Strata_V1_WriteFeaturesRequest {
    .with {
      $0.group = message.stream
      $0.version = message.version
      $0.features = message.fields
      $0.rows = message.events
      $0.consistency = message.consistency
      if message.hasWriter { $0.writer = message.writer }
    }
  }

  /// FNV-1a (64 bits) of the batch's content: stream, version, fields and events as serialized
  /// (deterministically), without the key, the consistency and the writer (a rerun of a push by
  /// another run of its pipeline is the same batch; the write log keeps the first application's
  /// writer). Stable across processes and restarts.
  static func digest(_ message: Strata_V1_PushEventsRequest) throws -> UInt64 {
    var content = message
    content.idempotencyKey = ""
    content.consistency = .default
    content.clearWriter()
    var options = BinaryEncodingOptions()
    options.useDeterministicOrdering = true
    let bytes: [UInt8] = try content.serializedBytes(options: options)
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes {
      hash ^= UInt64(b)
      hash = hash &* 0x100_0000_01b3
    }
    return hash
  }

  /// A batch checked before it is applied: the write it stores and, when it carries an idempotency
  /// key, its content digest (`prepare`).
  struct Prepared: Sendable {
    var message: Strata_V1_PushEventsRequest
    var write: Strata_V1_WriteFeaturesRequest
    var digest: UInt64?
    /// The batch validated for this node's store (`prepare` with `local`).
    var validated: ValidatedWrite?
  }

  /// The checks of `apply` that need no writer: a batch with a key is validated whole (a batch the
  /// store refuses never claims its key, so the corrected batch can be sent with the same key) and
  /// digested. With `local` (a single node, which stores the batch itself) every batch is validated,
  /// keyed or not, and kept validated (`FeatureStore.prevalidate`): the writer then only appends it.
  /// Throws what validation throws.
  static func prepare(_ message: Strata_V1_PushEventsRequest, store: FeatureStore, local: Bool = false) throws -> Prepared {
    let write = writeRequest(message)
    guard local || !message.idempotencyKey.isEmpty else { return Prepared(message: message, write: write, digest: nil) }
    var request = WriteRequest(proto: write)
    request.events = true
    if local {
      let validated = try store.prevalidate(request)
      let digest = message.idempotencyKey.isEmpty ? nil : try digest(message)
      return Prepared(message: message, write: write, digest: digest, validated: validated)
    }
    _ = try store.validate(request, now: store.now)
    return Prepared(message: message, write: write, digest: try digest(message))
  }

  /// Queues one batch that `prepare` validated for this node's store (`local`) on the writer thread,
  /// behind the call's earlier batches (`FeatureStore.submit`): the append, and with a key the claim
  /// and the completion in this node's ledger, in one job. `LocalPush.answer` waits for it and makes
  /// the same answer as `apply` with `StoreIdempotencyKeys`.
  static func submitLocally(_ batch: Prepared, store: FeatureStore, chain: WriteChain) throws -> LocalPush {
    guard let validated = batch.validated else {
      throw StrataError.internalError("an event batch applied locally was not validated for this node")
    }
    let key = batch.digest.map { (batch.message.idempotencyKey, $0) }
    return LocalPush(key: batch.message.idempotencyKey, pending: store.submit(validated, key: key, chain: chain))
  }

  /// A batch queued on this node's writer (`submitLocally`).
  struct LocalPush: Sendable {
    var key: String
    var pending: PendingWrite<FeatureStore.KeyedWriteOutcome>

    /// The batch's answer, once stored.
    func answer() async throws -> Strata_V1_PushEventsResponse {
      var answer = Strata_V1_PushEventsResponse()
      answer.idempotencyKey = key
      switch try await pending.value() {
      case .written(let outcome):
        answer.eventsWritten = UInt64(outcome.rowsWritten)
        answer.lateEvents = UInt64(outcome.lateRows)
      case .duplicate(let written, let late):
        answer.eventsWritten = written
        answer.lateEvents = late
        answer.duplicate = true
      }
      return answer
    }
  }

  /// Applies one batch `prepare` checked with `write` (given the stamp its key fixed in `keys`, or nil
  /// without a key) and makes its answer. A key already applied with the same content writes nothing
  /// and answers `duplicate` with the first application's counts; a failed write leaves the key's
  /// stamp for the retry.
  static func apply(
    _ batch: Prepared, keys: any IdempotencyKeys, write: (IdempotencyStamp?) async throws -> (written: UInt64, late: UInt64)
  ) async throws -> Strata_V1_PushEventsResponse {
    var answer = Strata_V1_PushEventsResponse()
    answer.idempotencyKey = batch.message.idempotencyKey
    guard let digest = batch.digest else {
      (answer.eventsWritten, answer.lateEvents) = try await write(nil)
      return answer
    }
    let key = batch.message.idempotencyKey
    switch try await keys.claim(key: key, digest: digest, count: batch.message.events.count) {
    case .applied(_, let written, let late):
      answer.eventsWritten = written
      answer.lateEvents = late
      answer.duplicate = true
    case .apply(let stamp):
      do {
        (answer.eventsWritten, answer.lateEvents) = try await write(stamp)
      } catch {
        keys.release(key: key)
        throw error
      }
      try await keys.complete(key: key, eventsWritten: answer.eventsWritten, lateEvents: answer.lateEvents)
    }
    return answer
  }
}
