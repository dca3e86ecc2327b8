import StrataCluster
import StrataCore
import StrataTestSupport
import Testing

@Suite("Moved ranges")
struct MovedRangesTests {
  /// Ascending, disjoint, and (with `merged`) never touching.
  static func wellFormed(_ ranges: [ClosedRange<UInt64>], merged: Bool = true) -> Bool {
    zip(ranges, ranges.dropFirst()).allSatisfy { a, b in
      a.upperBound < b.lowerBound && (!merged || a.upperBound + 1 < b.lowerBound)
    }
  }

  /// Each node's share of the tokens it receives and drops, summed exactly over the elementary
  /// intervals of the two brute-force rings.
  static func exactShares(_ scenario: TransitionScenario) -> (received: [String: Double], dropped: [String: Double]) {
    let positions = Array(Set(scenario.oldOracle.positions + scenario.newOracle.positions)).sorted()
    var received: [String: Double] = [:]
    var dropped: [String: Double] = [:]
    for (j, p) in positions.enumerated() {
      let size =
        j == 0
        ? Double(p) + 1 + Double(UInt64.max - positions[positions.count - 1])
        : Double(p - positions[j - 1])
      let old = scenario.oldOracle.replicas(p)
      let new = scenario.newOracle.replicas(p)
      for node in new where !old.contains(node) { received[node, default: 0] += size }
      for node in old where !new.contains(node) { dropped[node, default: 0] += size }
    }
    return (received.mapValues { $0 / 0x1p64 }, dropped.mapValues { $0 / 0x1p64 })
  }

  @Test(
    "every token: a node receives it iff a new replica and not an old one, from exactly its old replicas, and drops it iff the reverse",
    arguments: MembershipChange.allCases)
  func bruteForce(change: MembershipChange) throws {
    var rng = SplitMix64.forTest("MovedRanges.bruteForce.\(change.rawValue)")
    for zoned in [false, true] {
      for rf in 1...3 {
        for _ in 0..<2 {
          let scenario = try TransitionScenario(
            change, replicationFactor: rf, zoned: zoned, virtualNodes: 8 + rng.below(40), rng: &rng)
          try check(scenario, rng: &rng)
        }
      }
    }
  }

  private func check(_ scenario: TransitionScenario, rng: inout SplitMix64) throws {
    let context = "\(scenario), \(rng.seedDescription)"
    let moved = MovedRanges(try PlacementTransition(old: scenario.old, new: scenario.new, phase: .dualWrite))
    let nodes = scenario.allNodes
    var tokens = scenario.sampleTokens(300, rng: &rng)
    for node in nodes {
      var bounds = moved.receives(node) + moved.drops(node) + moved.moves(to: node).map(\.range)
      for source in nodes { bounds += moved.ranges(to: node, from: source) }
      for r in bounds { tokens += [r.lowerBound &- 1, r.lowerBound, r.upperBound, r.upperBound &+ 1] }
      #expect(Self.wellFormed(moved.receives(node)), "receives(\(node)): \(context)")
      #expect(Self.wellFormed(moved.drops(node)), "drops(\(node)): \(context)")
      let moves = moved.moves(to: node)
      #expect(Self.wellFormed(moves.map(\.range), merged: false), "moves(to: \(node)): \(context)")
      for (a, b) in zip(moves, moves.dropFirst()) where a.range.upperBound + 1 == b.range.lowerBound {
        #expect(a.sources != b.sources, "touching moves with the same sources are merged: \(context)")
      }
      // The moves cover exactly what the node receives.
      var covered = TokenRanges()
      for move in moves { covered.append(move.range) }
      #expect(covered.ranges == moved.receives(node), "\(context)")
      #expect(moved.sources(of: node) == Set(nodes.filter { !moved.ranges(to: node, from: $0).isEmpty }), "\(context)")
    }
    let sharedMoves = nodes.map { moved.moves(to: $0) }
    let filters = nodes.map { target in nodes.map { source in moved.movingTo(target, from: source) } }
    for token in Set(tokens) {
      let old = scenario.oldOracle.replicas(token)
      let new = scenario.newOracle.replicas(token)
      for (t, target) in nodes.enumerated() {
        let receives = new.contains(target) && !old.contains(target)
        let drops = old.contains(target) && !new.contains(target)
        #expect(moved.receives(target, token: token) == receives, "\(target) receives \(token): \(context)")
        #expect(moved.receives(target).contains { $0.contains(token) } == receives, "\(target), \(token): \(context)")
        #expect(moved.drops(target).contains { $0.contains(token) } == drops, "\(target) drops \(token): \(context)")
        let move = sharedMoves[t].first { $0.range.contains(token) }
        #expect(move?.sources == (receives ? old : nil), "\(target) gets \(token) from \(old): \(context)")
        for (s, source) in nodes.enumerated() {
          #expect(
            filters[t][s](token) == (receives && old.contains(source)),
            "\(token) moves to \(target) from \(source): \(context)")
        }
      }
    }
    // Exact shares, and the same amount received as dropped (equal replication factors).
    let exact = Self.exactShares(scenario)
    for node in nodes {
      #expect(abs(moved.share(receivedBy: node) - (exact.received[node] ?? 0)) < 1e-12, "\(node): \(context)")
      #expect(abs(moved.share(droppedBy: node) - (exact.dropped[node] ?? 0)) < 1e-12, "\(node): \(context)")
    }
    #expect(moved.targets == nodes.filter { (exact.received[$0] ?? 0) > 0 }, "\(context)")
    #expect(moved.droppingNodes == nodes.filter { (exact.dropped[$0] ?? 0) > 0 }, "\(context)")
    let received = nodes.map { moved.share(receivedBy: $0) }.reduce(0, +)
    let dropped = nodes.map { moved.share(droppedBy: $0) }.reduce(0, +)
    #expect(abs(received - dropped) < 1e-9, "\(context)")
    // Without zones, a joining node is the only one to receive, and a leaving one the only one to drop.
    if scenario.zones.isEmpty {
      switch scenario.change {
      case .add: #expect(moved.targets == ["n4"] && !moved.droppingNodes.contains("n4"), "\(context)")
      case .remove: #expect(moved.droppingNodes == ["n4"] && !moved.targets.contains("n4"), "\(context)")
      case .replace, .replaceOfFour:
        #expect(moved.droppingNodes.contains("n3") && moved.targets.contains("n5"), "\(context)")
        if scenario.replicationFactor == 1 {
          #expect(moved.drops("n3") == scenario.old.ring.primaryRanges(of: "n3"), "\(context)")
          #expect(moved.receives("n5") == scenario.new.ring.primaryRanges(of: "n5"), "\(context)")
        }
      }
    }
  }

  @Test("a 4th node joining 3 with RF 1 takes about 1/4 of the tokens, exactly its primary ranges, from all three")
  func addFourthRF1() throws {
    let ring = try HashRing(nodes: ["n1", "n2", "n3"], epoch: 1)
    let old = try ReplicaPlacement(ring: ring, replicationFactor: 1)
    let new = try ReplicaPlacement(ring: try ring.adding("n4"), replicationFactor: 1)
    let moved = MovedRanges(old: old, new: new)
    #expect(moved.targets == ["n4"])
    let share = moved.share(receivedBy: "n4")
    #expect(abs(share - 0.25) < 0.025, "n4 receives \(share) of the tokens")
    #expect(abs(share - new.ring.share(of: "n4")) < 1e-12)
    #expect(moved.receives("n4") == new.ring.primaryRanges(of: "n4"))
    #expect(moved.sources(of: "n4") == ["n1", "n2", "n3"])
    var dropped = 0.0
    for source in ["n1", "n2", "n3"] {
      #expect(moved.receives(source).isEmpty)
      // Everything a source sends it drops afterwards, and it sends exactly what it drops.
      #expect(moved.ranges(to: "n4", from: source) == moved.drops(source))
      #expect(moved.moves(to: "n4").filter { $0.sources == [source] }.map(\.range) == moved.drops(source))
      let part = moved.share(droppedBy: source)
      #expect(part > 0.05 && part < 0.15, "each old node gives up about 1/12: \(source) \(part)")
      dropped += part
    }
    #expect(abs(dropped - share) < 1e-12)
  }

  @Test("token ranges merge touching ranges, and a token is in the set iff a range holds it")
  func tokenRanges() {
    var set = TokenRanges()
    #expect(!set.contains(0) && set.isEmpty && set.share == 0)
    set.append(0...9)
    set.append(10...19)
    set.append(30...30)
    set.append(UInt64.max - 1...UInt64.max)
    #expect(set.ranges == [0...19, 30...30, UInt64.max - 1...UInt64.max])
    for token: UInt64 in [0, 5, 19, 30, .max - 1, .max] { #expect(set.contains(token), "\(token)") }
    for token: UInt64 in [20, 29, 31, .max - 2] { #expect(!set.contains(token), "\(token)") }
    #expect(set.tokenCount == 23)
    var all = TokenRanges()
    all.append(0...UInt64.max)
    #expect(all.share == 1 && all.contains(.max) && all.contains(0))
  }
}
