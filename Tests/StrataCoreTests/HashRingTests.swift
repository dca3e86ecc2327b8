import StrataTestSupport
import Testing

@testable import StrataCore

// MARK: - Fixtures

/// A 1000-character id: "abcdefghij" repeated 100 times.
private let longID = String(repeating: "abcdefghij", count: 100)
/// "ünïcødé" in NFC, spelled with escapes so that no editor can renormalize it (11 UTF-8 bytes).
private let unicodeID = "\u{FC}n\u{EF}c\u{F8}d\u{E9}"

private func ring(_ nodes: [String], virtualNodes: Int = HashRing.defaultVirtualNodes, epoch: UInt64 = 1) -> HashRing {
  do {
    return try HashRing(nodes: nodes, virtualNodes: virtualNodes, epoch: epoch)
  } catch {
    fatalError("test ring \(nodes) rejected: \(error)")
  }
}

/// A ring with vnodes at chosen positions: `points` are (position, node id), `nodes` need not be sorted.
private func handmadeRing(_ nodes: [String], _ points: [(UInt64, String)]) -> HashRing {
  let sorted = nodes.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
  return HashRing(
    sortedNodes: sorted, virtualNodes: 1, epoch: 1,
    points: points.map { (position: $0.0, node: UInt32(sorted.firstIndex(of: $0.1)!)) })
}

/// Node id schemes operators actually use.
enum NodeIDScheme: String, CaseIterable, Sendable {
  case short  // n1, n2, ...
  case letters  // node-a, node-b, ...
  case address  // 10.0.0.1:7400, ...
  case kubernetes  // strata-0.strata.svc.cluster.local:7400, ...

  func ids(_ count: Int) -> [String] {
    (1...count).map { k in
      switch self {
      case .short: "n\(k)"
      case .letters: "node-" + String(UnicodeScalar(UInt8(96 + k)))
      case .address: "10.0.0.\(k):7400"
      case .kubernetes: "strata-\(k - 1).strata.svc.cluster.local:7400"
      }
    }
  }
}

/// A random entity id: 1 to 24 characters from an alphabet with ASCII, Latin-1, CJK and emoji.
private func randomEntityID(_ rng: inout SplitMix64) -> String {
  let alphabet: [Character] =
    Array("abcdefghijklmnopqrstuvwxyz0123456789_:-/") + ["\u{E9}", "\u{FC}", "\u{65E5}", "\u{1F600}"]
  return String((0...rng.below(24)).map { _ in rng.element(of: alphabet) })
}

/// Oracle: the owning vnode by linear scan (first position >= token, else the first vnode).
private func oracleVnode(_ ring: HashRing, _ token: UInt64) -> Int {
  ring.positions.firstIndex { $0 >= token } ?? 0
}

/// Oracle: distinct owners by walking every vnode once from the owning vnode.
private func oracleOwners(_ ring: HashRing, _ token: UInt64, _ replicas: Int) -> [String] {
  let start = oracleVnode(ring, token)
  var result: [String] = []
  for step in 0..<ring.positions.count {
    let node = ring.nodes[Int(ring.owners[(start + step) % ring.positions.count])]
    if !result.contains(node) && result.count < replicas { result.append(node) }
  }
  return result
}

// MARK: - Golden vectors

/// An entity id and its owners (replicas: 3); long ids are shortened in test names.
struct GoldenOwners: Sendable, CustomTestStringConvertible {
  let entityID: String
  let owners: [String]
  init(_ entityID: String, _ owners: [String]) {
    self.entityID = entityID
    self.owners = owners
  }
  var testDescription: String {
    let shown = entityID.count > 20 ? "\(entityID.prefix(10))… (\(entityID.utf8.count) bytes)" : entityID
    return "\"\(shown)\" -> \(owners)"
  }
}

@Suite("HashRing: golden placement (fixed forever; a client in any language must reproduce these)")
struct HashRingGoldenTests {
  /// The ring n1, n2, n3 with the default 1024 vnodes, epoch 1. Owners (replicas: 3) were computed once by
  /// an independent Python implementation of the documented functions and agree with the Swift code. If
  /// this test fails, entities would move between nodes: do NOT update the constants, fix the code.
  @Test(
    "owners of entity ids in the ring n1, n2, n3",
    arguments: [
      GoldenOwners("", ["n3", "n1", "n2"]),
      GoldenOwners("a", ["n1", "n2", "n3"]),
      GoldenOwners("u1", ["n3", "n2", "n1"]),
      GoldenOwners("user_42", ["n1", "n3", "n2"]),
      GoldenOwners("user_43", ["n3", "n1", "n2"]),
      GoldenOwners("item:9001", ["n3", "n2", "n1"]),
      GoldenOwners("session/7f3a", ["n1", "n3", "n2"]),
      GoldenOwners(unicodeID, ["n3", "n1", "n2"]),
      GoldenOwners("e\u{301}", ["n2", "n1", "n3"]),  // decomposed é: 3 UTF-8 bytes
      GoldenOwners("\u{65E5}\u{672C}", ["n1", "n2", "n3"]),  // 日本
      GoldenOwners("\u{1F600}", ["n1", "n3", "n2"]),  // 😀, 4 UTF-8 bytes
      GoldenOwners(longID, ["n1", "n2", "n3"]),
      GoldenOwners(String(repeating: "x", count: 10_000), ["n1", "n2", "n3"]),
      GoldenOwners("n1", ["n2", "n3", "n1"]),
    ]
  )
  func golden(_ golden: GoldenOwners) {
    let ring = ring(["n1", "n2", "n3"])
    #expect(ring.owners(of: golden.entityID, replicas: 3) == golden.owners)
    #expect(ring.owners(of: golden.entityID) == [golden.owners[0]])
    #expect(ring.primary(of: golden.entityID) == golden.owners[0])
  }

  @Test(
    "vnode positions",
    arguments: [
      ("n1", 0, 0xdc40_a6cf_c515_1bb8),
      ("n1", 1, 0x8b9d_c00d_31a7_6d12),
      ("n2", 0, 0x82e1_2a63_15fa_5e9e),
      ("n3", 1023, 0x755b_ee51_0112_9b4a),
      ("", 0, 0x0b0e_8d33_2421_19c9),
    ] as [(String, Int, UInt64)]
  )
  func vnodePositions(node: String, index: Int, position: UInt64) {
    #expect(HashRing.virtualNodePosition(of: node, index: index) == position)
  }

  @Test("vnode positions are the SplitMix64 stream seeded with the node's EntityToken")
  func positionsAreSplitMix() {
    for node in ["n1", "10.0.0.7:7400", unicodeID] {
      var stream = SplitMix64(seed: EntityToken.of(node))
      for index in 0..<64 {
        #expect(stream.next() == HashRing.virtualNodePosition(of: node, index: index), "\(node)#\(index)")
      }
    }
  }

  @Test("the ends of the ring n1, n2, n3, its shares, and tokens 0 and UInt64.max")
  func ringEnds() {
    let ring = ring(["n1", "n2", "n3"])
    #expect(ring.positions.count == 3 * 1024)
    #expect(ring.positions.first == 0x0027_8dc1_6697_1ad8)
    #expect(ring.positions.last == 0xffec_ff24_c78f_3102)
    #expect(ring.nodes[Int(ring.owners.first!)] == "n1")
    #expect(ring.nodes[Int(ring.owners.last!)] == "n1")
    #expect(ring.owners(ofToken: 0, replicas: 3) == ["n1", "n3", "n2"])
    #expect(ring.owners(ofToken: .max, replicas: 3) == ["n1", "n3", "n2"])
    #expect(abs(ring.share(of: "n1") - 0.32624790172019646) < 1e-12)
    #expect(abs(ring.share(of: "n2") - 0.3400865933341631) < 1e-12)
    #expect(abs(ring.share(of: "n3") - 0.33366550494564046) < 1e-12)
  }
}

// MARK: - Range convention

@Suite("HashRing: a vnode at p owns (previous position, p], the first vnode also the wrap-around")
struct HashRingBoundaryTests {
  @Test("tokens at, just after and between vnode positions, token 0 and UInt64.max")
  func boundaries() {
    let ring = handmadeRing(["a", "b", "c"], [(300, "c"), (100, "a"), (200, "b")])
    let expected: [(UInt64, String)] = [
      (0, "a"), (99, "a"), (100, "a"), (101, "b"), (200, "b"), (201, "c"), (300, "c"), (301, "a"), (.max, "a"),
    ]
    for (token, node) in expected { #expect(ring.primary(ofToken: token) == node, "token \(token)") }
    #expect(ring.owners(ofToken: 301, replicas: 3) == ["a", "b", "c"])
    #expect(ring.owners(ofToken: 250, replicas: 3) == ["c", "a", "b"])
    #expect(ring.primaryRanges(of: "a") == [0...100, 301...UInt64.max])
    #expect(ring.primaryRanges(of: "b") == [101...200])
    #expect(ring.primaryRanges(of: "c") == [201...300])
    #expect(ring.share(of: "b") == 100 / 0x1p64)
  }

  @Test("a vnode at UInt64.max leaves no wrap-around tail; a vnode at 0 owns only token 0")
  func extremePositions() {
    let ring = handmadeRing(["a", "b"], [(.max, "a"), (0, "b")])
    #expect(ring.primary(ofToken: 0) == "b")
    #expect(ring.primary(ofToken: 1) == "a")
    #expect(ring.primary(ofToken: .max) == "a")
    #expect(ring.primaryRanges(of: "b") == [0...0])
    #expect(ring.primaryRanges(of: "a") == [1...UInt64.max])
    #expect(ring.share(of: "b") == 1 / 0x1p64)
  }

  @Test("tied vnodes: the smaller node id (UTF-8 bytes) owns the range, the other only replicates")
  func ties() {
    let ring = handmadeRing(["b", "a", "c"], [(100, "b"), (100, "a"), (50, "c")])
    #expect(ring.primary(ofToken: 51) == "a")
    #expect(ring.primary(ofToken: 100) == "a")
    #expect(ring.primary(ofToken: 101) == "c")
    #expect(ring.owners(ofToken: 75, replicas: 3) == ["a", "b", "c"])
    #expect(ring.primaryRanges(of: "b") == [])
    #expect(ring.share(of: "b") == 0)
    #expect(ring.primaryRanges(of: "c") == [0...50, 101...UInt64.max])
    // Byte order, not Swift's String order: Swift compares "e\u{301}" as its NFC form "\u{E9}", after "f";
    // its UTF-8 bytes (0x65 0xCC 0x81) sort before "f" (0x66).
    #expect("f" < "e\u{301}")
    let unicode = handmadeRing(["f", "e\u{301}"], [(7, "f"), (7, "e\u{301}")])
    #expect(unicode.nodes == ["e\u{301}", "f"])
    #expect(unicode.primary(ofToken: 7) == "e\u{301}")
  }

  @Test("ranges of consecutive vnodes of one node are merged; non-members own nothing")
  func mergedRanges() {
    let ring = handmadeRing(["a", "b"], [(10, "a"), (20, "a"), (30, "b")])
    #expect(ring.primaryRanges(of: "a") == [0...20, 31...UInt64.max])
    #expect(ring.primaryRanges(of: "b") == [21...30])
    #expect(ring.primaryRanges(of: "zz") == [])
    #expect(ring.share(of: "zz") == 0)
    #expect(!ring.contains("zz") && ring.contains("a"))
  }

  @Test("a single-node ring owns everything")
  func singleNode() {
    let ring = ring(["only"], virtualNodes: 1)
    #expect(ring.primaryRanges(of: "only") == [0...UInt64.max])
    #expect(ring.share(of: "only") == 1)
    #expect(ring.owners(ofToken: 0, replicas: 3) == ["only"])
    #expect(ring.primary(of: "anything") == "only")
  }

  @Test("binary search agrees with a linear-scan oracle at every vnode position, its neighbours and random tokens")
  func againstOracle() {
    var rng = SplitMix64.forTest("HashRing.againstOracle")
    let seed = rng.seedDescription
    let ring = ring(NodeIDScheme.short.ids(5), virtualNodes: 64)
    var tokens: [UInt64] = [0, 1, .max - 1, .max]
    for p in ring.positions { tokens += [p &- 1, p, p &+ 1] }
    for _ in 0..<2_000 { tokens.append(rng.next()) }
    for token in tokens {
      #expect(ring.vnodeIndex(ofToken: token) == oracleVnode(ring, token), "token \(token); \(seed)")
      let replicas = 1 + rng.below(6)
      #expect(
        ring.owners(ofToken: token, replicas: replicas) == oracleOwners(ring, token, replicas),
        "token \(token); \(seed)")
    }
  }

  @Test(
    "the primary ranges of all nodes partition 0...UInt64.max and agree with primary(ofToken:) and share(of:)",
    arguments: [1, 2, 5, 10])
  func rangesPartitionTheTokenSpace(nodeCount: Int) {
    let ring = ring(NodeIDScheme.address.ids(nodeCount), virtualNodes: 128)
    var all: [(ClosedRange<UInt64>, String)] = []
    var shareSum = 0.0
    for node in ring.nodes {
      let ranges = ring.primaryRanges(of: node)
      let tokens = ranges.reduce(0.0) { $0 + Double($1.upperBound - $1.lowerBound) + 1 }
      #expect(abs(tokens / 0x1p64 - ring.share(of: node)) < 1e-12)
      shareSum += ring.share(of: node)
      for range in ranges {
        #expect(ring.primary(ofToken: range.lowerBound) == node)
        #expect(ring.primary(ofToken: range.upperBound) == node)
        all.append((range, node))
      }
    }
    #expect(abs(shareSum - 1) < 1e-9)
    all.sort { $0.0.lowerBound < $1.0.lowerBound }
    #expect(all.first?.0.lowerBound == 0)
    #expect(all.last?.0.upperBound == .max)
    for (previous, next) in zip(all, all.dropFirst()) {
      #expect(
        previous.0.upperBound != .max && previous.0.upperBound + 1 == next.0.lowerBound,
        "gap or overlap at \(previous.0)")
      if nodeCount > 1 { #expect(previous.1 != next.1, "adjacent ranges of \(previous.1) were not merged") }
    }
  }
}

// MARK: - Balance and movement

@Suite("HashRing: balance and data movement at the default vnode count")
struct HashRingDistributionTests {
  @Test("every node's share of the token space is within 10% of 1/N for N = 3...10", arguments: NodeIDScheme.allCases)
  func balance(scheme: NodeIDScheme) {
    var worst = (deviation: 0.0, nodes: 0, node: "")
    for n in 3...10 {
      let ring = ring(scheme.ids(n))
      var total = 0.0
      for node in ring.nodes {
        let share = ring.share(of: node)
        total += share
        let deviation = abs(share * Double(n) - 1)
        #expect(deviation <= 0.10, "\(scheme) N=\(n): \(node) has share \(share), 1/N = \(1 / Double(n))")
        if deviation > worst.deviation { worst = (deviation, n, node) }
      }
      #expect(abs(total - 1) < 1e-9)
    }
    print("[HashRing.balance] \(scheme): worst deviation \(worst.deviation * 100)% (\(worst.node) at N=\(worst.nodes))")
  }

  @Test("N -> N+1 nodes moves about 1/(N+1) of the keys (at most 1.3x), all of them to the new node", arguments: 3...9)
  func joinMovesOnlyToTheNewNode(n: Int) throws {
    var rng = SplitMix64.forTest("HashRing.join.\(n)")
    let seed = rng.seedDescription
    let before = ring(NodeIDScheme.short.ids(n), epoch: 7)
    let after = try before.adding("n\(n + 1)")
    #expect(after.epoch == 8)
    let keys = 20_000
    var moved = 0
    for _ in 0..<keys {
      let id = randomEntityID(&rng)
      let old = before.owners(of: id, replicas: 3)
      let new = after.owners(of: id, replicas: 4)
      if old[0] != new[0] {
        moved += 1
        #expect(new[0] == "n\(n + 1)", "\(id) moved \(old[0]) -> \(new[0]), not to the new node; \(seed)")
      }
      // Replica lists change only by the new node slotting in.
      #expect(Array(new.filter { $0 != "n\(n + 1)" }.prefix(3)) == old, "\(id): \(old) -> \(new); \(seed)")
    }
    let ideal = Double(keys) / Double(n + 1)
    print("[HashRing.join] N=\(n)->\(n + 1): moved \(moved)/\(keys) = \(Double(moved) / ideal)x of 1/(N+1); \(seed)")
    #expect(Double(moved) <= 1.3 * ideal, "moved \(moved) of \(keys), ideal \(ideal); \(seed)")
    #expect(Double(moved) >= 0.7 * ideal, "moved \(moved) of \(keys), ideal \(ideal); \(seed)")
  }

  @Test(
    "removing a node moves only that node's keys, each to its next replica", arguments: NodeIDScheme.kubernetes.ids(6))
  func removalMovesOnlyTheRemovedNodesKeys(removed: String) throws {
    var rng = SplitMix64.forTest("HashRing.remove")
    let seed = rng.seedDescription
    let before = ring(NodeIDScheme.kubernetes.ids(6), virtualNodes: 256)
    let after = try before.removing(removed)
    #expect(after.nodes.count == 5 && !after.contains(removed) && after.epoch == before.epoch + 1)
    for _ in 0..<3_000 {
      let id = randomEntityID(&rng)
      let old = before.owners(of: id, replicas: 4)
      let new = after.owners(of: id, replicas: 3)
      #expect(Array(old.filter { $0 != removed }.prefix(3)) == new, "\(id): \(old) -> \(new); \(seed)")
      if old[0] != removed { #expect(new[0] == old[0], "\(id) moved off \(old[0]); \(seed)") }
    }
  }
}

// MARK: - Determinism, replicas, validation

@Suite("HashRing: determinism, replicas and validation")
struct HashRingContractTests {
  @Test("placement does not depend on the order in which nodes are listed")
  func orderIndependence() {
    var rng = SplitMix64.forTest("HashRing.order")
    let seed = rng.seedDescription
    let nodes = NodeIDScheme.letters.ids(7) + [unicodeID, "e\u{301}"]
    let reference = ring(nodes, virtualNodes: 128)
    let ids = (0..<500).map { _ in randomEntityID(&rng) }
    for _ in 0..<5 {
      let shuffled = ring(nodes.shuffled(using: &rng), virtualNodes: 128)
      #expect(shuffled == reference)
      #expect(
        shuffled.nodes == reference.nodes && shuffled.positions == reference.positions
          && shuffled.owners == reference.owners, "\(seed)")
      for id in ids {
        #expect(shuffled.owners(of: id, replicas: 3) == reference.owners(of: id, replicas: 3), "\(id); \(seed)")
      }
    }
  }

  @Test("owners are distinct, start with the primary, extend each other, and are capped at the node count")
  func replicas() {
    var rng = SplitMix64.forTest("HashRing.replicas")
    let seed = rng.seedDescription
    let ring = ring(NodeIDScheme.short.ids(5))
    for _ in 0..<500 {
      let token = rng.next()
      var previous: [String] = []
      for replicas in 1...7 {
        let owners = ring.owners(ofToken: token, replicas: replicas)
        #expect(owners.count == min(replicas, 5), "\(seed)")
        #expect(Set(owners).count == owners.count, "duplicates in \(owners); \(seed)")
        #expect(owners.first == ring.primary(ofToken: token), "\(seed)")
        #expect(Array(owners.prefix(previous.count)) == previous, "\(previous) is not a prefix of \(owners); \(seed)")
        previous = owners
      }
      #expect(Set(previous) == Set(ring.nodes))
    }
  }

  @Test("equality: members, vnode count and epoch")
  func equality() {
    #expect(ring(["n1", "n2"]) == ring(["n2", "n1"]))
    #expect(ring(["n1", "n2"], epoch: 1) != ring(["n1", "n2"], epoch: 2))
    #expect(ring(["n1", "n2"], virtualNodes: 8) != ring(["n1", "n2"], virtualNodes: 16))
    #expect(ring(["n1", "n2"]) != ring(["n1", "n3"]))
    #expect(ring(["n1", "n2"], virtualNodes: 8).description == "HashRing(epoch 1, 2 nodes × 8 vnodes: n1, n2)")
  }

  @Test("bad node lists and vnode counts are rejected with messages that name the problem")
  func validation() {
    expectStrataError(.invalidArgument, mentioning: ["at least one node"]) { () throws(StrataError) in
      try HashRing(nodes: [], epoch: 1)
    }
    expectStrataError(.invalidArgument, mentioning: ["#2", "empty"]) { () throws(StrataError) in
      try HashRing(nodes: ["n1", "", "n3"], epoch: 1)
    }
    expectStrataError(.invalidArgument, mentioning: ["\"n2\"", "twice", "#2", "#4"]) { () throws(StrataError) in
      try HashRing(nodes: ["n1", "n2", "n3", "n2"], epoch: 1)
    }
    expectStrataError(.invalidArgument, mentioning: ["Unicode"]) { () throws(StrataError) in
      try HashRing(nodes: ["caf\u{E9}", "cafe\u{301}"], epoch: 1)
    }
    for bad in [0, -1, HashRing.maxVirtualNodes + 1] {
      expectStrataError(.invalidArgument, mentioning: ["virtualNodes", "\(bad)"]) { () throws(StrataError) in
        try HashRing(nodes: ["n1"], virtualNodes: bad, epoch: 1)
      }
    }
    #expect(ring(["n1"], virtualNodes: 1).positions.count == 1)
  }

  @Test("membership changes advance the epoch and reject what cannot be done")
  func membership() throws {
    let base = ring(["n1", "n2"], virtualNodes: 16, epoch: 41)
    let grown = try base.adding("n3")
    #expect(grown == ring(["n1", "n2", "n3"], virtualNodes: 16, epoch: 42))
    #expect(try grown.removing("n3") == ring(["n1", "n2"], virtualNodes: 16, epoch: 43))
    expectStrataError(.invalidArgument, mentioning: ["\"n2\"", "already"]) { () throws(StrataError) in
      try base.adding("n2")
    }
    expectStrataError(.notFound, mentioning: ["\"n9\""]) { () throws(StrataError) in try base.removing("n9") }
    expectStrataError(.invalidArgument, mentioning: ["only node"]) { () throws(StrataError) in
      try ring(["n1"], virtualNodes: 4).removing("n1")
    }
    expectStrataError(.failedPrecondition, mentioning: ["epoch"]) { () throws(StrataError) in
      try ring(["n1"], virtualNodes: 4, epoch: .max).adding("n2")
    }
  }
}
