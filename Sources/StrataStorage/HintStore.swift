internal import StrataCore
internal import Synchronization

/// The durable queue of hints a coordinator keeps, per target node, in the engine's `hints` keyspace:
/// writes a replica did not acknowledge, to be delivered again once it answers (hinted hand-off).
///
/// Semantics:
/// - Each node's hints form one contiguous key range (`node` length-prefixed, then the big-endian
///   sequence of the hint id), so `next` returns them in append order, and node ids that are prefixes
///   of each other ("n1", "n10") never mix.
/// - `append` and `remove` return only once the engine wrote them (durable like every write of the
///   engine: in the write-ahead log, so a killed process (kill -9) loses nothing; a machine crash
///   loses nothing only when the engine fsyncs writes). A hint stays until `remove`
///   names it: nothing here drops hints on its own (no expiry, no size cap).
/// - `pending` and `nodesWithHints` read counters kept in memory, exact for what this store wrote and
///   removed; `init` rebuilds them (and the next id) with one scan of the keyspace. Ids never repeat:
///   each removal also stores the next sequence, under a key no node's range contains.
/// - Appends are serialized with removals: ids grow in the order appends become visible, so a reader
///   never sees a hint while an earlier one of the same node is still being written.
///
/// The same keyspace holds the coordinator's write intents (`writeIntent`, in HintStore+Intents.swift):
/// writes being sent to replicas, which a process killed meanwhile turns into hints when it starts
/// again.
///
/// `init`, `append`, `next` and `remove` block on disk: call them off Swift's cooperative pool (for
/// example through `BlockingExecutor`). `pending`, `pendingByNode` and `nodesWithHints` only read
/// memory.
///
/// ```swift
/// let hints = try HintStore(engine: engine)
/// let id = try hints.append(node: "n2", payload: batchBytes, rows: 120)
/// for hint in try hints.next(node: "n2", limit: 64) { /* deliver hint.payload, then: */ }
/// try hints.remove(node: "n2", ids: [id])
/// ```
public final class HintStore: Sendable {
  let engine: any StorageEngine
  private let state: Mutex<State>
  /// Serializes appends and removals (held over their disk write; `state` never is).
  private let writeLock = Mutex(())
  /// The sequence of the next write intent (`writeIntent`).
  let nextIntent: Atomic<UInt64>
  /// The intents found when the store was opened, until `takeIntentsFromBefore`.
  let intentsFromBefore: Mutex<[WriteIntentRecord]>

  struct State {
    /// The sequence of the next appended hint.
    var nextSequence: UInt64
    var nodes: [String: NodeState] = [:]
  }

  struct NodeState {
    var count = HintCount.zero
    /// No hint of this node with a smaller sequence exists: `next` seeks here instead of at the start
    /// of the node's range, so it does not step over the tombstones of hints removed earlier.
    var seekFrom: UInt64 = 0
  }

  /// Opens the store over `engine`, rebuilding the counters and the next id with one scan of the
  /// `hints` keyspace.
  /// - Throws: `StrataError` `.internalError` when a stored key or value does not decode, or the
  ///   engine fails.
  public init(engine: any StorageEngine) throws {
    self.engine = engine
    var recovered = State(nextSequence: 1)
    let cursor = try engine.makeCursor(in: .hints)
    cursor.seek([])
    if cursor.isValid, cursor.withKey({ $0.elementsEqual(Self.nextSequenceKey) }) {
      recovered.nextSequence = max(recovered.nextSequence, try cursor.withValue { try Self.decodeSequence($0) })
      cursor.next()
    }
    // Write intents sort after the next sequence and before every node's range.
    var intents: [WriteIntentRecord] = []
    while cursor.isValid, cursor.withKey({ Self.hasPrefix($0, Self.intentPrefix) }) {
      let sequence = try cursor.withKey { try Self.decodeIntentKey($0) }
      intents.append(WriteIntentRecord(sequence: sequence, payload: cursor.value))
      cursor.next()
    }
    while cursor.isValid {
      let (node, sequence) = try cursor.withKey { try Self.decodeKey($0) }
      let rows = try cursor.withValue { try Self.decodeRows($0) }
      recovered.nodes[node, default: NodeState(seekFrom: sequence)].count.add(rows: rows)
      recovered.nextSequence = max(recovered.nextSequence, sequence + 1)
      cursor.next()
    }
    try cursor.checkStatus()
    state = Mutex(recovered)
    nextIntent = Atomic((intents.last?.sequence ?? 0) + 1)
    intentsFromBefore = Mutex(intents)
  }

  /// Stores `payload` (which carries `rows` rows) for `node`, after every hint already stored.
  /// - Returns: the new hint's id, greater than every id this store returned before.
  /// - Throws: `StrataError` `.invalidArgument` for an empty node id, one over 65,535 UTF-8 bytes or
  ///   negative `rows`; the engine's error if the write fails (then nothing was stored).
  public func append(node: String, payload: [UInt8], rows: Int) throws -> Hint.ID {
    let prefix = try Self.nodePrefix(node)
    guard rows >= 0 else { throw StrataError.invalidArgument("a hint cannot carry \(rows) rows") }
    return try writeLock.withLock { _ in
      let sequence = state.withLock { $0.nextSequence }
      var batch = WriteBatch()
      batch.put(Self.key(prefix, sequence), Self.encodeValue(rows: rows, payload: payload), in: .hints)
      try engine.write(batch)
      state.withLock { state in
        state.nextSequence = sequence + 1
        state.nodes[node, default: NodeState(seekFrom: sequence)].count.add(rows: rows)
      }
      return Hint.ID(sequence: sequence)
    }
  }

  /// The hints and rows stored for `node` (`.zero` when none).
  public func pending(node: String) -> HintCount {
    state.withLock { $0.nodes[node]?.count ?? .zero }
  }

  /// What is stored per node, for the nodes with at least one hint.
  public var pendingByNode: [String: HintCount] {
    state.withLock { state in state.nodes.compactMapValues { $0.count.hints > 0 ? $0.count : nil } }
  }

  /// The nodes with at least one hint, sorted.
  public var nodesWithHints: [String] {
    state.withLock { state in state.nodes.filter { $0.value.count.hints > 0 }.keys.sorted() }
  }

  /// The oldest hints of `node`, in append order: at most `limit` of them, and no more once their
  /// payloads add up to `maxBytes` or more (the first one is returned whatever its size). Empty when
  /// the node has none. Reads a snapshot: hints appended meanwhile come in a later call.
  /// - Throws: `StrataError` `.invalidArgument` for a bad node id (see `append`) or `limit < 1`;
  ///   `.internalError` when a stored hint does not decode or the engine fails.
  public func next(node: String, limit: Int, maxBytes: Int = .max) throws -> [Hint] {
    let prefix = try Self.nodePrefix(node)
    guard limit >= 1 else { throw StrataError.invalidArgument("a hint read needs a limit of at least 1, not \(limit)") }
    let seekFrom = state.withLock { $0.nodes[node]?.seekFrom }
    guard let seekFrom else { return [] }  // never had a hint
    let cursor = try engine.makeCursor(in: .hints)
    cursor.seek(Self.key(prefix, seekFrom))
    var hints: [Hint] = []
    var bytes = 0
    while cursor.isValid, hints.count < limit, hints.isEmpty || bytes < maxBytes, cursor.withKey({ Self.hasPrefix($0, prefix) }) {
      let (_, sequence) = try cursor.withKey { try Self.decodeKey($0) }
      let (rows, payload) = try Self.decodeValue(cursor.value)
      hints.append(Hint(id: Hint.ID(sequence: sequence), node: node, rows: rows, payload: payload))
      bytes += payload.count
      cursor.next()
    }
    try cursor.checkStatus()
    if let first = hints.first {
      // Nothing of this node below `first` existed in the snapshot, and appends made since have
      // greater sequences: the seek can start there from now on.
      state.withLock { state in
        if let current = state.nodes[node]?.seekFrom, current < first.id.sequence {
          state.nodes[node]?.seekFrom = first.id.sequence
        }
      }
    }
    return hints
  }

  /// Deletes the hints `ids` of `node`, durably, in one write. Ids that are not stored (already
  /// removed, or another node's) are ignored, so removing twice is harmless.
  /// - Throws: `StrataError` `.invalidArgument` for a bad node id; the engine's error if the write
  ///   fails (then nothing was removed).
  public func remove(node: String, ids: [Hint.ID]) throws {
    let prefix = try Self.nodePrefix(node)
    if ids.isEmpty { return }
    try writeLock.withLock { _ in
      // The row counts of the hints that exist, read without copying their payloads.
      let cursor = try engine.makeCursor(in: .hints)
      var batch = WriteBatch()
      var removed = HintCount.zero
      var removedSequences: Set<UInt64> = []
      for id in Set(ids).sorted() {
        let key = Self.key(prefix, id.sequence)
        cursor.seek(key)
        guard cursor.isValid, cursor.withKey({ $0.elementsEqual(key) }) else { continue }
        removed.add(rows: try cursor.withValue { try Self.decodeRows($0) })
        removedSequences.insert(id.sequence)
        batch.delete(key, in: .hints)
      }
      try cursor.checkStatus()
      if batch.isEmpty { return }
      // The ids removed here cannot be recovered from their keys any more: keep the next sequence.
      batch.put(Self.nextSequenceKey, Self.encodeSequence(state.withLock { $0.nextSequence }), in: .hints)
      try engine.write(batch)
      state.withLock { state in
        guard var entry = state.nodes[node] else { return }
        entry.count.hints -= removed.hints
        entry.count.rows -= removed.rows
        if entry.count.hints == 0 {
          // Every hint below the next sequence is gone.
          entry.seekFrom = state.nextSequence
        } else if removedSequences.contains(entry.seekFrom) {
          entry.seekFrom += 1
        }
        state.nodes[node] = entry
      }
    }
  }
}

extension HintCount {
  mutating func add(rows: Int) {
    hints += 1
    self.rows += rows
  }
}
