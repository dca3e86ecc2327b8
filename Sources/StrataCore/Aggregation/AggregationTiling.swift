/// The tile widths an aggregation source keeps partial aggregates for, coarsest first.
///
/// A tile of width `w` with index `k` holds the partial aggregate (`AggregatePartial`) of the events
/// with `k * w <= eventTime < (k + 1) * w` (tiles are aligned to the Unix epoch; `k` is the floor of
/// `eventTime / w`, negative before 1970). Each width is a multiple of the next finer one, so a tile
/// is exactly covered by tiles of every finer width.
///
/// A read covers its window greedily: whole tiles of the coarsest width inside the window, then at
/// each edge whole tiles of the next finer width, and so on; only the events closer to an edge than
/// the finest width are read raw. Because partial aggregates combine exactly (`AggregatePartial`),
/// the answer does not depend on the tiling at all: any tiling, including none (`.rawEvents`, every
/// event read raw), gives the same bits. The tiling only sets the cost.
///
/// The rule used by `init(windows:)`: the widths of `ladder` from 1 s up to the largest
/// `AggregationWindow.tileWidth` of the windows. With the ladder's ratios (10, 6, 10, 6, 6) a read
/// merges at most 360 tiles of the coarsest width, at most 9 + 5 + 9 + 5 + 5 = 33 finer tiles per
/// edge, and reads raw only the events within 1 s of the window's two ends (less than 1 s each).
/// A write updates one tile per width (at most 6).
///
/// `finerTilesFrom` lets a store keep fine tiles only where they pay: a read covers the part of a
/// tile it does not take whole with the next finer width only when that tile holds at least
/// `finerTilesFrom` events, and with the tile's raw events in that part otherwise (fewer than
/// `finerTilesFrom` of them). A store may then keep the finer tiles under a tile only while it holds
/// that many events (`StreamTiles`); the coarsest width must always be kept. At 1 (the default)
/// every existing tile is descended into.
public struct AggregationTiling: Hashable, Sendable {
  /// 1 s, 10 s, 1 min, 10 min, 1 h, 6 h (microseconds), finest first.
  public static let ladder: [Int64] = [1, 10, 60, 600, 3_600, 21_600].map { $0 * 1_000_000 }
  /// The most tiles of its own `tileWidth` a window may span (90 days = 360 tiles of 6 h).
  public static let maxTilesPerWindow = 360

  /// Tile widths in microseconds, coarsest first; each a multiple of the next.
  public let widths: [Int64]
  /// The fewest events a tile holds for a read to cover part of it with finer tiles rather than
  /// with its raw events (at least 1).
  public let finerTilesFrom: Int64

  /// No tiles: every read scans the raw events of its window (the oracle's cost, the same answer).
  public static let rawEvents = AggregationTiling(checked: [])

  private init(checked widths: [Int64]) {
    self.widths = widths
    self.finerTilesFrom = 1
  }

  /// Throws INVALID_ARGUMENT unless every width is positive and each is a multiple of the next
  /// (`widths` coarsest first, no repeats) and `finerTilesFrom` is at least 1.
  public init(widths: [Int64], finerTilesFrom: Int64 = 1) throws(StrataError) {
    guard finerTilesFrom >= 1 else { throw .invalidArgument("finerTilesFrom \(finerTilesFrom) must be at least 1") }
    for (i, w) in widths.enumerated() {
      guard w > 0 else { throw .invalidArgument("tile width \(w) must be positive (microseconds)") }
      if i > 0 {
        let coarser = widths[i - 1]
        guard coarser > w, coarser % w == 0 else {
          throw .invalidArgument(
            "tile widths must be listed coarsest first, each a multiple of the next: \(coarser) is not a multiple of \(w)")
        }
      }
    }
    self.widths = widths
    self.finerTilesFrom = finerTilesFrom
  }

  /// The ladder's widths from 1 s up to the largest `tileWidth` of `windows` (none for no windows).
  public init(windows: [AggregationWindow]) {
    guard let top = windows.map(\.tileWidth).max() else {
      self = .rawEvents
      return
    }
    self.init(checked: Self.ladder.filter { $0 <= top }.reversed())
  }
}
