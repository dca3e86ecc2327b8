internal import StrataCore

/// What data a membership change moves, from the placement before (`old`) to the one after (`new`):
///
/// - a node **receives** the tokens of which it is a new replica but not an old one, each range from
///   that range's old replicas (its **sources**, in old order, old primary first): it must be sent
///   them before reads may use `new`;
/// - a node **drops** the tokens of which it is an old replica but not a new one: it may delete them
///   once the change is `switched`.
///
/// Both placements are functions of a token's primary vnode, so this is computed once per elementary
/// interval: the ranges between consecutive distinct vnode positions of either ring. Ranges are closed
/// and never wrap, like `HashRing.primaryRanges(of:)`: the wrap-around interval appears as `0...first`
/// and `last + 1...UInt64.max`. Adjacent ranges with the same data are merged (for `moves(to:)`, the
/// same sources), so each list is ascending, disjoint and has no two touching ranges with equal data.
/// With equal replication factors, the tokens received and the tokens dropped add up to the same
/// amount.
///
/// ```swift
/// let moved = MovedRanges(old: old, new: new)        // n4 joins a ring of 3, RF 1
/// moved.receives("n4")                              // about 1/4 of the tokens
/// moved.sources(of: "n4")                           // ["n1", "n2", "n3"]
/// let filter = moved.movingTo("n4", from: "n2")     // what n2 streams to n4
/// ```
public struct MovedRanges: Sendable {
  /// A range a node receives and the old replicas it can get it from.
  public struct Move: Sendable, Equatable {
    public let range: ClosedRange<UInt64>
    /// The old replicas of the range, in old order (primary first).
    public let sources: [String]

    public init(range: ClosedRange<UInt64>, sources: [String]) {
      self.range = range
      self.sources = sources
    }
  }

  private struct Pair: Hashable {
    var target: String
    var source: String
  }

  /// `incoming[t]`: the moves to `t`, ascending.
  private let incoming: [String: [Move]]
  /// `received[t]`: the tokens `t` receives (the ranges of `incoming[t]`, merged whatever the sources).
  private let received: [String: TokenRanges]
  /// `dropped[n]`: the tokens `n` holds under `old` and not under `new`.
  private let dropped: [String: TokenRanges]
  /// `bySource[(t, s)]`: the tokens `t` receives of which `s` is an old replica.
  private let bySource: [Pair: TokenRanges]

  /// The data moved from `old` to `new` (any two placements; a membership change keeps the factor).
  public init(old: ReplicaPlacement, new: ReplicaPlacement) {
    var incoming: [String: [Move]] = [:]
    var received: [String: TokenRanges] = [:]
    var dropped: [String: TokenRanges] = [:]
    var bySource: [Pair: TokenRanges] = [:]
    let intervals = ElementaryIntervals(old.ring, new.ring)
    intervals.forEachRange { range, j in
      let token = intervals.positions[j]
      let before = old.replicas(ofToken: token)
      let after = new.replicas(ofToken: token)
      for target in after where !before.contains(target) {
        Self.append(Move(range: range, sources: before), to: &incoming[target, default: []])
        received[target, default: TokenRanges()].append(range)
        for source in before { bySource[Pair(target: target, source: source), default: TokenRanges()].append(range) }
      }
      for node in before where !after.contains(node) {
        dropped[node, default: TokenRanges()].append(range)
      }
    }
    self.incoming = incoming
    self.received = received
    self.dropped = dropped
    self.bySource = bySource
  }

  /// Appends `move` to `moves` (which end before it), merged with the last move when the two touch
  /// and have the same sources.
  private static func append(_ move: Move, to moves: inout [Move]) {
    if let last = moves.last, last.sources == move.sources, last.range.upperBound + 1 == move.range.lowerBound {
      moves[moves.count - 1] = Move(range: last.range.lowerBound...move.range.upperBound, sources: move.sources)
    } else {
      moves.append(move)
    }
  }

  /// The data moved by `transition` (from its `old` placement to its `new` one, whatever its phase).
  public init(_ transition: PlacementTransition) {
    self.init(old: transition.old, new: transition.new)
  }

  /// The nodes that receive any tokens, sorted by their UTF-8 bytes.
  public var targets: [String] { incoming.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } }

  /// The nodes that drop any tokens after the switch, sorted by their UTF-8 bytes.
  public var droppingNodes: [String] { dropped.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } }

  /// The ranges `node` receives, each with its sources; ascending, adjacent ranges merged when their
  /// sources are equal. Empty when `node` receives nothing.
  public func moves(to node: String) -> [Move] { incoming[node] ?? [] }

  /// The tokens `node` must receive (a new replica, not an old one): ascending, disjoint, not adjacent.
  public func receives(_ node: String) -> [ClosedRange<UInt64>] { received[node]?.ranges ?? [] }

  /// The tokens `node` may delete after the switch (an old replica, not a new one): ascending,
  /// disjoint, not adjacent.
  public func drops(_ node: String) -> [ClosedRange<UInt64>] { dropped[node]?.ranges ?? [] }

  /// The old replicas `target` receives tokens from (every source of every range it receives).
  public func sources(of target: String) -> Set<String> {
    Set((incoming[target] ?? []).lazy.flatMap(\.sources))
  }

  /// The tokens `target` receives of which `source` is an old replica: ascending, disjoint, not adjacent.
  public func ranges(to target: String, from source: String) -> [ClosedRange<UInt64>] {
    bySource[Pair(target: target, source: source)]?.ranges ?? []
  }

  /// Whether a token moves to `target` from `source` (`target` is a new replica of it and not an old
  /// one, and `source` an old one): the filter of the stream from `source` to `target`. A binary search
  /// over the ranges, no allocation.
  public func movingTo(_ target: String, from source: String) -> @Sendable (UInt64) -> Bool {
    let ranges = bySource[Pair(target: target, source: source)] ?? TokenRanges()
    return { ranges.contains($0) }
  }

  /// Whether `target` receives `token`. A binary search.
  public func receives(_ target: String, token: UInt64) -> Bool { received[target]?.contains(token) ?? false }

  /// The fraction of the 2^64 tokens `node` receives.
  public func share(receivedBy node: String) -> Double { received[node]?.share ?? 0 }

  /// The fraction of the 2^64 tokens `node` drops after the switch.
  public func share(droppedBy node: String) -> Double { dropped[node]?.share ?? 0 }
}
