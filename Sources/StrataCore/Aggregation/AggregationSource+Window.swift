/// The windowed read: one code path for every source.
///
/// The value at `T` covers the events with `T - window < eventTime <= T` and, when `knownAt` is
/// given, `createdTime <= knownAt` (an event ingested after `knownAt` is excluded, whatever its
/// event time; one ingested exactly at `knownAt` counts). Late events (an event time in the past)
/// are in every window that contains their event time, like any other event.
///
/// How the window is covered (`AggregationTiling`): whole tiles of the coarsest width inside the
/// window, then whole tiles of each finer width at the two edges, then the raw events closer to the
/// ends than the finest width. A tile at an edge that holds fewer than `tiling.finerTilesFrom`
/// events is covered by its raw events directly, at any width (its finer tiles are not kept). A
/// tile whose events were not all known at `knownAt` is not used whole: if none of its events was
/// known (`minCreatedTime > knownAt`) it is skipped, otherwise it is covered again by the next finer
/// width or, under the same rule, by its raw events, filtered.
///
/// Cost, with a tiling of the ladder (`AggregationTiling(windows:)`): at most 360 tiles of the
/// window's own `tileWidth` (fewer when the tiling has coarser widths too) plus at most 66 finer
/// ones at the edges, plus the raw events less than 1 s from either end of the window; every tile
/// and event lookup is a range scan, and a tile with no events costs nothing: each width is scanned
/// once per range (its whole tiles and the end tiles it holds only in part, together), and a finer
/// width, or the raw events, only under an end tile that exists. A `knownAt` read adds,
/// for each tile that straddles `knownAt` (holding events ingested both before and after it), its
/// finer tiles down to the raw events of the 1 s tiles that straddle too: typically only the tiles
/// of the last seconds to minutes before `knownAt` and tiles that received late events after
/// `knownAt`. Without `knownAt`, and for tiles entirely known or entirely unknown at `knownAt`, no
/// event inside a whole tile is read.
extension AggregationSource {
  /// The value of `spec` at `time` over this source's events known at `knownAt` (nil: all events).
  ///
  /// ```swift
  /// let spend1h = try AggregateSpec(function: .sum, fieldType: .float, window: AggregationWindow(seconds: 3_600))
  /// let online = try source.value(of: spend1h, at: now, knownAt: nil)
  /// let asOfLabel = try source.value(of: spend1h, at: labelTime, knownAt: labelTime)
  /// ```
  public func value(of spec: AggregateSpec, at time: Timestamp, knownAt: Timestamp?) throws(Failure) -> AggregateResult {
    precondition(spec.fieldType == fieldType, "\(spec) read from a \(fieldType) source")
    return try partial(window: spec.window, at: time, knownAt: knownAt).result(spec.function)
  }

  /// The partial aggregate of the window ending at `time` (every function's result is then one call
  /// to `result(_:)` away; read it once for several functions over the same window).
  public func partial(window: AggregationWindow, at time: Timestamp, knownAt: Timestamp?) throws(Failure) -> AggregatePartial {
    var partial = AggregatePartial(fieldType: fieldType)
    // Inclusive bounds: T - (window - 1) ... T, clamped at the start of time.
    let low = time.microseconds.subtractingReportingOverflow(window.microseconds - 1)
    let first = low.overflow ? Int64.min : low.partialValue
    try accumulate(from: first, through: time.microseconds, level: 0, knownAt: knownAt, into: &partial)
    return partial
  }

  /// Adds the events with event time in `first...last` (known at `knownAt`) to `partial`, using the
  /// tiles of `tiling.widths[level...]`.
  ///
  /// One tile scan per call covers every tile of this width that overlaps the range: the whole ones
  /// are merged, and a tile at either end that holds the range only in part is covered by the next
  /// finer width when it holds at least `tiling.finerTilesFrom` events, by its raw events otherwise,
  /// and not at all when it is absent (it has no events). A sparse entity's window thus costs a scan
  /// or two, not one per width and edge.
  private func accumulate(
    from first: Int64, through last: Int64, level: Int, knownAt: Timestamp?, into partial: inout AggregatePartial
  ) throws(Failure) {
    let widths = tiling.widths
    guard level < widths.count else {
      try accumulateEvents(from: first, through: last, knownAt: knownAt, into: &partial)
      return
    }
    let width = Int128(widths[level])
    // Tiles lowTile...highTile overlap the range; k is whole when first <= k * width and
    // (k + 1) * width - 1 <= last.
    let lowTile = Self.floorDiv(Int128(first), width)
    let highTile = Self.floorDiv(Int128(last), width)
    let firstWhole = Self.ceilDiv(Int128(first), width)
    let lastWhole = Self.floorDiv(Int128(last) + 1, width) - 1
    let finerFrom = tiling.finerTilesFrom
    // Tiles to cover in part (range ends) or again (straddling `knownAt`), and whether finer tiles do it.
    var covers: [(index: Int64, finer: Bool)] = []
    try forEachTile(width: widths[level], indices: Int64(lowTile)...Int64(highTile)) { index, tile in
      guard firstWhole <= Int128(index) && Int128(index) <= lastWhole else {
        covers.append((index, tile.eventCount >= finerFrom))
        return
      }
      guard let knownAt, let maxCreated = tile.maxCreatedTime, maxCreated > knownAt else {
        partial.merge(tile)
        return
      }
      if let minCreated = tile.minCreatedTime, minCreated <= knownAt { covers.append((index, tile.eventCount >= finerFrom)) }
    }
    for (index, finer) in covers {
      // The part of tile `index` inside the range (all of it for a straddling tile).
      let start = Int128(index) * width
      let from = Int64(Swift.max(Int128(first), start))
      let through = Int64(Swift.min(Int128(last), start + width - 1))
      if finer {
        try accumulate(from: from, through: through, level: level + 1, knownAt: knownAt, into: &partial)
      } else {
        try accumulateEvents(from: from, through: through, knownAt: knownAt, into: &partial)
      }
    }
  }

  /// Adds the raw events with event time in `first...last` known at `knownAt` to `partial`.
  private func accumulateEvents(
    from first: Int64, through last: Int64, knownAt: Timestamp?, into partial: inout AggregatePartial
  ) throws(Failure) {
    try forEachEvent(eventTimes: Timestamp(microseconds: first)...Timestamp(microseconds: last)) { event in
      if knownAt.map({ event.createdTime <= $0 }) ?? true { partial.add(event) }
    }
  }

  static func floorDiv(_ a: Int128, _ b: Int128) -> Int128 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
  }

  static func ceilDiv(_ a: Int128, _ b: Int128) -> Int128 { -floorDiv(-a, b) }
}
