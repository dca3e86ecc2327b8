internal import StrataCore

/// The elementary intervals of two rings: the token ranges between consecutive distinct vnode positions
/// of either ring. Inside one interval neither ring's primary vnode changes, so every token of an
/// interval has the same replicas under both placements (`ReplicaPlacement` is a function of the
/// primary vnode).
///
/// With `positions` ascending and distinct, interval `j > 0` holds the tokens in
/// `(positions[j - 1], positions[j]]`, and interval 0 the wrap-around: the tokens `<= positions[0]` and
/// those `> positions.last`. `positions[j]` is a token of interval `j` (its representative).
struct ElementaryIntervals: Sendable {
  /// The distinct vnode positions of both rings, ascending (never empty: a ring has a vnode).
  let positions: [UInt64]

  init(_ a: HashRing, _ b: HashRing) {
    var all: [UInt64] = []
    all.reserveCapacity(a.vnodeCount + b.vnodeCount)
    for k in 0..<a.vnodeCount { all.append(a.vnodePosition(k)) }
    for k in 0..<b.vnodeCount { all.append(b.vnodePosition(k)) }
    all.sort()
    var distinct: [UInt64] = []
    distinct.reserveCapacity(all.count)
    for position in all where distinct.last != position { distinct.append(position) }
    positions = distinct
  }

  /// How many intervals there are.
  var count: Int { positions.count }

  /// The interval holding `token`: the first `j` with `positions[j] >= token`, or 0 (the wrap-around)
  /// when `token` is greater than every position. A binary search.
  @inline(__always)
  func index(ofToken token: UInt64) -> Int {
    var low = 0
    var high = positions.count
    while low < high {
      let mid = (low &+ high) >> 1
      if positions[mid] < token { low = mid + 1 } else { high = mid }
    }
    return low == positions.count ? 0 : low
  }

  /// Calls `body` with every interval as closed, non-wrapping ranges in ascending token order, and the
  /// interval's index: interval 0 comes first as `0...positions[0]` and, unless the last position is
  /// `UInt64.max`, last as `positions.last + 1...UInt64.max`. The ranges partition `0...UInt64.max`.
  func forEachRange(_ body: (ClosedRange<UInt64>, Int) -> Void) {
    body(0...positions[0], 0)
    for j in positions.indices.dropFirst() { body(positions[j - 1] + 1...positions[j], j) }
    let last = positions[positions.count - 1]
    if last < .max { body(last + 1...UInt64.max, 0) }
  }
}
