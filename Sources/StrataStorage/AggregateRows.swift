public import StrataCore
import Synchronization

/// The values of an aggregate group (`GroupSource.aggregates`) at given times, computed from the
/// stream's stored events: one row per probe, shaped like a stored row of the group so that online
/// lookups and point-in-time exports assemble them like any other row (`PointInTime.result`).
///
/// Probe `(entity, T, knownAt)` gets, for each feature, `function(field)` over the entity's events
/// with `T - window < event_time <= T` and, when `knownAt` is set, `created <= knownAt`, by the one
/// windowed read every source shares (`AggregationSource.partial(window:at:knownAt:)`): the value an
/// online lookup returned at time t is bit for bit the value an export gives a label at t. A value
/// is nil (MISSING, or the feature's default: DEFAULTED) when its function has no value over the
/// window (avg, min, max, last of no non-null value) or when a sum does not fit its type.
///
/// The row is never nil (count and sum are 0 over an empty window). Its (event, created, sequence)
/// is the latest event at or before T counted by the probe (known at `knownAt`) within the group's
/// largest window, or all `.min`/0 when there is none: the order key a quorum read compares replicas
/// by (the replica that has seen the latest event wins).
///
/// Where the events come from, per entity:
/// - at most `storedTileProbes` probes (online lookups): the stored tiles (`StreamTiles`) and the raw
///   events at each window's ends (under the finest tile, or under a sparse tile of any width),
///   read through one pair of cursors over one snapshot: O(tiles) per window, however many events
///   the window holds;
/// - more (an export with many labels of one entity): one scan of the entity's events from its
///   earliest probe's largest window to its latest probe, into an in-memory `AggregationState` with
///   the same tiling (none below 64 events: the window's events are then read in memory); each probe is then O(tiles);
///   the same scan, to the entity's last event, for an online lookup of an entity its stream's
///   history image does not answer (events removed or expired since its scan: `HistoryImages`) when
///   the image held at most `touchedScanLimit` of its events from that window on (one seek instead of
///   the tiles' many); every other entity is read from the image and the events stored since its
///   scan (`ImageDelta`), when the stream has an image (`AggregateRows+Image`).
/// All are the same windowed read over the same events, so they give the same bits.
public enum AggregateRows {
  /// Probes of one entity answered from stored tiles; more are answered from its scanned events.
  static let storedTileProbes = 2
  /// An entity's scanned events get in-memory tiles from this many on; fewer are read raw.
  static let inMemoryTilesFrom = 64
  /// Probes of one entity (at most `storedTileProbes`) are answered from a history image only when
  /// their windows hold at most this many events together; beyond, stored tiles cost less.
  static let imageRawEventsLimit = 4_096
  /// An entity its stream's image does not answer (touched: `HistoryImages`) is read from storage:
  /// by one scan of its events from its earliest probe's largest window on (one seek) when the image
  /// held at most this many of them, else through the stored tiles (about 20 seeks, however many events).
  static let touchedScanLimit = 256

  /// One row per probe, in probe order. `stream` must be the version `group` reads. `cached`, when
  /// given, is what the aggregate row cache answered for these probes (`AggregateRowCache.rows`): its
  /// rows are used as they are, its nils computed. With `cache` (online lookups), the rows computed
  /// for probes without `knownAt` are stored in it with the interval they stay valid for. Storage is
  /// read only when some probe has no row in `cached`.
  ///
  /// With `existingImage`, the probes of entities the stream's current history image holds as
  /// stored are answered from it when that is cheaper than reading stored tiles (online lookups of
  /// entities whose windows hold few events); the image is taken after the cache's read began, so
  /// that a row computed from it is cached only if no write came since.
  public static func rows(
    _ probes: [AsOfProbe], group: FeatureGroup, stream: FeatureGroup, shard: LocalShard, cache: AggregateRowCache? = nil,
    cached: [StoredRow?]? = nil, parallelism: Int = 1, existingImage: Bool = false
  ) throws -> [StoredRow?] {
    try rows(
      probes, group: group, stream: stream, shard: shard, cache: cache, cached: cached, parallelism: parallelism, image: nil,
      existingImage: existingImage)
  }

  /// `rows`, answering the probes of entities `image` holds as stored (`HistoryImages.Use.holds`)
  /// from it and its delta (`answer(_:token:_:image:delta:emit:)`), the others from storage. `imageTiles` (tests) makes every
  /// entity read from the image use in-memory tiles (true) or raw events (false) instead of the
  /// cheaper of the two.
  static func rows(
    _ probes: [AsOfProbe], group: FeatureGroup, stream: FeatureGroup, shard: LocalShard, cache: AggregateRowCache? = nil,
    cached: [StoredRow?]? = nil, parallelism: Int = 1, image: HistoryImages.Use?, existingImage: Bool = false,
    imageTiles: Bool? = nil
  ) throws -> [StoredRow?] {
    precondition(cached.map { $0.count == probes.count } ?? true, "one cached answer per probe")
    var out = cached ?? [StoredRow?](repeating: nil, count: probes.count)
    var byEntity: [ExactEntityID: [Int]] = [:]
    for (i, p) in probes.enumerated() where out[i] == nil { byEntity[ExactEntityID(p.entityID), default: []].append(i) }
    guard !byEntity.isEmpty else { return out }
    // Before the readers' snapshots: a row computed from them is stored only if no write came since.
    let readGeneration = cache?.beginRead() ?? 0
    defer { cache?.endRead() }
    let image = existingImage ? shard.images.existing(stream.storageID) : image
    let answerer = EntityAnswerer(
      probes: probes, plan: try Plan(group: group, stream: stream), group: group, stream: stream, shard: shard,
      cache: cache, readGeneration: readGeneration, imageTiles: imageTiles)
    let parts = parallelism > 1 && probes.count >= parallelThreshold ? Self.parts(of: byEntity, count: 4 * parallelism) : [Array(byEntity)]
    if parts.count == 1 {
      var reader: StoredStreamReader?
      for (key, indices) in parts[0] { try answerer.answer(key, indices, image: image, reader: &reader) { out[$0] = $1 } }
      return out
    }
    // Entities are independent: parts of them on the bulk threads, one reader (cursors) per part.
    let answers = Mutex([[(Int, StoredRow)]](repeating: [], count: parts.count))
    let failure = Mutex<(any Error)?>(nil)
    BackgroundThreads.shared.parallelFor(parts.count) { part in
      do {
        var reader: StoredStreamReader?
        var found: [(Int, StoredRow)] = []
        for (key, indices) in parts[part] { try answerer.answer(key, indices, image: image, reader: &reader) { found.append(($0, $1)) } }
        answers.withLock { $0[part] = found }
      } catch {
        failure.withLock { $0 = error }
      }
    }
    if let error = failure.withLock({ $0 }) { throw error }
    answers.withLock { all in
      for part in all { for (i, row) in part { out[i] = row } }
    }
    return out
  }

  /// Exports of at least this many probes are spread over `parallelism` threads.
  static let parallelThreshold = 4_096

  /// Splits the entities into `count` parts of similar probe counts (largest first, each to the part
  /// with the fewest probes so far), so that one busy entity does not leave the other threads idle.
  static func parts(of byEntity: [ExactEntityID: [Int]], count: Int) -> [[(key: ExactEntityID, value: [Int])]] {
    var parts = [[(key: ExactEntityID, value: [Int])]](repeating: [], count: max(1, min(count, byEntity.count)))
    var load = [Int](repeating: 0, count: parts.count)
    for entry in byEntity.sorted(by: { $0.value.count > $1.value.count }) {
      let lightest = load.indices.min { load[$0] < load[$1] }!
      parts[lightest].append(entry)
      load[lightest] += entry.value.count
    }
    return parts
  }

  /// Computes the rows of one entity's probes (and stores online ones in the cache).
  struct EntityAnswerer: Sendable {
    let probes: [AsOfProbe]
    let plan: Plan
    let group: FeatureGroup
    let stream: FeatureGroup
    let shard: LocalShard
    let cache: AggregateRowCache?
    let readGeneration: UInt64
    /// Tiles (true) or raw events (false) for entities read from an image; nil: the cheaper.
    let imageTiles: Bool?
    /// The stream's field types, by field index.
    let fieldTypes: [AggregateFieldType]

    init(
      probes: [AsOfProbe], plan: Plan, group: FeatureGroup, stream: FeatureGroup, shard: LocalShard, cache: AggregateRowCache?,
      readGeneration: UInt64, imageTiles: Bool?
    ) {
      self.probes = probes
      self.plan = plan
      self.group = group
      self.stream = stream
      self.shard = shard
      self.cache = cache
      self.readGeneration = readGeneration
      self.imageTiles = imageTiles
      self.fieldTypes = StreamTiles.fieldTypes(stream)
    }

    /// Answers the probes of `entity` from `image` when it holds the entity's events as stored now
    /// (in the image and its delta: not touched), else from storage through
    /// `reader` (made on first use).
    func answer(
      _ entity: ExactEntityID, _ indices: [Int], image: HistoryImages.Use?, reader: inout StoredStreamReader?,
      emit: (Int, StoredRow) -> Void
    ) throws {
      var scan = false
      if let image {
        let token = EntityToken.of(entity.id)
        if image.holds(token) {
          if answer(entity.id, token: token, indices, image: image.image, delta: image.delta.rows(of: entity.id), emit: emit) {
            return
          }
        } else if indices.count <= storedTileProbes {
          // Touched since the image's scan: a few events (as the image counted them) are cheaper to
          // scan than the stored tiles are to seek.
          let from = indices.lazy.map { probes[$0].asOf }.min()!.subtracting(microseconds: plan.largestWindow - 1)
          scan = image.image.rowCount(of: entity.id, token: token, from: from) <= touchedScanLimit
        }
      }
      if reader == nil { reader = try StoredStreamReader(shard: shard, stream: stream) }
      try answer(entity.id, indices, reader: reader!, scan: scan, emit: emit)
    }

    /// Answers `probes[i]` for each `i` of `indices` (all of `entity`), calling `emit(i, row)`: at most
    /// `storedTileProbes` probes through the stored tiles unless `scan`, others (and those with `scan`)
    /// from one scan of the entity's events. With `scan` the scan reaches the entity's last event, so
    /// rows of probes without `knownAt` go to `cache` with the interval they stay valid for.
    func answer(_ entity: String, _ indices: [Int], reader: StoredStreamReader, scan: Bool = false, emit: (Int, StoredRow) -> Void) throws {
      if indices.count <= storedTileProbes && !scan {
        for i in indices {
          let p = probes[i]
          let cache = p.knownAt == nil ? cache : nil
          let row = try plan.row(at: p.asOf, knownAt: p.knownAt) { field, window throws(StrataError) in
            try reader.field(field, of: entity).partial(window: window, at: p.asOf, knownAt: p.knownAt)
          } latest: { floor in
            try reader.latestEvent(of: entity, at: p.asOf, floor: floor, knownAt: p.knownAt)
          }
          emit(i, row)
          if let cache {
            cache.store(
              stream: stream.storageID, group: group.storageID, entityID: entity, row: row, from: p.asOf,
              until: try plan.validUntil(of: entity, at: p.asOf, reader: reader), readGeneration: readGeneration)
          }
        }
        return
      }
      let first = indices.lazy.map { probes[$0].asOf }.min()!
      let last = indices.lazy.map { probes[$0].asOf }.max()!
      let from = first.subtracting(microseconds: plan.largestWindow - 1)
      let events = scan
        ? try reader.events(of: entity, from: from) : try shard.events(entityID: entity, stream: stream, eventTimes: from...last)
      // Few events: no tiles (a read scans the window's events in memory, cheaper than keeping tiles).
      let tiling = events.count < inMemoryTilesFrom ? AggregationTiling.rawEvents : StreamTiles.tiling
      var states: [Int: AggregationState] = [:]
      for field in Set(plan.reads.map(\.field)) {
        var state = AggregationState(fieldType: reader.fieldTypes[field], tiling: tiling)
        for row in events {
          try state.insert(row.aggregationEvent(field: field))
        }
        states[field] = state
      }
      for i in indices {
        let p = probes[i]
        let row = try plan.row(at: p.asOf, knownAt: p.knownAt) { field, window in
          states[field]!.partial(window: window, at: p.asOf, knownAt: p.knownAt)
        } latest: { floor in
          AggregateRows.latest(in: events, at: p.asOf, floor: floor, knownAt: p.knownAt)
        }
        emit(i, row)
        if scan, let cache, p.knownAt == nil {
          // The reader holds the events from `from` on: the interval is found without a seek.
          cache.store(
            stream: stream.storageID, group: group.storageID, entityID: entity, row: row, from: p.asOf,
            until: try plan.validUntil(of: entity, at: p.asOf, reader: reader), readGeneration: readGeneration)
        }
      }
    }
  }

  /// `StoredStreamReader.latestEvent` over rows in event order.
  /// Finds the end of the rows at or before `time` by binary search, then walks back: O(log n)
  /// plus the rows skipped for `knownAt`, not a walk from the last row.
  static func latest(in rows: [StoredRow], at time: Timestamp, floor: Timestamp, knownAt: Timestamp?) -> (Timestamp, Timestamp, UInt64)? {
    latest(in: rows, at: time, floor: floor, knownAt: knownAt) { ($0.eventTime, $0.createdTime, $0.sequence) }
  }

  /// `latest` over any elements in event order, `key` giving each one's (event, created, sequence).
  static func latest<Element>(
    in rows: [Element], at time: Timestamp, floor: Timestamp, knownAt: Timestamp?,
    key: (Element) -> (Timestamp, Timestamp, UInt64)
  ) -> (Timestamp, Timestamp, UInt64)? {
    var low = 0
    var high = rows.count
    while low < high {
      let mid = (low + high) / 2
      if key(rows[mid]).0 <= time { low = mid + 1 } else { high = mid }
    }
    for row in rows[..<low].reversed() {
      let k = key(row)
      if k.0 < floor { break }
      if let knownAt, k.1 > knownAt { continue }
      return k
    }
    return nil
  }

  /// What each feature reads: its field's index in the stream and its window; the distinct
  /// (field, window) pairs are read once per probe.
  struct Plan: Sendable {
    let features: [(read: Int, function: AggregateFunction)]
    let reads: [(field: Int, window: AggregationWindow)]
    /// The indices of `reads`, largest window first: at the common end `T`, the ranges a smaller
    /// window scans then mostly lie inside those the larger one scanned (`StoredStreamReader` keeps
    /// them); its own start edge is scanned afresh.
    let readOrder: [Int]
    let largestWindow: Int64
    /// The distinct windows (µs).
    let windows: [Int64]

    init(group: FeatureGroup, stream: FeatureGroup) throws(StrataError) {
      var reads: [(field: Int, window: AggregationWindow)] = []
      var features: [(read: Int, function: AggregateFunction)] = []
      for feature in group.spec.features {
        guard let a = feature.aggregation, let field = stream.featureIndex(named: a.field),
          AggregateFieldType(stream.spec.features[field].dtype) != nil
        else {
          throw .internalError("\(group.qualifiedName):\(feature.name) does not read a field of \(stream.qualifiedName)")
        }
        if let k = reads.firstIndex(where: { $0.field == field && $0.window == a.window }) {
          features.append((k, a.function))
        } else {
          features.append((reads.count, a.function))
          reads.append((field, a.window))
        }
      }
      self.features = features
      self.reads = reads
      self.readOrder = reads.indices.sorted { reads[$0].window.microseconds > reads[$1].window.microseconds }
      self.largestWindow = reads.map(\.window.microseconds).max() ?? AggregationWindow.minimumMicroseconds
      self.windows = Array(Set(reads.map(\.window.microseconds))).sorted()
    }

    /// The first time after `time` at which the row (without `knownAt`) of `entityID` may differ from
    /// its row at `time` with no new event stored: the next stored event after `time` (it enters
    /// every window) or the first moment an event leaves a window (its event time plus the window),
    /// whichever comes first; `.max` when neither exists.
    func validUntil(of entityID: String, at time: Timestamp, reader: StoredStreamReader) throws -> Timestamp {
      try validUntil(at: time) { try reader.firstEventTime(of: entityID, atOrAfter: $0) }
    }

    /// `validUntil(of:at:reader:)` over any source of the entity's events: `firstEvent(t)` is the
    /// event time of its first event at or after `t`, nil when none.
    func validUntil(at time: Timestamp, firstEvent: (Timestamp) throws -> Timestamp?) rethrows -> Timestamp {
      var until = Timestamp.max
      if time < .max, let next = try firstEvent(time.adding(microseconds: 1)) { until = next }
      for window in windows {
        if let first = try firstEvent(time.subtracting(microseconds: window - 1)), first <= time {
          until = Swift.min(until, first.adding(microseconds: window))
        }
      }
      return until
    }

    /// The row at `time`: `partial(field, window)` reads each distinct window once; `latest(floor)`
    /// gives the order key's event (see the type's documentation).
    func row<E: Error>(
      at time: Timestamp, knownAt: Timestamp?,
      partial: (Int, AggregationWindow) throws(E) -> AggregatePartial,
      latest: (Timestamp) throws(E) -> (Timestamp, Timestamp, UInt64)?
    ) throws(E) -> StoredRow {
      var partials: [AggregatePartial?] = Array(repeating: nil, count: reads.count)
      for k in readOrder { partials[k] = try partial(reads[k].field, reads[k].window) }
      var values: [FeatureValue?] = []
      values.reserveCapacity(features.count)
      var overflowed: Set<Int> = []
      for (k, f) in features.enumerated() {
        switch partials[f.read]!.result(f.function) {
        case .present(let v): values.append(v)
        case .missing: values.append(nil)
        case .overflow:
          values.append(nil)
          overflowed.insert(k)
        }
      }
      let order = try latest(time.subtracting(microseconds: largestWindow - 1))
      var row = StoredRow(
        eventTime: order?.0 ?? .min, createdTime: order?.1 ?? .min, sequence: order?.2 ?? 0, values: values)
      row.overflowed = overflowed
      return row
    }
  }
}
