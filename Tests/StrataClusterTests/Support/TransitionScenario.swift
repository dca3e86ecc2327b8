import StrataCluster
import StrataCore
import StrataTestSupport
import Testing

/// A membership change to test: the node lists before and after.
enum MembershipChange: String, CaseIterable, CustomTestStringConvertible {
  /// n4 joins n1...n3.
  case add
  /// n4 leaves n1...n4.
  case remove
  /// n5 replaces n3 in n1...n3.
  case replace
  /// n5 replaces n3 in n1...n4.
  case replaceOfFour

  var oldNodes: [String] {
    switch self {
    case .add, .replace: ["n1", "n2", "n3"]
    case .remove, .replaceOfFour: ["n1", "n2", "n3", "n4"]
    }
  }

  var newNodes: [String] {
    switch self {
    case .add: ["n1", "n2", "n3", "n4"]
    case .remove: ["n1", "n2", "n3"]
    case .replace: ["n1", "n2", "n5"]
    case .replaceOfFour: ["n1", "n2", "n4", "n5"]
    }
  }

  var testDescription: String { rawValue }
}

/// One change with a replication factor, vnode count and zones, as placements and their brute-force
/// oracles.
struct TransitionScenario: CustomStringConvertible {
  let change: MembershipChange
  let replicationFactor: Int
  let virtualNodes: Int
  let zones: [String: String]
  let old: ReplicaPlacement
  let new: ReplicaPlacement
  let oldOracle: BruteForcePlacement
  let newOracle: BruteForcePlacement

  /// Every node of either side.
  var allNodes: [String] { Array(Set(change.oldNodes + change.newNodes)).sorted() }

  /// With `zoned`, each of n1...n5 gets one of 2 or 3 zones, or (1 in 5) none.
  init(_ change: MembershipChange, replicationFactor: Int, zoned: Bool, virtualNodes: Int, rng: inout SplitMix64) throws {
    self.change = change
    self.replicationFactor = replicationFactor
    self.virtualNodes = virtualNodes
    var zones: [String: String] = [:]
    if zoned {
      let count = 2 + rng.below(2)
      for node in ["n1", "n2", "n3", "n4", "n5"] { zones[node] = rng.oneIn(5) ? "" : "z\(rng.below(count))" }
    }
    self.zones = zones
    let oldRing = try HashRing(nodes: change.oldNodes, virtualNodes: virtualNodes, epoch: 7)
    let newRing = try HashRing(nodes: change.newNodes, virtualNodes: virtualNodes, epoch: 8)
    old = try ReplicaPlacement(ring: oldRing, replicationFactor: replicationFactor, zones: zones)
    new = try ReplicaPlacement(ring: newRing, replicationFactor: replicationFactor, zones: zones)
    oldOracle = BruteForcePlacement(
      nodes: change.oldNodes, virtualNodes: virtualNodes, replicationFactor: replicationFactor, zones: zones)
    newOracle = BruteForcePlacement(
      nodes: change.newNodes, virtualNodes: virtualNodes, replicationFactor: replicationFactor, zones: zones)
  }

  /// `count` random tokens, 0 and `UInt64.max`, and every vnode position of both rings and its
  /// neighbours (±1, wrapping): where the replicas change.
  func sampleTokens(_ count: Int, rng: inout SplitMix64) -> [UInt64] {
    var tokens: [UInt64] = [0, 1, .max, .max - 1]
    for _ in 0..<count { tokens.append(rng.next()) }
    for p in oldOracle.positions + newOracle.positions { tokens += [p &- 1, p, p &+ 1] }
    return tokens
  }

  var description: String {
    "\(change.rawValue), RF \(replicationFactor), \(virtualNodes) vnodes, zones \(zones.isEmpty ? "none" : zones.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))"
  }
}
