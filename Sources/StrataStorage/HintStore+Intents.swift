internal import StrataCore
internal import Synchronization

/// A write intent as stored: what a coordinator was sending to replicas when its process stopped.
public struct WriteIntentRecord: Sendable, Equatable {
  /// Identifies the intent in its store (`HintStore.removeIntent`).
  public let sequence: UInt64
  /// The bytes given to `HintStore.writeIntent`.
  public let payload: [UInt8]

  public init(sequence: UInt64, payload: [UInt8]) {
    self.sequence = sequence
    self.payload = payload
  }
}

/// Write intents: a coordinator stores each write it is about to send to other replicas (an opaque
/// payload: the rows and which node gets which) before it sends it, and removes it once every replica
/// answered or got a hint. A process killed in between leaves the intent stored; the next process
/// finds it (`takeIntentsFromBefore`), keeps its parts as hints and removes it, so that a write that
/// reached some replicas reaches the others too, even though no replica failed while the old process
/// lived to see it.
///
/// Stored form: key `u16be(0) u8(1) u64be(sequence)` (after the next-sequence key, before every node's
/// range: node ids are never empty), value the payload. Like hints, an intent is in the write-ahead log
/// when `writeIntent` returns (survives kill -9; a machine crash only when the engine fsyncs).
extension HintStore {
  static let intentPrefix: [UInt8] = [0, 0, 1]

  static func intentKey(_ sequence: UInt64) -> [UInt8] {
    var w = ByteWriter(capacity: intentPrefix.count + 8)
    w.append(contentsOf: intentPrefix)
    w.u64BE(sequence)
    return w.bytes
  }

  static func decodeIntentKey(_ key: UnsafeRawBufferPointer) throws -> UInt64 {
    guard key.count == intentPrefix.count + 8 else {
      throw StrataError.internalError("a stored write intent key does not decode (\(key.count) bytes): data corruption or a bug")
    }
    return key[intentPrefix.count...].reduce(0) { $0 << 8 | UInt64($1) }
  }

  /// Stores `payload` as a write intent. Blocks on disk.
  /// - Returns: its sequence, for `removeIntent`.
  /// - Throws: the engine's error (then nothing was stored).
  public func writeIntent(_ payload: [UInt8]) throws -> UInt64 {
    let sequence = nextIntent.wrappingAdd(1, ordering: .relaxed).oldValue
    var batch = WriteBatch()
    batch.put(Self.intentKey(sequence), payload, in: .hints)
    try engine.write(batch)
    return sequence
  }

  /// Deletes the intents `sequences` (those not stored are ignored). Blocks on disk.
  public func removeIntents(_ sequences: [UInt64]) throws {
    if sequences.isEmpty { return }
    var batch = WriteBatch()
    for sequence in sequences { batch.delete(Self.intentKey(sequence), in: .hints) }
    try engine.write(batch)
  }

  /// The intents stored when this store was opened (left by a process that stopped before it removed
  /// them), in sequence order; later calls return none. They stay stored until `removeIntents`.
  public func takeIntentsFromBefore() -> [WriteIntentRecord] {
    intentsFromBefore.withLock { intents in
      defer { intents = [] }
      return intents
    }
  }
}
