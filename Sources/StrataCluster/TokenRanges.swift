/// A set of tokens kept as closed, non-wrapping ranges: ascending, disjoint and not adjacent (ranges
/// that touch are merged), like `HashRing.primaryRanges(of:)`. Membership is a binary search over the
/// ranges: O(log ranges), no allocation.
///
/// ```swift
/// var set = TokenRanges()
/// set.append(0...9)
/// set.append(10...19)        // merged: [0...19]
/// set.contains(15)           // true
/// ```
public struct TokenRanges: Sendable, Equatable {
  /// The ranges, ascending, disjoint and not adjacent.
  public private(set) var ranges: [ClosedRange<UInt64>] = []

  /// The empty set.
  public init() {}

  /// Appends `range`, which must start after every token already in the set; merged with the last
  /// range when the two touch.
  public mutating func append(_ range: ClosedRange<UInt64>) {
    guard let last = ranges.last else {
      ranges.append(range)
      return
    }
    precondition(last.upperBound < range.lowerBound, "token ranges must be appended in ascending order: \(range) after \(last)")
    if last.upperBound + 1 == range.lowerBound {
      ranges[ranges.count - 1] = last.lowerBound...range.upperBound
    } else {
      ranges.append(range)
    }
  }

  /// Whether `token` is in one of the ranges: the first range whose upper bound is at least `token`
  /// holds it or none does.
  @inlinable
  public func contains(_ token: UInt64) -> Bool {
    var low = 0
    var high = ranges.count
    while low < high {
      let mid = (low &+ high) >> 1
      if ranges[mid].upperBound < token { low = mid + 1 } else { high = mid }
    }
    return low < ranges.count && ranges[low].lowerBound <= token
  }

  /// Whether the set has no token.
  public var isEmpty: Bool { ranges.isEmpty }

  /// The number of tokens in the set, as a `Double` (it may be 2^64).
  public var tokenCount: Double {
    ranges.reduce(0) { $0 + Double($1.upperBound - $1.lowerBound) + 1 }
  }

  /// The fraction of the 2^64 tokens in the set, between 0 and 1.
  public var share: Double { tokenCount / 0x1p64 }
}
