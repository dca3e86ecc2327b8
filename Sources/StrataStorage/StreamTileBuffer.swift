internal import HashTreeCollections
internal import StrataCore

/// The stream tiles that stored events changed and that are not yet written to the engine ("dirty"),
/// kept by the writer (under its lock): tiles are written behind their events.
///
/// An append stores a stream batch's events and, in the same atomic engine write, a journal record
/// (the history keys of the events new to the node) instead of their tiles; the tiles the events
/// change are updated here, in decoded form. A busy entity's tiles change with every event (one per
/// width: five), so writing them with every batch cost most of what a push cost; here a tile is
/// encoded and written once however many batches change it while it is dirty.
///
/// Dirty tiles are written all together, never some of them: the stored tiles then always hold
/// exactly the events of the journal records deleted so far, and the records left are exactly the
/// events they lack. When the buffer reaches its `Policy`, an append takes a `Cut` (every dirty tile
/// as it is then, and the records it covers), which a background thread writes in one engine write
/// that also deletes those records, off the writer's path; tiles not changed since are then
/// dropped from the buffer (`LocalShard.startTileCut`). Every deletion of stored rows (removals,
/// retention) and a graceful shutdown first write everything (`LocalShard.flushStreamTiles`). When a
/// node starts, the records a killed process left are replayed from the stored events
/// (`LocalShard.replayStreamTileJournal`). Tiles stay derived data: a written tile is what writing it
/// with every batch would have written, byte for byte.
///
/// Readers see stored tiles and dirty tiles together, at one point (`StreamTileOverlay`): every write
/// that changes the buffer stores its new generation in the catalog (`generationKey`) with its events,
/// and publishes the buffer's tiles with that generation once stored; a reader takes the published
/// tiles, then a snapshot, and retries until the snapshot holds the same generation.
struct StreamTileBuffer: Sendable {
  /// Dirty tiles by their key's prefix (entity, stream version, width level: `KeyCodec.tileKey`
  /// without the index), then by index: the partial of each field. Persistent (structure shared
  /// between versions), so that publishing it after each batch copies nothing.
  typealias Tiles = TreeDictionary<[UInt8], [Int64: [AggregatePartial]]>

  /// When the dirty tiles are written: whichever bound the buffer reaches first.
  struct Policy: Sendable, Equatable {
    /// Dirty tiles (about 0.5 kB each in memory).
    var maxTiles: Int
    /// Age of the oldest unwritten change (what a start after a kill replays, about).
    var maxAge: Duration
    /// Whether a background thread writes the tiles (a `Cut`); otherwise the append that reaches
    /// the policy writes them in its own engine write (`due`).
    var background: Bool

    static let defaults = Policy(maxTiles: 50_000, maxAge: .seconds(5), background: true)
    /// Every append writes its tiles.
    static let immediate = Policy(maxTiles: 0, maxAge: .zero, background: false)

    /// Whether a buffer of `tiles` dirty tiles whose oldest change is `age` old is to be written.
    func reached(tiles: Int, age: Duration?) -> Bool {
      tiles > maxTiles || (age.map { $0 >= maxAge } ?? (maxAge == .zero))
    }
  }

  /// The catalog key of the generation of the stored tiles and journal (u64be; absent: 0).
  static let generationKey = Array("meta/tile_generation".utf8)
  /// The catalog keys of journal records: this prefix and the record's generation (u64be).
  static let journalPrefix = Array("tilejournal/".utf8)

  private(set) var tiles = Tiles()
  private(set) var tileCount = 0
  /// The journal records not deleted yet (their catalog keys).
  private(set) var journal: [[UInt8]] = []
  /// When the oldest unwritten change was made.
  private var since: ContinuousClock.Instant?
  /// The generation of the latest write that changed the stored tiles, the journal or this buffer.
  private(set) var generation: UInt64

  init(generation: UInt64) {
    self.generation = generation
  }

  var isEmpty: Bool { tileCount == 0 && journal.isEmpty }

  /// The dirty partials of the tile with `key`, nil when it is not dirty.
  func value(_ key: [UInt8]) -> [AggregatePartial]? {
    let (prefix, index) = Self.split(key)
    return tiles[prefix]?[index]
  }

  /// What an append at `now` that changes the tiles `updates` writes for the buffer: nothing, or,
  /// when `policy` asks for it, every dirty tile with the append's changes and every journal record
  /// released (the append then stores no record). `commit` it once the write is stored.
  func due(_ policy: Policy, now: ContinuousClock.Instant, updates: [(key: [UInt8], partials: [AggregatePartial])]) -> Due {
    guard !policy.background, policy.reached(tiles: tileCount + updates.count, age: since.map { now - $0 }) else { return .none }
    var all = tiles
    for (key, partials) in updates {
      let (prefix, index) = Self.split(key)
      all[prefix, default: [:]][index] = partials
    }
    return Due(all: true, puts: Self.storedForm(all, count: tileCount + updates.count), released: journal)
  }

  /// What `due` chose: nothing, or (`all`) the stored form of every tile and the records released.
  struct Due {
    static let none = Due(all: false, puts: [], released: [])
    var all: Bool
    var puts: [(key: [UInt8], value: [UInt8])]
    var released: [[UInt8]]
  }

  /// Takes the tiles of one stored write (generation `generation`), which stored its events' journal
  /// record under `journalKey` (nil: none) and wrote `due`.
  mutating func commit(
    _ updates: [(key: [UInt8], partials: [AggregatePartial])], journalKey: [UInt8]?, due: Due, generation: UInt64,
    now: ContinuousClock.Instant
  ) {
    if due.all {
      self = StreamTileBuffer(generation: generation)
      return
    }
    for (key, partials) in updates {
      let (prefix, index) = Self.split(key)
      if tiles[prefix, default: [:]].updateValue(partials, forKey: index) == nil { tileCount += 1 }
    }
    if let journalKey { journal.append(journalKey) }
    if since == nil { since = now }
    self.generation = generation
  }

  /// Whether `policy` asks for a `Cut` now (a background policy).
  func needsCut(_ policy: Policy, now: ContinuousClock.Instant) -> Bool {
    policy.background && tileCount > 0 && policy.reached(tiles: tileCount, age: since.map { now - $0 })
  }

  /// Every dirty tile as it is now and the journal records it covers, for a background write; the
  /// records leave the buffer (they are the cut's to delete), the tiles stay until it is written.
  struct Cut: Sendable {
    var tiles: Tiles
    var records: [[UInt8]]
  }

  mutating func cut() -> Cut {
    defer {
      journal = []
      since = nil
    }
    return Cut(tiles: tiles, records: journal)
  }

  /// The cut is stored: its tiles that did not change since leave the buffer.
  mutating func cutWritten(_ cut: Cut) {
    for (prefix, byIndex) in cut.tiles {
      for (index, partials) in byIndex where tiles[prefix]?[index] == partials {
        tiles[prefix]![index] = nil
        tileCount -= 1
      }
      if tiles[prefix]?.isEmpty == true { tiles[prefix] = nil }
    }
  }

  /// The cut was not stored: its records are the buffer's again (older than those taken since).
  mutating func cutNotWritten(_ cut: Cut) {
    journal = cut.records + journal
    if since == nil && tileCount > 0 { since = .now }
  }

  /// Every dirty tile's stored form and every journal record: what writing everything at once writes.
  func everything() -> Due {
    Due(all: true, puts: puts(), released: journal)
  }

  /// The stored form of every dirty tile, in key order.
  func puts() -> [(key: [UInt8], value: [UInt8])] { Self.storedForm(tiles, count: tileCount) }

  /// The stored form of `tiles`, in key order.
  static func storedForm(_ tiles: Tiles, count: Int = 0) -> [(key: [UInt8], value: [UInt8])] {
    var out: [(key: [UInt8], value: [UInt8])] = []
    out.reserveCapacity(count)
    for (prefix, byIndex) in tiles {
      for (index, partials) in byIndex {
        var w = ByteWriter(capacity: prefix.count + 8)
        w.append(contentsOf: prefix)
        w.i64Ordered(index)
        out.append((w.bytes, StreamTiles.encode(partials)))
      }
    }
    out.sort { LocalShard.precedes($0.key, $1.key) }
    return out
  }

  /// A tile key's prefix (entity, stream version, level) and index.
  static func split(_ key: [UInt8]) -> (prefix: [UInt8], index: Int64) {
    var r = ByteReader(key, offset: key.count - 8)
    return (Array(key.prefix(key.count - 8)), (try? r.i64Ordered()) ?? 0)
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

/// The dirty stream tiles as published at one generation: what a reader whose snapshot holds that
/// generation adds to the stored tiles (`StreamTileBuffer`).
struct StreamTileOverlay: Sendable {
  let generation: UInt64
  let tiles: StreamTileBuffer.Tiles

  static func empty(_ generation: UInt64) -> StreamTileOverlay {
    StreamTileOverlay(generation: generation, tiles: StreamTileBuffer.Tiles())
  }

  /// The stored form of every tile, in key order.
  var storedForm: [(key: [UInt8], value: [UInt8])] { StreamTileBuffer.storedForm(tiles) }

  /// The dirty tiles under `prefix` (entity, stream version, level) with index in `indices`.
  func tiles(prefix: [UInt8], indices: ClosedRange<Int64>) -> [(index: Int64, partials: [AggregatePartial])] {
    guard let byIndex = tiles[prefix] else { return [] }
    return byIndex.filter { indices.contains($0.key) }.map { ($0.key, $0.value) }
  }
}
