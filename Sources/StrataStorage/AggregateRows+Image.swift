internal import StrataCore

/// Exports and online lookups answered from the stream's history image (a stream's image keeps
/// every event, `HistoryImage`): the entity's events are read from memory instead of storage, either
/// through the same windowed read (`AggregationSource.partial`) over an in-memory `AggregationState`
/// with tiles, or raw: each window's run of rows summed from the columns (`HistoryImage.partial`),
/// the events the windowed read would add. Partials are exact, so the values are the same bits as
/// from storage or online (the tiling only sets the cost, `AggregationTiling`).
extension AggregateRows.EntityAnswerer {
  /// Answers `probes[i]` for each `i` of `indices` (all of `entity`) from `image` and `delta`, which
  /// must hold exactly the entity's stored events together: its image rows, and its events stored
  /// since the image's scan began (`ImageDelta`, ascending in event order; none share an event).
  ///
  /// Only the events from the earliest probe's largest window to the latest probe are read. They get
  /// in-memory tiles (`StreamTiles.tiling`) when the probes' windows together span more events than
  /// building the tiles costs; otherwise every probe reads its window's rows raw, from the columns,
  /// merged with the delta's events in the window (cheaper for an entity with few labels, whatever
  /// its number of events). Returns false, answering nothing, when the entity has at most
  /// `storedTileProbes` probes whose windows hold more than `imageRawEventsLimit` events together:
  /// the stored tiles answer those for a few seeks. Rows of probes without `knownAt` go to `cache`
  /// as from storage.
  func answer(
    _ entity: String, token: UInt64, _ indices: [Int], image: HistoryImage, delta: [StoredRow] = [],
    emit: (Int, StoredRow) -> Void
  ) -> Bool {
    let first = indices.lazy.map { probes[$0].asOf }.min()!
    let last = indices.lazy.map { probes[$0].asOf }.max()!
    let from = first.subtracting(microseconds: plan.largestWindow - 1)
    var lo = 0
    var hi = 0
    var entityRows = 0..<0
    if let e = image.entity(entity, token: token) {
      let rows = Int(image.rowStart[e])..<Int(image.rowStart[e + 1])
      entityRows = rows
      lo = image.firstRow(in: rows, atOrAfter: from.microseconds)
      hi = last == .max ? rows.upperBound : image.firstRow(in: lo..<rows.upperBound, atOrAfter: last.microseconds + 1)
    }
    // The delta's events in the same span (usually none, or a few).
    let dlo = ImageDelta.firstRow(delta, atOrAfter: from)
    let dhi = last == .max ? delta.count : ImageDelta.firstRow(delta, atOrAfter: last.adding(microseconds: 1))
    let deltaSpan = max(0, dhi - dlo)
    let tiles: Bool
    if let imageTiles {
      tiles = imageTiles
    } else if indices.count <= AggregateRows.storedTileProbes {
      // A few seeks into the stored tiles beat reading more than a few thousand events raw. Each
      // window holds at most the hi - lo rows (and the delta's span): they are counted only when that
      // bound exceeds the limit.
      let limit = AggregateRows.imageRawEventsLimit
      let deltaRaw = deltaSpan * plan.windows.count * indices.count
      guard (hi - lo + deltaSpan) * plan.windows.count * indices.count <= limit
        || rawEvents(image: image, rows: lo..<hi, indices, limit: limit) + deltaRaw <= limit
      else { return false }
      tiles = false
    } else {
      let budget = (hi - lo + deltaSpan) * StreamTiles.tiling.widths.count + indices.count * plan.windows.count * 64
      tiles = hi - lo + deltaSpan >= AggregateRows.inMemoryTilesFrom
        && rawEvents(image: image, rows: lo..<hi, indices, limit: budget) + deltaSpan * plan.windows.count * indices.count > budget
    }
    var states: [Int: AggregationState] = [:]
    if tiles {
      for field in Set(plan.reads.map(\.field)) {
        var events = image.aggregationEvents(field: field, rows: lo..<hi)
        if deltaSpan > 0 {
          events.append(contentsOf: delta[dlo..<dhi].lazy.map { $0.aggregationEvent(field: field) })
          events.sort { $1.isLater(than: $0) }
        }
        states[field] = AggregationState(fieldType: fieldTypes[field], tiling: StreamTiles.tiling, sortedEvents: events)
      }
    }
    for i in indices {
      let p = probes[i]
      // Raw: a window's events are the entity's rows with event time in T - (window - 1) ... T, read
      // from the columns and the delta; the windowed read (`AggregationSource.partial`) adds the same events.
      let row = plan.row(at: p.asOf, knownAt: p.knownAt) { field, window in
        if tiles { return states[field]!.partial(window: window, at: p.asOf, knownAt: p.knownAt) }
        let start = p.asOf.subtracting(microseconds: window.microseconds - 1)
        var partial = image.partial(
          field: field, fieldType: fieldTypes[field], rows: image.rows(in: lo..<hi, eventTimes: start, p.asOf), knownAt: p.knownAt)
        if deltaSpan > 0 {
          partial.merge(
            ImageDelta.partial(
              field: field, fieldType: fieldTypes[field], rows: delta, eventTimes: start, p.asOf, knownAt: p.knownAt))
        }
        return partial
      } latest: { floor in
        let fromImage = image.latest(in: lo..<hi, at: p.asOf, floor: floor, knownAt: p.knownAt)
        guard deltaSpan > 0, let fromDelta = AggregateRows.latest(in: delta, at: p.asOf, floor: floor, knownAt: p.knownAt) else {
          return fromImage
        }
        return fromImage.map { $0 > fromDelta ? $0 : fromDelta } ?? fromDelta
      }
      emit(i, row)
      if let cache, p.knownAt == nil {
        // The first event at or after t among the image's rows and the delta's.
        let until = plan.validUntil(at: p.asOf) { t in
          let r = image.firstRow(in: entityRows, atOrAfter: t.microseconds)
          let fromImage = r < entityRows.upperBound ? Timestamp(microseconds: image.events[r]) : nil
          let d = ImageDelta.firstRow(delta, atOrAfter: t)
          guard d < delta.count else { return fromImage }
          return Swift.min(fromImage ?? .max, delta[d].eventTime)
        }
        cache.store(
          stream: stream.storageID, group: group.storageID, entityID: entity, row: row, from: p.asOf, until: until,
          readGeneration: readGeneration)
      }
    }
    return true
  }

  /// The events the probes' windows hold together (each probe adds every event of each of its
  /// windows: the cost of reading them raw), counted until it exceeds `limit`. Tiles cost about one
  /// add per event and width to build, then a few dozen merges per probe and window.
  private func rawEvents(image: HistoryImage, rows: Range<Int>, _ indices: [Int], limit: Int) -> Int {
    var raw = 0
    for i in indices {
      let t = probes[i].asOf.microseconds
      let end = t == .max ? rows.upperBound : image.firstRow(in: rows, atOrAfter: t + 1)
      for window in plan.windows {
        raw += end - image.firstRow(in: rows.lowerBound..<end, atOrAfter: t.subtractingReportingOverflow(window - 1).partialValue)
        if raw > limit { return raw }
      }
    }
    return raw
  }
}

extension HistoryImage {
  /// The rows of entity `entityID` (token `token`) with event time at or after `from`; 0 when the
  /// image holds none of its rows.
  func rowCount(of entityID: String, token: UInt64, from: Timestamp) -> Int {
    guard let e = entity(entityID, token: token) else { return 0 }
    let rows = Int(rowStart[e])..<Int(rowStart[e + 1])
    return rows.upperBound - firstRow(in: rows, atOrAfter: from.microseconds)
  }

  /// The first row of `rows` (one entity's, ascending by event time) whose event time is at least
  /// `time`, or `rows.upperBound`.
  func firstRow(in rows: Range<Int>, atOrAfter time: Int64) -> Int {
    var lo = rows.lowerBound
    var hi = rows.upperBound
    while lo < hi {
      let mid = (lo + hi) >> 1
      if events[mid] < time { lo = mid + 1 } else { hi = mid }
    }
    return lo
  }

  /// The events of `rows` as the aggregates of field `field` see them (nil where the row has no
  /// value), in row order. The field must be FLOAT, INT or STRING.
  func aggregationEvents(field: Int, rows: Range<Int>) -> [AggregationEvent] {
    let column = columns[field]
    var out: [AggregationEvent] = []
    out.reserveCapacity(rows.count)
    func event(_ r: Int, _ value: FeatureValue?) -> AggregationEvent {
      AggregationEvent(
        eventTime: Timestamp(microseconds: events[r]), createdTime: Timestamp(microseconds: created[r]), sequence: sequences[r],
        value: value)
    }
    switch column.values {
    case .float(let v): for r in rows { out.append(event(r, column.has(r) ? .float(v[r]) : nil)) }
    case .int(let v): for r in rows { out.append(event(r, column.has(r) ? .int(v[r]) : nil)) }
    case .string(let v): for r in rows { out.append(event(r, column.has(r) ? .string(v[r]) : nil)) }
    case .embedding: preconditionFailure("aggregates read FLOAT, INT or STRING fields")
    }
    return out
  }
}
