import Foundation
import StrataCore
import StrataTestSupport
import Testing

@testable import StrataStorage

/// Streams and aggregate groups in a `FeatureStore`: events pushed in random order (late ones too),
/// then every aggregate read online (clock at T), by the row-wise export and by the columnar export
/// at random (T, knownAt), compared bit for bit with `AggregationState`, the in-memory source the
/// core's property tests hold against a brute-force oracle, fed with exactly the stored events.
@Suite("Stream aggregations in the store")
struct StreamAggregationTests {
  @Test("online, row-wise and columnar exports equal the in-memory state at every (T, knownAt), late events included", arguments: EngineKind.allCases, TileFlush.allCases)
  func readsEqualState(kind: EngineKind, flush: TileFlush) async throws {
    var rng = SplitMix64.forTest("StreamAggregationTests.readsEqualState.\(kind).\(flush)")
    try await withStreamStore(kind, flush: flush) { store, clock in
      let entities = ["u1", "u2", "u3", "u\u{e9}"]
      // Pushes in batches, the clock moving forward; event times scattered over the last two hours
      // before each push (late events), some with null fields, some exactly on shared instants.
      var pushed = 0
      for _ in 0..<(20 + rng.below(20)) {
        clock.advance(microseconds: Int64(rng.below(30_000_000)))
        let now = clock.now
        var rows: [WriteRequest.Row] = []
        for _ in 0..<(1 + rng.below(30)) {
          let back = rng.oneIn(4) ? Int64(rng.below(4)) * 60_000_000 : Int64(rng.below(7_200_000_000))
          let amount: FeatureValue? = rng.oneIn(5) ? nil : .float(Double(rng.below(20_001)) / 100 - 100)
          let count: FeatureValue? = rng.oneIn(6) ? nil : .int(Int64(rng.below(1_000)) - 500)
          let tag: FeatureValue? = rng.oneIn(4) ? nil : .string(rng.element(of: ["a", "b", "\u{e9}", "ab", ""]))
          rows.append(WriteRequest.Row(entityID: rng.element(of: entities), eventTime: now.subtracting(microseconds: back), values: [amount, count, tag]))
        }
        pushed += rows.count
        _ = try await store.write(WriteRequest(group: "purchases", features: ["amount", "n", "tag"], rows: rows, events: true))
      }
      let stream = try store.catalog.group(named: "purchases")
      let group = try store.catalog.group(named: "user_spend")
      var states: [String: [AggregationState]] = [:]
      var stored = 0
      for e in entities {
        let events = try store.shard.history(entityID: e, group: stream)
        stored += events.count
        states[e] = try stream.spec.features.map { field in
          var state = AggregationState(fieldType: AggregateFieldType(field.dtype)!, tiling: .rawEvents)
          let index = stream.featureIndex(named: field.name)!
          for row in events {
            try state.insert(AggregationEvent(eventTime: row.eventTime, createdTime: row.createdTime, sequence: row.sequence, value: row.values[index]))
          }
          return state
        }
      }
      #expect(stored == pushed, "every pushed event is stored once")
      func expected(_ entity: String, at time: Timestamp, knownAt: Timestamp?) -> [FeatureResult] {
        group.spec.features.map { f in
          let a = f.aggregation!
          let field = stream.featureIndex(named: a.field)!
          let spec = try! AggregateSpec(function: a.function, fieldType: AggregateFieldType(stream.spec.features[field].dtype)!, window: a.window)
          return states[entity]![field].value(of: spec, at: time, knownAt: knownAt).featureResult(defaultValue: f.defaultValue)
        }
      }
      let columns = try store.resolve([FeatureRef(group: "user_spend", version: nil, feature: nil)])
      let end = clock.now
      var labels: [LabelRow] = []
      for _ in 0..<60 {
        let time = end.subtracting(microseconds: Int64(rng.below(9_000_000_000)))
        let knownAt: Timestamp? = rng.oneIn(2) ? nil : time.subtracting(microseconds: Int64(rng.below(1_800_000_000)) - 300_000_000)

        labels.append(LabelRow(entityID: rng.element(of: entities + ["nobody"]), time: time, knownAt: knownAt))
      }
      let rowWise = try await store.historical(labels: labels, columns: columns)
      let columnar = try await store.historicalColumns(labels: labels, columns: columns)
      for (i, label) in labels.enumerated() {
        let want = label.entityID == "nobody"
          ? expectedEmpty(group) : expected(label.entityID, at: label.time, knownAt: label.knownAt)
        #expect(rowWise[i] == want, "label \(i) \(label) \(rng.seedDescription)")
        #expect(columns.indices.map { columnar[$0].result(at: i, dtype: columns[$0].feature.dtype) } == want, "columnar label \(i) \(label) \(rng.seedDescription)")
      }
      // The columnar export's fast path: the same labels answered from the stream's image (every
      // stored event in memory, ties included), through in-memory tiles and through raw events.
      let use = try #require(try store.shard.imageForJoin(stream, labels: .max, policy: imagesAlways))
      #expect(use.touched.isEmpty && use.image.rowCount == stored, "the image holds every stored event")
      let probes = labels.map { AsOfProbe(entityID: $0.entityID, asOf: $0.time, knownAt: $0.knownAt) }
      let fromStorage = try AggregateRows.rows(probes, group: group, stream: stream, shard: store.shard)
      for tiles in [true, false] {
        let fromImage = try AggregateRows.rows(probes, group: group, stream: stream, shard: store.shard, image: use, imageTiles: tiles)
        #expect(fromImage == fromStorage, "image rows (tiles: \(tiles)) \(rng.seedDescription)")
      }
      // Online at T (the clock set to T) and an export of that one label: what the state gives at T.
      // (One label per read: a read of many labels of an entity scans from its earliest window on.)
      var nonEmpty = 0
      for label in labels.prefix(30) where label.entityID != "nobody" {
        clock.set(label.time)
        let want = expected(label.entityID, at: label.time, knownAt: nil)
        if want[2].value != .float(0) { nonEmpty += 1 }
        let online = try await store.online(entityIDs: [label.entityID], columns: columns)[0]
        #expect(online == want, "online at \(label.time) \(rng.seedDescription)")
        let single = [LabelRow(entityID: label.entityID, time: label.time, knownAt: label.knownAt)]
        #expect(try await store.historical(labels: single, columns: columns)[0] == expected(label.entityID, at: label.time, knownAt: label.knownAt),
          "export of one label at \(label.time) \(rng.seedDescription)")
      }
      #expect(nonEmpty >= 5, "the labels must mostly see events (\(nonEmpty) did)")
    }
  }

  @Test("a full tile of fewer than 4 events (as stores written before sparse tiles hold) is read as it is, and the next events make it sparse or merge into it; a sparse tile that does not decode is an internal error", arguments: EngineKind.allCases)
  func fullTilesBelowTheSparseCount(kind: EngineKind) async throws {
    try await withStreamStore(kind, flush: .immediate) { store, clock in
      // Events within the first hours of a day (at(0) is not midnight): every one in the same 1 d tile.
      clock.set(Timestamp(microseconds: (at(2 * 86_400).microseconds / 86_400_000_000) * 86_400_000_000 + 7_200_000_000))
      let stream = try store.catalog.group(named: "purchases")
      let columns = try store.resolve([FeatureRef(group: "user_spend", version: nil, feature: nil)])
      let types = StreamTiles.fieldTypes(stream)
      func push(_ entity: String, _ amounts: [Double], minutesBack: Int64) async throws {
        let rows = amounts.enumerated().map { k, amount in
          WriteRequest.Row(
            entityID: entity, eventTime: clock.now.subtracting(microseconds: (minutesBack - Int64(k)) * 60_000_000),
            values: [.float(amount), .int(Int64(k)), .string("t\(k)")])
        }
        _ = try await store.write(WriteRequest(group: "purchases", features: ["amount", "n", "tag"], rows: rows, events: true))
      }
      func dayTile(_ entity: String) throws -> [UInt8] {
        let first = try #require(try store.shard.history(entityID: entity, group: stream).first)
        return KeyCodec.tileKey(
          entityID: entity, stream: stream.storageID, level: 0,
          index: AggregationState.tileIndex(of: first.eventTime, width: StreamTiles.tiling.widths[0]))
      }
      func state(_ entity: String) throws -> [AggregationState] {
        let events = try store.shard.history(entityID: entity, group: stream)
        return try types.indices.map { f in
          var state = AggregationState(fieldType: types[f], tiling: .rawEvents)
          for row in events {
            try state.insert(AggregationEvent(eventTime: row.eventTime, createdTime: row.createdTime, sequence: row.sequence, value: row.values[f]))
          }
          return state
        }
      }
      func expected(_ entity: String) throws -> [FeatureResult] {
        let states = try state(entity)
        let group = try store.catalog.group(named: "user_spend")
        return group.spec.features.map { f in
          let a = f.aggregation!
          let field = stream.featureIndex(named: a.field)!
          let spec = try! AggregateSpec(function: a.function, fieldType: types[field], window: a.window)
          return states[field].value(of: spec, at: clock.now, knownAt: nil).featureResult(defaultValue: f.defaultValue)
        }
      }
      // Two events: a sparse tile of 2.
      try await push("s1", [5, 7], minutesBack: 30)
      #expect(try store.shard.engine.get(dayTile("s1"), in: .tiles) == StreamTile.sparse(eventCount: 2).encoded())
      // What an older store holds instead: the full tile of the same 2 events. Read as it is.
      let full = StreamTile.full(StreamTile.partials(of: try store.shard.history(entityID: "s1", group: stream), types: types))
      var legacy = WriteBatch()
      legacy.put(try dayTile("s1"), full.encoded(), in: .tiles)
      try store.shard.engine.write(legacy)
      store.shard.aggregateRows.invalidate(stream: stream.storageID, entityIDs: ["s1"])
      #expect(try await store.online(entityIDs: ["s1"], columns: columns)[0] == expected("s1"))
      // The writer adds to it as to any tile: one event more, 3, makes it sparse; two more, 4, a full
      // tile of the 4 events (the old partials merged with the new events).
      let key = try dayTile("s1")
      let stored = try store.shard.history(entityID: "s1", group: stream)
      let latest = stored.last!.eventTime
      func event(_ minutes: Int64, _ amount: Double) -> StreamTiles.NewEvent {
        ("s1", StoredRow(eventTime: latest.adding(microseconds: minutes * 60_000_000), createdTime: clock.now, sequence: UInt64(100 + minutes), values: [.float(amount), nil, nil]), latest)
      }
      let one = try StreamTiles.add([event(1, 1)], stream: stream, engine: store.shard.engine, buffer: StreamTileBuffer(generation: 0), cache: StreamTiles.Cache())
      #expect(one.count == 1 && one[0].key == key && one[0].change == .set(.sparse(eventCount: 3)))
      let two = [event(1, 1), event(2, 2)]
      let merged = try StreamTiles.add(two, stream: stream, engine: store.shard.engine, buffer: StreamTileBuffer(generation: 0), cache: StreamTiles.Cache())
      #expect(merged.count == 1 && merged[0].key == key)
      #expect(merged[0].change == .set(.full(StreamTile.partials(of: stored + two.map(\.row), types: types))))
      // A sparse tile's stored form is exact; anything else under its marker does not decode.
      #expect(try StreamTile.sparseCount(StreamTile.sparse(eventCount: 3).encoded()) == 3)
      #expect(try StreamTile.sparseCount(full.encoded()) == nil)
      for bad: [UInt8] in [[0xFF, 0xFF], [0xFF, 0xFF, 0, 0], [0xFF, 0xFF, 0, 4], [0xFF, 0xFF, 0, 1, 0]] {
        #expect(throws: StrataError.self) { _ = try StreamTile.sparseCount(bad) }
      }
    }
  }

  @Test("online rows from the aggregate row cache equal fresh reads while events arrive, time passes (to the instants events leave windows) and events expire; with a history image of the stream too (rebuilt now and then, stale in between)", arguments: EngineKind.allCases, [false, true])
  func cachedOnlineRowsStayExact(kind: EngineKind, image: Bool) async throws {
    var rng = SplitMix64.forTest("StreamAggregationTests.cachedOnlineRowsStayExact.\(kind).\(image)")
    try await withStreamStore(kind) { store, clock in
      clock.set(at(3 * 86_400))
      let entities = ["c1", "c2", "c3", "c4"]
      let stream = try store.catalog.group(named: "purchases")
      let group = try store.catalog.group(named: "user_spend")
      let columns = try store.resolve([FeatureRef(group: "user_spend", version: nil, feature: nil)])
      let windows: [Int64] = [60, 300, 600, 3_600, 86_400].map { $0 * 1_000_000 }
      let hitsBefore = store.shard.aggregateRows.counters.hits
      // Lookups read the image for entities not written since its scan (a rebuild whenever anything was).
      let rebuildWhenStale = HistoryImagePolicy(budgetBytes: 1 << 30, minLabelsToBuild: 1, maxStaleFraction: 0)
      var imageReads = 0
      for step in 0..<250 {
        if image && rng.oneIn(8) { _ = try store.shard.imageForJoin(stream, labels: .max, policy: rebuildWhenStale) }
        if let use = store.shard.images.existing(stream.storageID) {
          imageReads += entities.filter { use.holds(EntityToken.of($0)) }.count
        }
        switch rng.below(10) {
        case 0...2:
          // Events, some late (up to two days back), some exactly at now.
          let rows = (0..<(1 + rng.below(6))).map { _ in
            WriteRequest.Row(
              entityID: rng.element(of: entities),
              eventTime: rng.oneIn(4)
                ? clock.now.adding(microseconds: rng.oneIn(2) ? 0 : Int64(rng.below(30_000_000)))  // now, or ahead (within the skew)
                : clock.now.subtracting(microseconds: Int64(rng.below(2 * 86_400)) * 1_000_000),
              values: [rng.oneIn(5) ? nil : .float(Double(rng.below(1_000))), .int(Int64(rng.below(9))), .string("t\(rng.below(3))")])
          }
          _ = try await store.write(WriteRequest(group: "purchases", features: ["amount", "n", "tag"], rows: rows, events: true))
        case 3...4:
          // To the instant a stored event leaves a window, or just before or after it.
          let e = rng.element(of: entities)
          let events = try store.shard.history(entityID: e, group: stream)
          if let event = events.isEmpty ? nil : rng.element(of: events) {
            let leaves = event.eventTime.adding(microseconds: rng.element(of: windows) + Int64(rng.below(3)) - 1)
            if leaves > clock.now { clock.set(leaves) }
          }
        case 5:
          if rng.oneIn(10) {
            _ = try store.shard.expireEvents(of: stream, before: LocalShard.retentionCutoff(now: clock.now, retentionSeconds: 86_400))
          } else if rng.oneIn(3) {
            // An entity leaves the node (a range transfer's cleanup): its events and tiles go.
            let token = EntityToken.of(rng.element(of: entities))
            _ = try store.shard.removeEntities { $0 == token }
          }
        case 6:
          // To the instant of a stored event still ahead of the clock, or next to it.
          let ahead = try entities.flatMap { try store.shard.history(entityID: $0, group: stream) }.filter { $0.eventTime > clock.now }
          if let event = ahead.isEmpty ? nil : rng.element(of: ahead) {
            clock.set(event.eventTime.adding(microseconds: Int64(rng.below(3)) - 1))
          }
        default:
          clock.advance(microseconds: rng.oneIn(3) ? Int64(rng.below(1_000)) : Int64(rng.below(900_000_000)))
        }
        let online = try await store.online(entityIDs: entities, columns: columns)
        let fresh = try AggregateRows.rows(
          entities.map { AsOfProbe(entityID: $0, asOf: clock.now) }, group: group, stream: stream, shard: store.shard)
        let cachedRows = try AggregateRows.rows(
          entities.map { AsOfProbe(entityID: $0, asOf: clock.now) }, group: group, stream: stream, shard: store.shard,
          cache: store.shard.aggregateRows,
          cached: store.shard.aggregateRows.rows(stream: stream.storageID, group: group.storageID, entityIDs: entities, at: clock.now),
          existingImage: true)
        for (i, e) in entities.enumerated() {
          #expect(cachedRows[i] == fresh[i], "step \(step), \(e) at \(clock.now) \(rng.seedDescription)")
          let want = FeatureStore.assemble(count: 1, columns: columns, rowsByGroup: [group.storageID: [fresh[i]]]) { _ in clock.now }[0]
          #expect(online[i] == want, "step \(step), \(e) at \(clock.now) \(rng.seedDescription)")
        }
        // Cached and fresh rows read the same tiles: check those against the events (writes after removals and expiries).
        try expectTilesMatchHistory(store, stream: stream, entities: entities, "step \(step) \(rng.seedDescription)")
      }
      #expect(store.shard.aggregateRows.counters.hits - hitsBefore > 200, "the lookups must mostly be answered from the cache")
      if image { #expect(imageReads > 200, "entity lookups with the image current: \(imageReads)") }
    }
  }

  @Test("a store opened again builds the images of its streams in the background when asked (what a node does at start), not those of row groups or small streams")
  func streamImagesAtStart() async throws {
    let engine = InMemoryEngine()
    let policy = HistoryImagePolicy(
      budgetBytes: 1 << 30, minLabelsToBuild: 1, maxStaleFraction: 0.02, prebuildAfterQuietSeconds: 0.05, prebuildMinRows: 100)
    let clock = ManualClock(at(86_400))
    do {
      let store = try FeatureStore(engine: engine, imagePolicy: policy, clock: clock.function)
      _ = try await store.apply(streamSpecs)
      let events = (0..<150).map { k in
        WriteRequest.Row(entityID: "u\(k % 7)", eventTime: clock.now.subtracting(microseconds: Int64(k) * 1_000_000), values: [.float(1), .int(1), nil])
      }
      _ = try await store.write(WriteRequest(group: "purchases", features: ["amount", "n", "tag"], rows: events, events: true))
      let rows = (0..<150).map { k in WriteRequest.Row(entityID: "u\(k)", eventTime: clock.now, values: [.float(1)]) }
      _ = try await store.write(WriteRequest(group: "plain", features: ["x"], rows: rows))
    }
    let store = try FeatureStore(engine: engine, imagePolicy: policy, clock: clock.function)
    #expect(store.historyImages.images == 0)
    #expect(store.prebuildStreamImages() == 1, "one stream version has at least 100 events; the row group is not a stream")
    let deadline = ContinuousClock.now + .seconds(20)
    while store.historyImages.images == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
    let stream = try store.catalog.group(named: "purchases")
    let use = try #require(store.shard.images.existing(stream.storageID), "the stream's image was built")
    #expect(use.image.rowCount == 150 && store.historyImages.images == 1)
    let noImages = try FeatureStore(engine: engine, imagePolicy: .disabled, clock: clock.function)
    #expect(noImages.prebuildStreamImages() == 0)
  }

  @Test("exports and background builds asking for a stale image at once build it once (a second build would lose the first one's record of writes)")
  func concurrentImageBuilds() async throws {
    try await withStreamStore(.memory, imagePolicy: onlyWhenAsked) { store, clock in
      clock.set(at(86_400))
      let stream = try store.catalog.group(named: "purchases")
      let rebuildWhenStale = HistoryImagePolicy(budgetBytes: 1 << 30, minLabelsToBuild: 1, maxStaleFraction: 0, maxDeltaFraction: 0)
      for round in 0..<30 {
        let rows = (0..<200).map { k in
          WriteRequest.Row(entityID: "u\(k)", eventTime: clock.now.subtracting(microseconds: Int64(round * 1_000 + k)), values: [.float(1), .int(1), nil])
        }
        _ = try await store.write(WriteRequest(group: "purchases", features: ["amount", "n", "tag"], rows: rows, events: true))
        let before = store.historyImages.builds
        let shard = store.shard
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
          _ = try? shard.imageForJoin(stream, labels: .max, policy: rebuildWhenStale)
        }
        #expect(store.historyImages.builds == before + 1, "round \(round): \(store.historyImages.builds - before) builds")
        #expect(store.shard.images.existing(stream.storageID)?.image.rowCount == 200 * (round + 1))
      }
    }
  }

  @Test("stored tiles equal the tiles of the stored events after copies (retries, hints, transfers) and a removal, byte for byte", arguments: EngineKind.allCases, TileFlush.allCases)
  func tilesMatchHistory(kind: EngineKind, flush: TileFlush) async throws {
    var rng = SplitMix64.forTest("StreamAggregationTests.tilesMatchHistory.\(kind).\(flush)")
    try await withStreamStore(kind, flush: flush) { store, clock in
      let entities = (0..<12).map { "e\($0)" }
      for _ in 0..<15 {
        clock.advance(microseconds: Int64(rng.below(120_000_000)))
        let rows = (0..<(1 + rng.below(40))).map { _ in
          WriteRequest.Row(
            entityID: rng.element(of: entities), eventTime: clock.now.subtracting(microseconds: Int64(rng.below(30_000_000_000))),
            values: [rng.oneIn(5) ? nil : .float(Double(rng.below(1_000))), .int(Int64(rng.below(9))), rng.oneIn(3) ? nil : .string("t\(rng.below(3))")])
        }
        _ = try await store.write(WriteRequest(group: "purchases", features: ["amount", "n", "tag"], rows: rows, events: true))
      }
      let stream = try store.catalog.group(named: "purchases")
      // Copies of stored events (as replicas, hints, repairs and transfers deliver them), several in
      // one batch, some twice, mixed with new events that carry ids too.
      var copies: [RowToStore] = []
      for e in entities {
        for row in try store.shard.history(entityID: e, group: stream) where rng.oneIn(2) {
          let copy = RowToStore(entityID: e, eventTime: row.eventTime, createdTime: row.createdTime, values: row.values, writeID: WriteID(rawValue: row.sequence))
          copies.append(copy)
          if rng.oneIn(4) { copies.append(copy) }
        }
      }
      let extra = store.shard.assignWriteIDs(5, now: clock.now).map {
        RowToStore(entityID: "e0", eventTime: clock.now.subtracting(microseconds: 7_000_000), createdTime: clock.now, values: [.float(1), nil, nil], writeID: $0)
      }
      _ = try store.shard.append(copies.shuffled(using: &rng) + extra, to: stream, now: clock.now)
      try expectTilesMatchHistory(store, stream: stream, entities: entities, rng.seedDescription)
      // Removing the entities of some tokens removes their tiles too.
      let removed = Set(entities.prefix(4).map { EntityToken.of($0) })
      _ = try store.shard.removeEntities { removed.contains($0) }
      try expectTilesMatchHistory(store, stream: stream, entities: entities, rng.seedDescription)
      #expect(try tileKeys(store).allSatisfy { key in !removed.contains(key.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) })
    }
  }

  @Test("in-order batches whose latest stored event sits exactly on a tile's first instant, at every width, add to that tile (a write reads every tile that can be stored)", arguments: EngineKind.allCases)
  func tilesAtTheirFirstInstant(kind: EngineKind) async throws {
    try await withStreamStore(kind) { store, clock in
      let stream = try store.catalog.group(named: "purchases")
      let day: Int64 = 86_400_000_000
      // A day boundary after `base`, then one batch per event: 20 events (past `finerTilesFrom`, so
      // the finer widths are kept) each exactly at the start of a tile of some width, then events
      // later in the same tiles.
      let start = (base.microseconds / day + 1) * day
      let offsets: [Int64] = (0..<20).map { Int64($0) * 60_000_000 } + [600_000_000, 3_600_000_000, 21_600_000_000]
      var times = offsets.map { start + $0 }
      times += times.map { $0 + 1 }
      clock.set(Timestamp(microseconds: start + day - 1))
      for (k, t) in times.sorted().enumerated() {
        _ = try await store.write(WriteRequest(
          group: "purchases", features: ["amount", "n", "tag"],
          rows: [WriteRequest.Row(entityID: "e", eventTime: Timestamp(microseconds: t), values: [.float(1), .int(1), nil])], events: true))
        // Tiles written after every other event: the next write finds its tiles stored, or not yet written.
        try expectTilesMatchHistory(store, stream: stream, entities: ["e"], "after the event at \(t - start) µs", flush: k % 2 == 0)
      }
    }
  }

  @Test("retention deletes the events before a 1-day boundary, their tiles and emptied online rows; what stays is exactly the newer events", arguments: EngineKind.allCases)
  func retention(kind: EngineKind) async throws {
    var rng = SplitMix64.forTest("StreamAggregationTests.retention.\(kind)")
    try await withStreamStore(kind) { store, clock in
      clock.set(at(4 * 86_400))
      let entities = (0..<10).map { "r\($0)" }
      var rows: [WriteRequest.Row] = []
      for _ in 0..<600 {
        let entity = rng.element(of: entities)
        // r0 only has events older than 3 days: all of them expire.
        let back = entity == "r0" ? 3 * 86_400 + Int64(rng.below(86_400)) : Int64(rng.below(3 * 86_400))
        rows.append(WriteRequest.Row(entityID: entity, eventTime: clock.now.subtracting(microseconds: back * 1_000_000), values: [.float(Double(rng.below(100))), .int(1), nil]))
      }
      _ = try await store.write(WriteRequest(group: "purchases", features: ["amount", "n", "tag"], rows: rows, events: true))
      let stream = try store.catalog.group(named: "purchases")
      let columns = try store.resolve([FeatureRef(group: "user_spend", version: nil, feature: nil)])
      let before = try await store.online(entityIDs: entities, columns: columns)
      // A retention of 2 days: the cutoff is now - 2 d rounded down to a 1-day tile.
      let cutoff = LocalShard.retentionCutoff(now: clock.now, retentionSeconds: 2 * 86_400)
      #expect(cutoff.microseconds % 86_400_000_000 == 0 && cutoff <= clock.now.subtracting(microseconds: 2 * 86_400_000_000))
      #expect(cutoff > clock.now.subtracting(microseconds: 3 * 86_400_000_000))
      // A retention too long for microseconds keeps everything (it once wrapped to a cutoff in the future).
      #expect(LocalShard.retentionCutoff(now: clock.now, retentionSeconds: 10_000_000_000_000) == .min)
      #expect(LocalShard.retentionCutoff(now: clock.now, retentionSeconds: .max) == .min)
      var kept = 0
      for e in entities { kept += try store.shard.history(entityID: e, group: stream).filter { $0.eventTime >= cutoff }.count }
      let deleted = try store.shard.expireEvents(of: stream, before: cutoff)
      #expect(deleted == rows.count - kept)
      var remaining = 0
      for e in entities {
        let events = try store.shard.history(entityID: e, group: stream)
        #expect(events.allSatisfy { $0.eventTime >= cutoff }, "\(e) \(rng.seedDescription)")
        remaining += events.count
      }
      #expect(remaining == kept && store.shard.writeStats[stream.storageID]?.rowsTotal == UInt64(kept))
      try expectTilesMatchHistory(store, stream: stream, entities: entities, rng.seedDescription)
      #expect(try store.shard.onlineRows(entityIDs: ["r0", "r1"], group: stream).map { $0 == nil } == [true, false])
      // Windows shorter than the retention read the same values as before.
      #expect(try await store.online(entityIDs: entities, columns: columns) == before)
      // Nothing left to delete.
      #expect(try store.shard.expireEvents(of: stream, before: cutoff) == 0)
    }
  }

  @Test("a store reopened after a kill (tiles not yet written, or some of them) makes the tiles the journal names again: the same tiles and reads as before, no journal left", arguments: EngineKind.allCases, TileFlush.allCases)
  func journalReplay(kind: EngineKind, flush: TileFlush) async throws {
    var rng = SplitMix64.forTest("StreamAggregationTests.journalReplay.\(kind).\(flush)")
    try await withStoreDirectory { path in
      let memory = InMemoryEngine()
      let clock = ManualClock(at(0))
      func open() async throws -> FeatureStore {
        if kind == .memory { return try FeatureStore(engine: memory, clock: clock.function) }
        return try FeatureStore(engine: try await openRetryingLock(kind, at: path), clock: clock.function)
      }
      let entities = (0..<6).map { "k\($0)" }
      let columns: [ResolvedFeature]
      let before: [[FeatureResult]]
      let left: Int
      do {
        let store = try await open()
        _ = try await store.apply(streamSpecs)
        #expect(store.tileJournalReplay == (0, 0, 0))
        // Some appends written with their tiles, the later ones not: the kill finds both.
        store.shard.setStreamTileFlush(flush.policy)
        for k in 0..<12 {
          if k == 6 { try store.shard.flushStreamTiles() }
          clock.advance(microseconds: Int64(rng.below(60_000_000)))
          // k0 is busy (finer tiles made whole from its stored events during the replay); late events too.
          let rows = (0..<(1 + rng.below(40))).map { _ in
            WriteRequest.Row(
              entityID: rng.oneIn(2) ? "k0" : rng.element(of: entities),
              eventTime: clock.now.subtracting(microseconds: Int64(rng.below(rng.oneIn(5) ? 86_400_000_000 : 600_000_000))),
              values: [.float(Double(rng.below(1_000)) / 8), .int(Int64(rng.below(9))), rng.oneIn(3) ? nil : .string("t\(rng.below(3))")])
          }
          _ = try await store.write(WriteRequest(group: "purchases", features: ["amount", "n", "tag"], rows: rows, events: true))
        }
        columns = try store.resolve([FeatureRef(group: "user_spend", version: nil, feature: nil)])
        before = try await store.online(entityIDs: entities, columns: columns)
        left = try journalRecords(store)
        // (`capped` and `wholeWhenCapped` may have just written everything.)
        if flush == .behind || flush == .trickle { #expect(left > 0, "\(rng.seedDescription)") }
        // Written behind with the tiles: some online rows the kill finds not stored yet.
        if flush == .behind {
          let stream = try store.catalog.group(named: "purchases")
          let stale = try entities.filter { e in
            let stored = try store.shard.engine.get(KeyCodec.onlineKey(entityID: e, groupVersion: stream.storageID), in: .online)
            return try stored.map { try OnlineValue.decode($0, dtypes: stream.dtypes) } != store.shard.onlineRows(entityIDs: [e], group: stream)[0]
          }
          #expect(!stale.isEmpty, "\(rng.seedDescription)")
        }
        if flush == .immediate { #expect(left == 0) }
        // Killed: the store goes without `endRunCleanly`, its dirty tiles with it.
      }
      let store = try await open()
      #expect(store.tileJournalReplay.records == left && store.tileJournalReplay.skipped == 0, "\(store.tileJournalReplay)")
      #expect(try journalRecords(store) == 0)
      let stream = try store.catalog.group(named: "purchases")
      try expectTilesMatchHistory(store, stream: stream, entities: entities, rng.seedDescription)
      #expect(try await store.online(entityIDs: entities, columns: columns) == before, "\(rng.seedDescription)")
      // A clean stop writes the dirty tiles: the next start has nothing to replay.
      _ = try await store.write(WriteRequest(
        group: "purchases", features: ["amount", "n", "tag"],
        rows: [WriteRequest.Row(entityID: "k1", eventTime: clock.now, values: [.float(1), .int(1), nil])], events: true))
      #expect(try journalRecords(store) == 1)  // (the reopened store has the node's policy)
      try store.endRunCleanly()
      #expect(try journalRecords(store) == 0)
    }
  }

  @Test("empty windows: count and sum 0 PRESENT, avg/min/max/last MISSING or the default (DEFAULTED); no event time", arguments: EngineKind.allCases)
  func emptyWindows(kind: EngineKind) async throws {
    try await withStreamStore(kind) { store, clock in
      clock.set(at(10_000))
      _ = try await store.write(
        WriteRequest(group: "purchases", features: ["amount"], rows: [WriteRequest.Row(entityID: "u1", eventTime: at(100), values: [.float(2.5)])], events: true))
      let columns = try store.resolve([FeatureRef(group: "user_spend", version: nil, feature: nil)])
      let names = columns.map(\.feature.name)
      let online = try await store.online(entityIDs: ["u1"], columns: columns)[0]
      let byName = Dictionary(uniqueKeysWithValues: zip(names, online))
      #expect(byName["spend_1m"] == FeatureResult(value: .float(0), status: .present, eventTime: nil))
      #expect(byName["events_1m"] == FeatureResult(value: .int(0), status: .present, eventTime: nil))
      #expect(byName["avg_1h"] == FeatureResult(value: nil, status: .missing, eventTime: nil))
      #expect(byName["max_n_1d"] == FeatureResult(value: .int(-1), status: .defaulted, eventTime: nil))
      // The 1 d window at 10,000 s still holds the event at 100 s.
      #expect(byName["last_tag_1d"] == FeatureResult(value: nil, status: .missing, eventTime: nil))  // its tag is null
      #expect(byName["spend_1d"] == FeatureResult(value: .float(2.5), status: .present, eventTime: nil))
    }
  }

  @Test("an export spread over threads gives exactly the rows of one thread, for entities with few and with many labels", arguments: EngineKind.allCases)
  func parallelExportEqualsSequential(kind: EngineKind) async throws {
    var rng = SplitMix64.forTest("StreamAggregationTests.parallelExportEqualsSequential.\(kind)")
    // No background image builds: the test builds the one image it reads and keeps it while stale.
    try await withStreamStore(kind, imagePolicy: onlyWhenAsked) { store, clock in
      clock.set(at(5 * 86_400))
      // 300 entities; u0 is busy (a third of the events), the rest share the others.
      let entities = (0..<300).map { "u\($0)" }
      for _ in 0..<6 {
        let rows = (0..<2_000).map { _ in
          WriteRequest.Row(
            entityID: rng.oneIn(3) ? "u0" : rng.element(of: entities),
            eventTime: clock.now.subtracting(microseconds: Int64(rng.below(4 * 86_400)) * 1_000_000),
            values: [rng.oneIn(7) ? nil : .float(Double(rng.below(100_000)) / 7), .int(Int64(rng.below(50))), .string("t\(rng.below(4))")])
        }
        _ = try await store.write(WriteRequest(group: "purchases", features: ["amount", "n", "tag"], rows: rows, events: true))
      }
      let stream = try store.catalog.group(named: "purchases")
      let group = try store.catalog.group(named: "user_spend")
      // Above the parallel threshold; a third of the entities get 1 or 2 labels (answered from stored
      // tiles), the others more (from their scanned events); some labels with a known-at time.
      var probes: [AsOfProbe] = []
      for (k, e) in entities.enumerated() {
        let n = k % 3 == 0 ? 1 + rng.below(2) : 3 + rng.below(40)
        for _ in 0..<n {
          let t = clock.now.subtracting(microseconds: Int64(rng.below(4 * 86_400_000)) * 1_000)
          probes.append(AsOfProbe(entityID: e, asOf: t, knownAt: rng.oneIn(5) ? t.subtracting(microseconds: Int64(rng.below(3_600)) * 1_000_000) : nil))
        }
      }
      while probes.count < AggregateRows.parallelThreshold + 100 {
        probes.append(AsOfProbe(entityID: "u0", asOf: clock.now.subtracting(microseconds: Int64(rng.below(4 * 86_400)) * 1_000_000)))
      }
      probes.shuffle(using: &rng)
      let sequential = try AggregateRows.rows(probes, group: group, stream: stream, shard: store.shard, parallelism: 1)
      let parallel = try AggregateRows.rows(probes, group: group, stream: stream, shard: store.shard, parallelism: 3)
      #expect(parallel.count == probes.count)
      #expect(parallel.allSatisfy { $0 != nil })
      let differing = probes.indices.filter { parallel[$0] != sequential[$0] }
      #expect(differing.isEmpty, "\(differing.count) rows differ, e.g. probe \(differing.first.map { "\(probes[$0])" } ?? "") \(rng.seedDescription)")
      // From the stream's image: the same rows, in parallel too, each entity by the cheaper reads.
      let use = try #require(try store.shard.imageForJoin(stream, labels: .max, policy: imagesAlways))
      let fromImage = try AggregateRows.rows(probes, group: group, stream: stream, shard: store.shard, parallelism: 3, image: use)
      let differingImage = probes.indices.filter { fromImage[$0] != sequential[$0] }
      #expect(differingImage.isEmpty, "\(differingImage.count) image rows differ \(rng.seedDescription)")
      // And the sequential rows are those of the in-memory oracle state for a sample.
      for i in probes.indices where i % 97 == 0 {
        let p = probes[i]
        let fresh = try AggregateRows.rows([p], group: group, stream: stream, shard: store.shard)
        #expect(fresh[0] == sequential[i], "probe \(p) \(rng.seedDescription)")
      }
      // Events written after the image's scan: held beside it (its delta), read with it.
      // (Besides the probes above, one at the clock's time for each of those entities, which the new event changes.)
      let extra = (1...5).map { AsOfProbe(entityID: "u\($0)", asOf: clock.now) }
      let extraBefore = try AggregateRows.rows(extra, group: group, stream: stream, shard: store.shard)
      let late = (1...5).map { k in
        WriteRequest.Row(entityID: "u\(k)", eventTime: clock.now.subtracting(microseconds: Int64(k) * 3_600_000_000), values: [.float(1e6), .int(1), .string("late")])
      }
      _ = try await store.write(WriteRequest(group: "purchases", features: ["amount", "n", "tag"], rows: late, events: true))
      let stale = try #require(try store.shard.imageForJoin(stream, labels: .max, policy: imagesAlways))
      #expect(stale.image === use.image && stale.touched.isEmpty && stale.delta.rowCount == 5)
      let all = probes + extra
      let now = try AggregateRows.rows(all, group: group, stream: stream, shard: store.shard, parallelism: 1)
      let mixed = try AggregateRows.rows(all, group: group, stream: stream, shard: store.shard, parallelism: 3, image: stale)
      #expect(extra.indices.allSatisfy { now[probes.count + $0] != extraBefore[$0] }, "the late events change these rows")
      let differingMixed = all.indices.filter { mixed[$0] != now[$0] }
      #expect(differingMixed.isEmpty, "\(differingMixed.count) rows differ after writes \(rng.seedDescription)")
    }
  }

  @Test("entity ids that Swift calls equal (canonically equivalent) but whose bytes differ are two entities, also when answered from the row cache", arguments: EngineKind.allCases)
  func canonicallyEquivalentIDs(kind: EngineKind) async throws {
    try await withStreamStore(kind) { store, clock in
      clock.set(at(10_000))
      let (composed, decomposed) = ("caf\u{E9}", "cafe\u{301}")
      #expect(composed == decomposed)
      _ = try await store.write(
        WriteRequest(
          group: "purchases", features: ["amount"],
          rows: [
            WriteRequest.Row(entityID: composed, eventTime: at(9_000), values: [.float(1)]),
            WriteRequest.Row(entityID: decomposed, eventTime: at(9_100), values: [.float(10)]),
            WriteRequest.Row(entityID: decomposed, eventTime: at(9_200), values: [.float(100)]),
          ], events: true))
      let columns = try store.resolve([FeatureRef(group: "user_spend", version: nil, feature: "spend_1h")])
      let hits = store.shard.aggregateRows.counters.hits
      for _ in 0..<3 {  // computed, then from the cache, in both orders
        let online = try await store.online(entityIDs: [composed, decomposed], columns: columns)
        #expect(online.map { $0[0].value } == [.float(1), .float(110)])
        let reversed = try await store.online(entityIDs: [decomposed, composed], columns: columns)
        #expect(reversed.map { $0[0].value } == [.float(110), .float(1)])
      }
      #expect(store.shard.aggregateRows.counters.hits - hits >= 8)
    }
  }

  @Test("writes: WriteFeatures to a stream and any write to an aggregate group are FAILED_PRECONDITION; events to a row group too", arguments: EngineKind.allCases)
  func writeRouting(kind: EngineKind) async throws {
    try await withStreamStore(kind) { store, clock in
      clock.set(at(1_000))
      let row = WriteRequest.Row(entityID: "u1", eventTime: at(10), values: [.float(1)])
      for (request, fragment) in [
        (WriteRequest(group: "purchases", features: ["amount"], rows: [row]), "is a stream"),
        (WriteRequest(group: "user_spend", features: ["spend_1m"], rows: [row], events: true), "accepts no writes"),
        (WriteRequest(group: "plain", features: ["x"], rows: [row], events: true), "not a stream"),
      ] {
        do {
          _ = try await store.write(request)
          Issue.record("\(request.group) accepted the write")
        } catch let error as StrataError {
          #expect(error.code == .failedPrecondition && error.message.contains(fragment), "\(error)")
        }
      }
      #expect(store.shard.writeStats.values.allSatisfy { $0.rowsTotal == 0 })
    }
  }

  @Test("an idempotency stamp stores a retried batch once: same created time and write ids, rowsTotal unchanged", arguments: EngineKind.allCases)
  func stampedRetryStoredOnce(kind: EngineKind) async throws {
    try await withStreamStore(kind) { store, clock in
      clock.set(at(1_000))
      let rows = (0..<5).map { WriteRequest.Row(entityID: "u\($0 % 2)", eventTime: at(900 + Int64($0)), values: [.float(Double($0))]) }
      let request = WriteRequest(group: "purchases", features: ["amount"], rows: rows, events: true)
      guard case .apply(let stamp) = try await store.claimIdempotencyKey("k1", digest: 7, count: 5) else {
        Issue.record("a new key must be applied")
        return
      }
      _ = try await store.write(stamp: stamp) { request }
      // The answer was lost: the claim ends without `complete`.
      store.idempotency.release(key: "k1")
      clock.advance(microseconds: 5_000_000)
      // The retry (say the answer was lost): same stamp, later clock.
      guard case .apply(let again) = try await store.claimIdempotencyKey("k1", digest: 7, count: 5) else {
        Issue.record("an unfinished key must be applied again with its stamp")
        return
      }
      #expect(again == stamp)
      _ = try await store.write(stamp: again) { request }
      let stream = try store.catalog.group(named: "purchases")
      let stored = try store.shard.history(entityID: "u0", group: stream) + store.shard.history(entityID: "u1", group: stream)
      #expect(stored.count == 5)
      #expect(Set(stored.map(\.createdTime)) == [stamp.createdTime])
      #expect(Set(stored.map(\.sequence)) == Set(stamp.writeIDs.map(\.rawValue)))
      #expect(store.shard.writeStats[stream.storageID]?.rowsTotal == 5)
      try await store.completeIdempotencyKey("k1", eventsWritten: 5, lateEvents: 0)
      #expect(try await store.claimIdempotencyKey("k1", digest: 7, count: 5) == .applied(stamp, eventsWritten: 5, lateEvents: 0))
    }
  }

  @Test("a prevalidated batch stores what the same batch written whole stores (stamp included); after a registry change it is validated again", arguments: EngineKind.allCases)
  func prevalidatedWrites(kind: EngineKind) async throws {
    try await withStreamStore(kind) { store, clock in
      clock.set(at(1_000))
      let rows = (0..<6).map {
        WriteRequest.Row(
          entityID: "u\($0 % 3)", eventTime: at(900 + Int64($0)), createdTime: $0 == 2 ? at(950) : nil, values: [.float(Double($0))])
      }
      let request = WriteRequest(group: "purchases", features: ["amount"], rows: rows, events: true, writer: WriterIdentity(pipeline: "p"))
      let validated = try store.prevalidate(request)
      clock.advance(microseconds: 1_000_000)
      // Through the ledger (the path of a keyed push): the stamp its key fixed is read back after.
      let outcome = try await store.submit(validated, key: ("k", 1), chain: WriteChain()).value()
      guard case .applied(let stamp, _, _) = try await store.claimIdempotencyKey("k", digest: 1, count: 6) else {
        Issue.record("the key must be applied")
        return
      }
      #expect(outcome == .written(AppendOutcome(rowsWritten: 6, lateRows: 0)))
      let stream = try store.catalog.group(named: "purchases")
      let stored = try (0..<3).flatMap { try store.shard.history(entityID: "u\($0)", group: stream) }
      #expect(stored.count == 6)
      // The stamp's created time where the row carried none; the row's own elsewhere; the stamp's ids.
      #expect(stored.filter { $0.createdTime == at(950) }.count == 1)
      #expect(stored.filter { $0.createdTime == stamp.createdTime }.count == 5)
      #expect(Set(stored.map(\.sequence)) == Set(stamp.writeIDs.map(\.rawValue)))
      #expect(store.writeLog.records(storageID: stream.storageID).map(\.rows) == [6], "recorded in the write log like a whole write")
      // Unstamped: the rows without a created time get the validation's clock.
      let plain = try store.prevalidate(WriteRequest(group: "purchases", features: ["amount"], rows: [rows[0]], events: true))
      let validatedAt = clock.now
      clock.advance(microseconds: 1_000_000)
      _ = try await store.submit(plain, key: nil, chain: WriteChain()).value()
      #expect(try store.shard.history(entityID: "u0", group: stream).contains { $0.createdTime == validatedAt })

      // Retired between validation and write: the write validates again and is refused, storing nothing.
      let late = try store.prevalidate(request)
      _ = try await store.setStatus(.retired, group: "purchases", version: 1)
      await #expect(throws: StrataError.self) { _ = try await store.submit(late, key: nil, chain: WriteChain()).value() }
      #expect(try (0..<3).flatMap { try store.shard.history(entityID: "u\($0)", group: stream) }.count == 7)
    }
  }

  @Test("a keyed batch queued on the writer (one job): stored with its key's stamp, a resend is a duplicate with the first counts, other content under the key is refused, and a failed write keeps the stamp for the retry", arguments: EngineKind.allCases)
  func keyedWrites(kind: EngineKind) async throws {
    try await withStreamStore(kind) { store, clock in
      clock.set(at(1_000))
      let rows = (0..<4).map { WriteRequest.Row(entityID: "u\($0 % 2)", eventTime: at(900 + Int64($0)), values: [.float(Double($0))]) }
      let request = WriteRequest(group: "purchases", features: ["amount"], rows: rows, events: true)
      let stream = try store.catalog.group(named: "purchases")
      func stored() throws -> [StoredRow] {
        try store.shard.history(entityID: "u0", group: stream) + store.shard.history(entityID: "u1", group: stream)
      }

      // Refused when written (retired after validation): nothing stored, the key free again, its stamp kept.
      let refused = try store.prevalidate(request)
      _ = try await store.setStatus(.retired, group: "purchases", version: 1)
      await #expect(throws: StrataError.self) { _ = try await store.submit(refused, key: ("k", 5), chain: WriteChain()).value() }
      #expect(try stored().isEmpty)
      _ = try await store.setStatus(.active, group: "purchases", version: 1)
      guard case .apply(let stamp) = try await store.claimIdempotencyKey("k", digest: 5, count: 4) else {
        Issue.record("a key whose write failed must be applied again")
        return
      }
      store.idempotency.release(key: "k")

      // The retry: stored once, with the stamp the first attempt claimed.
      clock.advance(microseconds: 1_000_000)
      let outcome = try await store.submit(try store.prevalidate(request), key: ("k", 5), chain: WriteChain()).value()
      #expect(outcome == .written(AppendOutcome(rowsWritten: 4, lateRows: 0)))
      #expect(Set(try stored().map(\.sequence)) == Set(stamp.writeIDs.map(\.rawValue)))
      #expect(Set(try stored().map(\.createdTime)) == [stamp.createdTime])
      #expect(store.shard.writeStats[stream.storageID]?.rowsTotal == 4)

      // Resent: nothing written, the first counts.
      let again = try await store.submit(try store.prevalidate(request), key: ("k", 5), chain: WriteChain()).value()
      #expect(again == .duplicate(eventsWritten: 4, lateEvents: 0))
      #expect(try stored().count == 4)
      // Other content under the key: refused, nothing written, and the key stays completed.
      await #expect(throws: StrataError.self) { _ = try await store.submit(try store.prevalidate(request), key: ("k", 6), chain: WriteChain()).value() }
      #expect(try stored().count == 4)
      #expect(try await store.claimIdempotencyKey("k", digest: 5, count: 4) == .applied(stamp, eventsWritten: 4, lateEvents: 0))
    }
  }
}

// MARK: - Fixtures

/// Every stored tile of `stream` equals, byte for byte, the tile an `AggregationState` makes of the
/// entities' stored events (sparse, its count only, below `StreamTile.sparseBelow` events), and no
/// other tile is stored: every tile of the coarsest width, and a finer one only under a tile holding
/// at least `finerTilesFrom` events.
/// Checks what readers see (stored tiles and those not yet written), then, with `flush`, what writing
/// the dirty ones stores.
private func expectTilesMatchHistory(
  _ store: FeatureStore, stream: FeatureGroup, entities: [String], _ context: String, flush: Bool = true
) throws {
  var expected: [[UInt8]: [UInt8]] = [:]
  var latest: [String: StoredRow] = [:]
  for e in entities {
    let events = try store.shard.history(entityID: e, group: stream)
    latest[e] = events.max { $1.supersedes($0) }
    let states = try stream.spec.features.indices.map { f in
      var state = AggregationState(fieldType: AggregateFieldType(stream.spec.features[f].dtype)!, tiling: StreamTiles.tiling)
      for row in events {
        try state.insert(AggregationEvent(eventTime: row.eventTime, createdTime: row.createdTime, sequence: row.sequence, value: row.values[f]))
      }
      return state
    }
    var denseAbove: Set<Int64>? = nil  // indices of the coarser width's tiles with finer tiles kept
    for (level, width) in StreamTiles.tiling.widths.enumerated() {
      let perField = states.map { $0.tiles(width: width) }
      var dense: Set<Int64> = []
      for (k, tile) in perField[0].enumerated() {
        if let denseAbove, level > 0 {
          let parent = AggregationState.tileIndex(
            of: Timestamp(microseconds: tile.index * width), width: StreamTiles.tiling.widths[level - 1])
          guard denseAbove.contains(parent) else { continue }
        }
        let key = KeyCodec.tileKey(entityID: e, stream: stream.storageID, level: UInt8(level), index: tile.index)
        let count = tile.tile.eventCount
        expected[key] = count < StreamTile.sparseBelow ? StreamTile.sparse(eventCount: count).encoded() : StreamTiles.encode(perField.map { $0[k].tile })
        if tile.tile.eventCount >= StreamTiles.tiling.finerTilesFrom { dense.insert(tile.index) }
      }
      denseAbove = dense
    }
  }
  let (cursors, dirty) = try store.shard.streamReadView([.tiles])
  var seen = try allTiles(cursors[0])
  for (key, value) in dirty.storedForm { seen[key] = value }
  #expect(seen.count == expected.count, "tiles seen \(seen.count), expected \(expected.count) \(context)")
  #expect(seen == expected, "seen: \(context)")
  try expectOnlineRowsMatchHistory(store, stream: stream, entities: entities, latest: latest, context, stored: false)
  guard flush else { return }
  try store.shard.flushStreamTiles()
  let stored = try allTiles(try store.shard.engine.makeCursor(in: .tiles))
  #expect(stored.count == expected.count, "tiles stored \(stored.count), expected \(expected.count) \(context)")
  #expect(stored == expected, "stored: \(context)")
  try expectOnlineRowsMatchHistory(store, stream: stream, entities: entities, latest: latest, context, stored: true)
}

/// Each entity's online row of `stream` is its latest stored event (`latest`, read with its tiles' events; nil without events): the one
/// lookups read (`OnlineTable`), and with `stored` the one in the engine's online keyspace too (stream
/// online rows are written behind their events, like tiles: compare after a flush or a replay).
private func expectOnlineRowsMatchHistory(
  _ store: FeatureStore, stream: FeatureGroup, entities: [String], latest byEntity: [String: StoredRow], _ context: String,
  stored: Bool
) throws {
  let inMemory = try store.shard.onlineRows(entityIDs: entities, group: stream)
  for (e, row) in zip(entities, inMemory) {
    let latest = byEntity[e]
    #expect(row == latest, "online row of \(e): \(context)")
    guard stored else { continue }
    let bytes = try store.shard.engine.get(KeyCodec.onlineKey(entityID: e, groupVersion: stream.storageID), in: .online)
    #expect(try bytes.map { try OnlineValue.decode($0, dtypes: stream.dtypes) } == latest, "stored online row of \(e): \(context)")
  }
}

/// Stream tile journal records in the store's catalog.
private func journalRecords(_ store: FeatureStore) throws -> Int {
  let cursor = try store.shard.engine.makeCursor(in: .catalog)
  var n = 0
  cursor.seek(StreamTileBuffer.journalPrefix)
  while cursor.isValid, cursor.key.starts(with: StreamTileBuffer.journalPrefix) {
    n += 1
    cursor.next()
  }
  return n
}

private func allTiles(_ cursor: any StorageCursor) throws -> [[UInt8]: [UInt8]] {
  var out: [[UInt8]: [UInt8]] = [:]
  cursor.seek([])
  while cursor.isValid {
    out[cursor.key] = cursor.value
    cursor.next()
  }
  return out
}

private func tileKeys(_ store: FeatureStore) throws -> [[UInt8]] {
  let cursor = try store.shard.engine.makeCursor(in: .tiles)
  var out: [[UInt8]] = []
  cursor.seek([])
  while cursor.isValid {
    out.append(cursor.key)
    cursor.next()
  }
  return out
}

extension ColumnBlock {
  /// Row `i` as the `FeatureResult` it encodes.
  fileprivate func result(at i: Int, dtype: DType) -> FeatureResult {
    let status: ValueStatus = [1: .present, 2: .defaulted, 3: .missing, 4: .expired][statuses[i]]!
    var value: FeatureValue?
    if hasValue[i] == 1 {
      switch dtype {
      case .float: value = .float(floats[i])
      case .int: value = .int(ints[i])
      case .string: value = .string(strings[i])
      case .embedding: value = nil
      }
    }
    return FeatureResult(value: value, status: status, eventTime: eventTimes[i] == 0 ? nil : Timestamp(microseconds: eventTimes[i]))
  }
}

private let base = Timestamp.seconds(1_700_000_000)

private func at(_ seconds: Int64) -> Timestamp { base.adding(microseconds: seconds * 1_000_000) }

/// The stream `purchases` (amount FLOAT, n INT, tag STRING), the aggregate group `user_spend` over
/// it, and a row group `plain`.
let streamSpecs: [FeatureGroupSpec] = {
  func agg(_ name: String, _ field: String, _ function: AggregateFunction, _ seconds: Int64, default value: FeatureValue? = nil) -> FeatureSpec {
    FeatureSpec(
      name: name, dtype: .float, defaultValue: value,
      aggregation: FeatureAggregation(field: field, function: function, window: try! AggregationWindow(seconds: seconds)))
  }
  return [
    FeatureGroupSpec(
      name: "purchases",
      features: [FeatureSpec(name: "amount", dtype: .float), FeatureSpec(name: "n", dtype: .int), FeatureSpec(name: "tag", dtype: .string)],
      source: .events),
    FeatureGroupSpec(
      name: "user_spend",
      features: [
        agg("spend_1m", "amount", .sum, 60), agg("spend_1h", "amount", .sum, 3_600), agg("spend_1d", "amount", .sum, 86_400),
        agg("events_1m", "amount", .count, 60), agg("events_1h", "n", .count, 3_600),
        agg("avg_1h", "amount", .avg, 3_600), agg("avg_n_5m", "n", .avg, 300),
        agg("min_1h", "amount", .min, 3_600), agg("max_n_1d", "n", .max, 86_400, default: .int(-1)),
        agg("n_sum_1h", "n", .sum, 3_600), agg("last_tag_1d", "tag", .last, 86_400), agg("min_tag_1h", "tag", .min, 3_600),
        agg("last_amount_10m", "amount", .last, 600),
      ],
      source: .aggregates(stream: "purchases", streamVersion: 0)),
    FeatureGroupSpec(name: "plain", features: [FeatureSpec(name: "x", dtype: .float)]),
  ]
}()

/// A store's policy that builds no image by itself (no background builds after writes, no export
/// chunk large enough): the images a test reads are those it builds.
private let onlyWhenAsked = HistoryImagePolicy(
  budgetBytes: 1 << 30, minLabelsToBuild: .max, maxStaleFraction: 0.02, prebuildAfterQuietSeconds: nil)

/// Images built for any export and never rebuilt for staleness (tests that want one image throughout).
let imagesAlways = HistoryImagePolicy(budgetBytes: 1 << 30, minLabelsToBuild: 1, maxStaleFraction: 1e9, maxDeltaFraction: 1e9)

/// What a label of an entity without events gets.
private func expectedEmpty(_ group: FeatureGroup) -> [FeatureResult] {
  group.spec.features.map { f in
    switch f.aggregation!.function {
    case .count: FeatureResult(value: .int(0), status: .present, eventTime: nil)
    case .sum: FeatureResult(value: f.dtype == .int ? .int(0) : .float(0), status: .present, eventTime: nil)
    default: f.defaultValue.map { FeatureResult(value: $0, status: .defaulted, eventTime: nil) } ?? FeatureResult(value: nil, status: .missing, eventTime: nil)
    }
  }
}

/// When a test's store writes its dirty stream tiles (`StreamTileBuffer.Policy`).
enum TileFlush: String, CaseIterable, Sendable, CustomTestStringConvertible {
  /// The node's policy (`.defaults`) with an age limit no test reaches: every tile stays dirty.
  /// (With the node's 5 s, a test slowed down by a loaded machine saw its tiles written.)
  case behind
  /// At most 20 dirty: each append writes the oldest beyond them.
  case capped
  /// The 3 oldest with each append: reads, writes and the journal meet tiles written, tiles not yet
  /// written and records some of whose tiles are written.
  case trickle
  /// The 3 oldest with each append, and all of them when 40 are dirty (the node's policy, with
  /// other numbers).
  case trickleWholeWhenCapped
  /// All of them when 40 are dirty.
  case wholeWhenCapped
  /// With the append that changes them.
  case immediate

  var testDescription: String { rawValue }

  var policy: StreamTileBuffer.Policy {
    switch self {
    case .behind:
      StreamTileBuffer.Policy(
        maxTiles: StreamTileBuffer.Policy.defaults.maxTiles, maxAge: .seconds(3_600), perAppend: StreamTileBuffer.Policy.defaults.perAppend,
        wholeAtBound: StreamTileBuffer.Policy.defaults.wholeAtBound, wholeWhenAged: StreamTileBuffer.Policy.defaults.wholeWhenAged)
    case .capped:
      StreamTileBuffer.Policy(maxTiles: 20, maxAge: .seconds(3_600), perAppend: 0, wholeAtBound: false, wholeWhenAged: false)
    case .trickle:
      StreamTileBuffer.Policy(maxTiles: .max, maxAge: .zero, perAppend: 3, wholeAtBound: false, wholeWhenAged: false)
    case .trickleWholeWhenCapped:
      StreamTileBuffer.Policy(maxTiles: 40, maxAge: .zero, perAppend: 3, wholeAtBound: true, wholeWhenAged: false)
    case .wholeWhenCapped:
      StreamTileBuffer.Policy(maxTiles: 40, maxAge: .seconds(3_600), perAppend: .max, wholeAtBound: true, wholeWhenAged: true)
    case .immediate: .immediate
    }
  }
}

func withStreamStore(
  _ kind: EngineKind, flush: TileFlush = .behind, imagePolicy: HistoryImagePolicy = .defaults,
  _ body: (FeatureStore, ManualClock) async throws -> Void
) async throws {
  try await withStoreDirectory { path in
    let clock = ManualClock(at(0))
    let store = try FeatureStore(engine: kind.open(at: path), imagePolicy: imagePolicy, clock: clock.function)
    store.shard.setStreamTileFlush(flush.policy)
    _ = try await store.apply(streamSpecs)
    try await body(store, clock)
  }
}
