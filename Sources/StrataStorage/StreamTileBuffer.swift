internal import DequeModule
internal import HashTreeCollections
internal import StrataCore

/// The stream tiles that stored events changed and that are not yet written to the engine ("dirty"),
/// kept by the writer (`LocalShard.dirtyTiles`): tiles are written behind their events.
///
/// An append stores a stream batch's events and, in the same atomic engine write, a journal record
/// (the history keys of the events new to the node) instead of their tiles; the tiles the events
/// change are updated here, in decoded form. A busy entity's tiles change with every event (one per
/// width: five), so writing them with every batch cost most of what a push cost; here a tile is
/// encoded and written once however many batches change it while it is dirty.
///
/// Tiles are written by appends, in the append's own engine write (`due`): by default oldest first,
/// those dirty for `Policy.maxAge`, at most `Policy.perAppend` of them per append, and as many more
/// as keep the buffer at `Policy.maxTiles`, or (`Policy.wholeAtBound`, the default) all of them, with
/// the append's own changes, when the append would take the buffer past `maxTiles`
/// (`Policy.wholeWhenAged`: also once the oldest change is `maxAge` old). A journal record
/// is deleted, in the same write, once every tile that was dirty when it was stored is written (each
/// holds the record's events then), with the online rows it covers (`onlineRows`).
/// Everything is written at once (`LocalShard.flushStreamTiles`) before every deletion of stored
/// rows (removals, retention) and at a graceful shutdown. When a node starts, the records a killed
/// process left name the (entity, day) whose stored tiles may lack events: those tiles are made again
/// from the stored events and the stored tiles without journaled events under them
/// (`LocalShard.replayStreamTileJournal`, `StreamTiles.rebuild`). Tiles stay derived data: a written
/// tile is what writing it with every batch would have written, byte for byte.
///
/// Readers see stored tiles and dirty tiles together, at one point (`StreamTileOverlay`): every write
/// that changes the buffer stores its new generation in the catalog (`generationKey`) with its events,
/// and commits its changes to the buffer, with that generation, once stored; a reader takes a copy of
/// the buffer's tiles (`LocalShard.streamReadView`), then a snapshot, and retries until the snapshot
/// holds the same generation. The buffer changes in place: a reader's copy shares its storage until
/// the writer changes a tile the copy still holds (`Tiles` then copies the paths it changes).
struct StreamTileBuffer: Sendable {
  /// Dirty tiles by their key's prefix (entity, stream version, width level: `KeyCodec.tileKey`
  /// without the index), then by index. Persistent (structure shared between versions), so that a
  /// reader's copy costs nothing and a write that changes a few tiles while one is held copies only
  /// the paths to them.
  typealias Tiles = TreeDictionary<HashedBytes, [Int64: StreamTile]>

  /// When dirty tiles are written.
  struct Policy: Sendable, Equatable {
    /// Dirty tiles at most (about 0.5 kB each in memory when full, far less when sparse); an append
    /// writes the oldest beyond it.
    var maxTiles: Int
    /// A tile dirty this long is written by the next append (within `perAppend`).
    var maxAge: Duration
    /// Tiles an append writes for their age, at most (unless `wholeWhenAged`).
    var perAppend: Int
    /// Whether an append that would take the buffer past `maxTiles` writes every dirty tile (its own
    /// changes too), so that the buffer empties and every record goes at once, instead of the oldest
    /// beyond the bound.
    var wholeAtBound: Bool
    /// Whether an append that finds a tile dirty for `maxAge` writes every dirty tile likewise,
    /// instead of the tiles dirty that long (`perAppend` at most).
    var wholeWhenAged: Bool

    /// Each tile written once it has been dirty for 5 s, oldest first, at most 4,096 per append, and
    /// everything at once when 50,000 are dirty. A steady stream's appends each write the few tiles
    /// that came due since the last one: writing everything every 5 s, as before, cost the append
    /// that did it 50-100 ms for the few thousand tiles of a busy stream, and the batches queued
    /// behind it waited as long. A bulk push fills the buffer to its bound within seconds, and one
    /// write of everything then costs it less than writing the oldest beyond the bound with every
    /// batch (about 0.8x the push rate, measured).
    static let defaults = Policy(
      maxTiles: 50_000, maxAge: .seconds(5), perAppend: 4_096, wholeAtBound: true, wholeWhenAged: false)
    /// Every tile is written by the append that changes it.
    static let immediate = Policy(maxTiles: 0, maxAge: .zero, perAppend: .max, wholeAtBound: true, wholeWhenAged: true)
  }

  /// The catalog key of the generation of the stored tiles and journal (u64be; absent: 0).
  static let generationKey = Array("meta/tile_generation".utf8)
  /// The catalog keys of journal records: this prefix and the record's generation (u64be).
  static let journalPrefix = Array("tilejournal/".utf8)

  private(set) var tiles = Tiles()
  private(set) var tileCount = 0
  /// The dirty tiles in the order they became dirty, with that write's generation and time.
  private var order = Deque<(key: [UInt8], generation: UInt64, at: ContinuousClock.Instant)>()
  /// The journal records not deleted yet: generation and catalog key, in generation order.
  private var journal = Deque<(generation: UInt64, key: [UInt8])>()
  /// The generation of the latest write that changed the stored tiles, the journal or this buffer.
  private(set) var generation: UInt64
  /// Online rows of streams that appends stored in memory only (`OnlineTable`), by online key, with
  /// their stored form and the generation of the append that made them: each is covered by that
  /// append's journal record (the entity's latest event is one of the record's events), so the write
  /// that deletes the record writes the row (`onlinePuts`), and a killed process's records make them
  /// again from history (`LocalShard.replayStreamTileJournal`). A busy entity's online row then costs
  /// one engine key per `Policy.maxAge` instead of one per batch.
  private(set) var onlineRows: [HashedBytes: (value: [UInt8], generation: UInt64)] = [:]
  /// The keys each append deferred, in generation order (a key whose row a later append replaced or
  /// wrote is skipped: its entry in `onlineRows` has another generation, or none).
  private var onlineOrder = Deque<(generation: UInt64, keys: [HashedBytes])>()

  init(generation: UInt64) {
    self.generation = generation
  }

  var isEmpty: Bool { tileCount == 0 && journal.isEmpty && onlineRows.isEmpty }

  /// What a write that stores `due` stores in the online keyspace, in key order: the pending online
  /// rows whose journal record it deletes (every one when it writes everything), and the write's own
  /// rows `winners` (newer: they replace a pending row of the same key) unless `deferring` them (they
  /// then stay pending, covered by the write's own record, and the pending rows they replace are not
  /// written either).
  func onlinePuts(
    _ due: Due, winners: [(key: [UInt8], value: [UInt8])], deferring: Bool = false
  ) -> [(key: [UInt8], value: [UInt8])] {
    var rows: [HashedBytes: [UInt8]] = [:]
    if due.all {
      for (key, pending) in onlineRows { rows[key] = pending.value }
    } else {
      for (generation, keys) in onlineOrder {
        guard generation < due.releasedBelow else { break }
        for key in keys {
          if let pending = onlineRows[key], pending.generation == generation { rows[key] = pending.value }
        }
      }
    }
    if deferring {
      guard !rows.isEmpty else { return [] }
      for (key, _) in winners { rows[HashedBytes(key)] = nil }
    } else {
      guard !rows.isEmpty else { return winners }
      for (key, value) in winners { rows[HashedBytes(key)] = value }
    }
    return rows.map { ($0.key.bytes, $0.value) }.sorted { LocalShard.precedes($0.key, $1.key) }
  }

  /// Online rows the append of `generation` stored without writing them (its journal record covers them).
  mutating func deferOnlineRows(_ rows: [(key: [UInt8], value: [UInt8])], generation: UInt64) {
    guard !rows.isEmpty else { return }
    var keys: [HashedBytes] = []
    keys.reserveCapacity(rows.count)
    for (key, value) in rows {
      let key = HashedBytes(key)
      onlineRows[key] = (value, generation)
      keys.append(key)
    }
    onlineOrder.append((generation, keys))
  }

  /// Online rows an append wrote itself without writing the pending ones: pending rows of the same
  /// keys are older and must not be written after them.
  mutating func wroteOnlineRows(_ keys: some Sequence<[UInt8]>) {
    guard !onlineRows.isEmpty else { return }
    for key in keys { onlineRows[HashedBytes(key)] = nil }
  }

  /// The dirty tile with `key`, nil when it is not dirty.
  func value(_ key: [UInt8]) -> StreamTile? {
    let (prefix, index) = Self.split(key)
    return tiles[prefix]?[index]
  }

  /// How an append changes one tile (`StreamTiles.add`).
  enum Change: Sendable, Equatable {
    /// The tile's new form.
    case set(StreamTile)
    /// These events (in the order added) go into the full tile dirty here under the same key:
    /// `commit` adds them to its partials in place, so that a busy tile, which every batch changes,
    /// is not copied and freed with every batch.
    case add([StoredRow])
  }

  /// The tile `change` makes of the one with `key`.
  func resolved(_ change: Change, key: [UInt8]) -> StreamTile {
    switch change {
    case .set(let tile):
      return tile
    case .add(let rows):
      guard case .full(var partials)? = value(key) else { Self.missingDirtyTile() }
      StreamTile.add(rows, to: &partials)
      return .full(partials)
    }
  }

  /// An `add` change names a full tile dirty here: only the writer changes the buffer, and it holds
  /// its lock from the read of the tile (`StreamTiles.add`) to the commit.
  private static func missingDirtyTile() -> Never {
    preconditionFailure("a stream tile change adds events to a full tile that is not dirty")
  }

  /// What an append at `now` that changes the tiles `updates` (not committed yet) writes for the
  /// buffer: the oldest dirty tiles due (their stored form, with this append's changes) and the
  /// journal records that writing them releases. `commit` it once the write is stored.
  func due(_ policy: Policy, now: ContinuousClock.Instant, updates: [(key: [UInt8], change: Change)]) -> Due {
    // The tiles this append makes dirty, counted only when they could take the buffer past its bound
    // (`fresh` is read only against `maxTiles`; looking every update up costs a push a few percent).
    var fresh = 0
    if tileCount + updates.count > policy.maxTiles {
      for (key, _) in updates where value(key) == nil { fresh += 1 }
    }
    var count = 0
    var aged = 0
    var whole = policy.wholeAtBound && tileCount + fresh > policy.maxTiles
    if policy.wholeWhenAged {
      whole = whole || (order.first.map { now - $0.at >= policy.maxAge } ?? (policy.maxAge == .zero))
      // Aged tiles go all at once, not one by one.
      aged = policy.perAppend
    }
    if whole { count = order.count }
    for entry in order.dropFirst(count) {
      if tileCount + fresh - count > policy.maxTiles {
        count += 1
      } else if aged < policy.perAppend && now - entry.at >= policy.maxAge {
        count += 1
        aged += 1
      } else {
        break
      }
    }
    // With nothing older left dirty, this append's own new tiles go too (whole, or a zero bound).
    let all = whole || (count == order.count && policy.maxTiles == 0)
    guard count > 0 || all else { return .none }
    var changed: [HashedBytes: Change] = [:]
    for (key, change) in updates { changed[HashedBytes(key)] = change }
    var puts: [(key: [UInt8], value: [UInt8])] = []
    puts.reserveCapacity(count)
    for entry in order.prefix(count) {
      if let change = changed.removeValue(forKey: HashedBytes(entry.key)) {
        puts.append((entry.key, resolved(change, key: entry.key).encoded()))
      } else if let tile = value(entry.key) {
        puts.append((entry.key, tile.encoded()))
      }
    }
    if all {
      for (key, change) in changed { puts.append((key.bytes, resolved(change, key: key.bytes).encoded())) }
    }
    puts.sort { LocalShard.precedes($0.key, $1.key) }
    // A record is released when no tile that was dirty when it was stored stays dirty.
    let oldestLeft = all ? UInt64.max : count < order.count ? order[count].generation : generation + 1
    let released = journal.prefix { $0.generation < oldestLeft }.map(\.key)
    return Due(tiles: count, all: all, puts: puts, released: released, releasedBelow: released.isEmpty ? 0 : oldestLeft)
  }

  /// What `due` chose: the oldest `tiles` dirty tiles (with `all`, this append's changes too),
  /// their stored form, and the journal records released: those of generations below `releasedBelow`.
  struct Due {
    static let none = Due(tiles: 0, all: false, puts: [], released: [], releasedBelow: 0)
    var tiles: Int
    var all: Bool
    var puts: [(key: [UInt8], value: [UInt8])]
    var released: [[UInt8]]
    var releasedBelow: UInt64
  }

  /// Takes the tiles of one stored write (generation `generation`), which stored its events' journal
  /// record under `journalKey` (nil: none) and wrote `due`. Returns the buffer as it was when `due`
  /// wrote it whole (this one is then empty), for the caller to free where it chooses.
  @discardableResult
  mutating func commit(
    _ updates: [(key: [UInt8], change: Change)], journalKey: [UInt8]?, due: Due, generation: UInt64,
    now: ContinuousClock.Instant
  ) -> StreamTileBuffer? {
    if due.all {
      defer { self = StreamTileBuffer(generation: generation) }
      return self
    }
    // The pending rows of the records released were written with them.
    while let first = onlineOrder.first, first.generation < due.releasedBelow {
      onlineOrder.removeFirst()
      for key in first.keys where onlineRows[key]?.generation == first.generation { onlineRows[key] = nil }
    }
    for (key, change) in updates {
      let (prefix, index) = Self.split(key)
      switch change {
      case .set(let tile):
        if tiles[prefix, default: [:]].updateValue(tile, forKey: index) == nil {
          tileCount += 1
          order.append((key, generation, now))
        }
      case .add(let rows):
        Self.add(rows, to: &tiles[prefix, default: [:]][index])
      }
    }
    if let journalKey { journal.append((generation, journalKey)) }
    for _ in 0..<due.tiles {
      let entry = order.removeFirst()
      let (prefix, index) = Self.split(entry.key)
      if tiles[prefix]?.removeValue(forKey: index) != nil { tileCount -= 1 }
      if tiles[prefix]?.isEmpty == true { tiles[prefix] = nil }
    }
    journal.removeFirst(due.released.count)
    self.generation = generation
    return nil
  }

  /// Adds `rows` to the full tile `tile` in place: its partials are taken out of the tile first (a
  /// placeholder holds its place), so that, unless a reader's copy shares them, they are changed
  /// where they are instead of copied.
  private static func add(_ rows: [StoredRow], to tile: inout StreamTile?) {
    guard case .full(var partials)? = tile else { missingDirtyTile() }
    tile = .sparse(eventCount: 0)
    StreamTile.add(rows, to: &partials)
    tile = .full(partials)
  }

  /// Every dirty tile's stored form and every journal record: what writing everything at once writes.
  func everything() -> Due {
    Due(tiles: order.count, all: true, puts: puts(), released: journal.map(\.key), releasedBelow: .max)
  }

  /// The stored form of every dirty tile, in key order.
  func puts() -> [(key: [UInt8], value: [UInt8])] { Self.storedForm(tiles, count: tileCount) }

  /// The stored form of `tiles`, in key order.
  static func storedForm(_ tiles: Tiles, count: Int = 0) -> [(key: [UInt8], value: [UInt8])] {
    var out: [(key: [UInt8], value: [UInt8])] = []
    out.reserveCapacity(count)
    for (prefix, byIndex) in tiles {
      for (index, tile) in byIndex {
        var w = ByteWriter(capacity: prefix.bytes.count + 8)
        w.append(contentsOf: prefix.bytes)
        w.i64Ordered(index)
        out.append((w.bytes, tile.encoded()))
      }
    }
    out.sort { LocalShard.precedes($0.key, $1.key) }
    return out
  }

  /// A tile key's prefix (entity, stream version, level) and index.
  static func split(_ key: [UInt8]) -> (prefix: HashedBytes, index: Int64) {
    var r = ByteReader(key, offset: key.count - 8)
    return (HashedBytes(Array(key.prefix(key.count - 8))), (try? r.i64Ordered()) ?? 0)
  }

  static func journalKey(_ generation: UInt64) -> [UInt8] {
    var w = ByteWriter(capacity: journalPrefix.count + 8)
    w.append(contentsOf: journalPrefix)
    w.u64BE(generation)
    return w.bytes
  }

  static func encodeGeneration(_ generation: UInt64) -> [UInt8] {
    var w = ByteWriter(capacity: 8)
    w.u64BE(generation)
    return w.bytes
  }

  static func decodeGeneration(_ bytes: [UInt8]?) throws(StrataError) -> UInt64 {
    guard let bytes else { return 0 }
    var r = ByteReader(bytes)
    guard bytes.count == 8, let g = try? r.u64BE() else { throw .internalError("corrupt stream tile generation in the catalog") }
    return g
  }

  /// A journal record: u32be stream storage id, u32be key count, then per key u32be length and the
  /// history key of one event.
  static func encodeJournal(stream: UInt32, historyKeys: [[UInt8]]) -> [UInt8] {
    var w = ByteWriter(capacity: 8 + historyKeys.reduce(0) { $0 + 4 + $1.count })
    w.u32BE(stream)
    w.u32BE(UInt32(historyKeys.count))
    for key in historyKeys {
      w.u32BE(UInt32(key.count))
      w.append(contentsOf: key)
    }
    return w.bytes
  }

  static func decodeJournal(_ bytes: [UInt8]) throws(StrataError) -> (stream: UInt32, historyKeys: [[UInt8]]) {
    var r = ByteReader(bytes)
    do {
      let stream = try r.u32BE()
      let count = Int(try r.u32BE())
      var keys: [[UInt8]] = []
      keys.reserveCapacity(min(count, 1 << 20))
      for _ in 0..<count { keys.append(Array(try r.bytes(Int(try r.u32BE())))) }
      return (stream, keys)
    } catch {
      throw .internalError("a stream tile journal record does not decode: \(error)")
    }
  }
}

/// The dirty stream tiles at one generation (a reader's copy): what a reader whose snapshot holds that
/// generation adds to the stored tiles (`StreamTileBuffer`).
struct StreamTileOverlay: Sendable {
  let generation: UInt64
  let tiles: StreamTileBuffer.Tiles

  /// The stored form of every tile, in key order.
  var storedForm: [(key: [UInt8], value: [UInt8])] { StreamTileBuffer.storedForm(tiles) }

  /// The dirty tiles under `prefix` (entity, stream version, level) with index in `indices`.
  func tiles(prefix: [UInt8], indices: ClosedRange<Int64>) -> [(index: Int64, tile: StreamTile)] {
    guard let byIndex = tiles[HashedBytes(prefix)] else { return [] }
    return byIndex.filter { indices.contains($0.key) }.map { ($0.key, $0.value) }
  }
}
