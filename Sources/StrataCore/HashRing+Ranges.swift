extension HashRing {
  /// The token ranges whose primary is `node`, ascending, disjoint and not adjacent to each other (ranges
  /// of consecutive vnodes of the same node are merged). Empty when `node` is not a member.
  ///
  /// Ranges are closed and never wrap: the first vnode's wrap-around range `(last position, first position]`
  /// appears as two ranges, `0...first` and `last + 1...UInt64.max` (the latter omitted when the last
  /// position is `UInt64.max`). Because every storage key starts with the entity's big-endian token, each
  /// range is one contiguous storage key range. A single-node ring owns `0...UInt64.max`.
  public func primaryRanges(of node: String) -> [ClosedRange<UInt64>] {
    guard let index = nodeIndex(of: node).map(UInt32.init) else { return [] }
    var result: [ClosedRange<UInt64>] = []
    forEachPrimaryRange { range, owner in
      guard owner == index else { return }
      if let last = result.last, last.upperBound != .max, last.upperBound + 1 == range.lowerBound {
        result[result.count - 1] = last.lowerBound...range.upperBound
      } else {
        result.append(range)
      }
    }
    return result
  }

  /// The fraction of the 2^64 tokens whose primary is `node` (0 when `node` is not a member). The shares of
  /// all members add up to 1.
  public func share(of node: String) -> Double {
    guard let index = nodeIndex(of: node).map(UInt32.init) else { return 0 }
    var tokens = 0.0
    forEachPrimaryRange { range, owner in
      if owner == index { tokens += Double(range.upperBound - range.lowerBound) + 1 }
    }
    return tokens / 0x1p64
  }

  /// Calls `body` with every non-empty primary range and the index of its owner, in ascending token order;
  /// the ranges partition `0...UInt64.max`.
  func forEachPrimaryRange(_ body: (ClosedRange<UInt64>, UInt32) -> Void) {
    let first = positions[0]
    let last = positions[positions.count - 1]
    body(0...first, owners[0])
    for vnode in positions.indices.dropFirst() where positions[vnode] > positions[vnode - 1] {
      body(positions[vnode - 1] + 1...positions[vnode], owners[vnode])
    }
    if last < .max { body(last + 1...UInt64.max, owners[0]) }
  }
}
