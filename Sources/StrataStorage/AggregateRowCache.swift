public import StrataCore
import Synchronization

/// Online rows of aggregate groups, each kept with the interval of request times over which it stays
/// exactly the row a fresh read would compute, so that repeated lookups of an entity cost a dictionary
/// probe instead of reading its tiles and events.
///
/// A row computed at `T` (no `knownAt`) depends only on the entity's events with event time in
/// `(T - largest window, T]`, and on which of them lie in each smaller window. With no new event
/// stored, it changes only when the clock reaches the next stored event after `T` (it enters every
/// window) or when an event leaves a window (at its event time plus the window): `AggregateRows`
/// stores the row with `until` = the earliest of those moments, and it answers any request time in
/// `[T, until)`.
///
/// New events (and deletions) change rows before `until`: the writer calls `invalidate` for the
/// entities of every stored stream batch after the batch is stored and before the write is
/// acknowledged, and `clear` after every deletion. A read that began before an invalidation must
/// not store what it computed (its snapshot may predate the write): each read calls `beginRead()`
/// before its storage snapshot and `endRead` when it stored its rows, and `store` drops a row when
/// the entity (or the whole cache) was invalidated after the read began. Invalidations are recorded
/// only while reads are in flight, and forgotten when none is.
///
/// Bounded: past `capacity` rows, or as many invalidation records, it empties itself.
public final class AggregateRowCache: Sendable {
  /// One cached row: valid for request times in `from..<until`.
  struct Entry: Sendable {
    var row: StoredRow
    var from: Timestamp
    var until: Timestamp
  }

  struct Key: Hashable, Sendable {
    var stream: UInt32
    var entityID: ExactEntityID

    init(stream: UInt32, entityID: String) {
      self.stream = stream
      self.entityID = ExactEntityID(entityID)
    }
  }

  private struct State: Sendable {
    /// stream and entity -> aggregate group version -> row.
    var rows: [Key: [UInt32: Entry]] = [:]
    var rowCount = 0
    var generation: UInt64 = 0
    /// The generation of each entity's latest invalidation (since `clearedAt`), while reads are in flight.
    var invalidated: [Key: UInt64] = [:]
    /// Reads in flight (between `beginRead` and `endRead`).
    var reads = 0
    var clearedAt: UInt64 = 0
    var hits: UInt64 = 0
    var misses: UInt64 = 0

    /// The row of `group` under `key` valid at `time`, counted as a hit or a miss when `counting`.
    mutating func row(_ key: Key, group: UInt32, at time: Timestamp, counting: Bool = true) -> StoredRow? {
      guard let entry = rows[key]?[group], entry.from <= time, time < entry.until else {
        if counting { misses += 1 }
        return nil
      }
      if counting { hits += 1 }
      return entry.row
    }

    mutating func clear() {
      generation += 1
      clearedAt = generation
      rows.removeAll()
      invalidated.removeAll()
      rowCount = 0
    }
  }

  let capacity: Int
  private let state = Mutex(State())

  /// 250,000 rows: a few hundred bytes each (the row's values, its key and interval), so a full cache
  /// takes on the order of 100 MB.
  public static let defaultCapacity = 250_000

  public init(capacity: Int = AggregateRowCache.defaultCapacity) {
    self.capacity = capacity
  }

  /// Starts a read that may `store` rows: call before taking the storage snapshot the rows are
  /// computed from, pass the generation returned to `store`, and call `endRead` when done.
  func beginRead() -> UInt64 {
    state.withLock { s in
      s.reads += 1
      return s.generation
    }
  }

  /// Ends a read started by `beginRead`; with no read left in flight, no invalidation record can
  /// matter any more.
  func endRead() {
    state.withLock { s in
      s.reads -= 1
      if s.reads == 0 { s.invalidated.removeAll(keepingCapacity: true) }
    }
  }

  /// Invalidation records kept (for tests).
  var recordedInvalidations: Int { state.withLock { $0.invalidated.count } }

  /// The row of `group` (an aggregate group version over `stream`) for each of `entityIDs` at `time`,
  /// where one is cached for an interval holding `time` (nil elsewhere), under one lock; counted as
  /// hits and misses only when `counting` (a caller that may ask again for the same lookup counts it
  /// once, with `record`).
  func rows(stream: UInt32, group: UInt32, entityIDs: [String], at time: Timestamp, counting: Bool = true) -> [StoredRow?] {
    state.withLock { s in
      entityIDs.map { s.row(Key(stream: stream, entityID: $0), group: group, at: time, counting: counting) }
    }
  }

  /// Counts lookups answered from the cache (`hits`) and computed (`misses`) that `rows(counting: false)` found.
  func record(hits: Int, misses: Int) {
    state.withLock { s in
      s.hits += UInt64(hits)
      s.misses += UInt64(misses)
    }
  }

  /// Keeps `row`, computed from a snapshot taken after `beginRead()` returned `readGeneration`, for
  /// request times in `from..<until`; dropped when the entity was invalidated since.
  func store(stream: UInt32, group: UInt32, entityID: String, row: StoredRow, from: Timestamp, until: Timestamp, readGeneration: UInt64) {
    guard from < until else { return }
    state.withLock { s in
      let key = Key(stream: stream, entityID: entityID)
      guard s.clearedAt <= readGeneration, (s.invalidated[key] ?? 0) <= readGeneration else { return }
      if s.rowCount >= capacity { s.clear() }
      if s.rows[key, default: [:]].updateValue(Entry(row: row, from: from, until: until), forKey: group) == nil {
        s.rowCount += 1
      }
    }
  }

  /// Forgets the rows of `entityIDs` over `stream`: call after their new events are stored, before the
  /// write is acknowledged.
  func invalidate(stream: UInt32, entityIDs: some Sequence<String>) {
    state.withLock { s in
      s.generation += 1
      for entityID in entityIDs {
        let key = Key(stream: stream, entityID: entityID)
        if let removed = s.rows.removeValue(forKey: key) { s.rowCount -= removed.count }
        if s.reads > 0 { s.invalidated[key] = s.generation }
      }
      if s.invalidated.count > capacity { s.clear() }
    }
  }

  /// Forgets every row: call after stored events were deleted.
  func clear() { state.withLock { $0.clear() } }

  /// Lookups answered from the cache and computed, since the node started.
  public var counters: (hits: UInt64, misses: UInt64) { state.withLock { ($0.hits, $0.misses) } }

  /// What `GetStatus` reports: the capacity, the rows held, and the counters.
  public var stats: AggregateRowCacheStats {
    state.withLock { AggregateRowCacheStats(capacity: capacity, rows: $0.rowCount, hits: $0.hits, misses: $0.misses) }
  }
}

/// The aggregate row cache as a node reports it.
public struct AggregateRowCacheStats: Sendable, Equatable {
  /// Rows it holds at most (0: online lookups do not use it).
  public var capacity: Int
  /// Rows held now.
  public var rows: Int
  /// Online lookups (entity x aggregate group) answered from it, and computed, since the node started.
  public var hits: UInt64
  public var misses: UInt64
}
