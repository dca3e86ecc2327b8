import StrataCore

/// The replicas of a token by the letter of `HashRing`'s and `ReplicaPlacement`'s documentation, with
/// no table and no binary search: every vnode position from `HashRing.virtualNodePosition`, sorted by
/// (position, node id bytes), a linear scan for the token's vnode, and a walk of the ring from there.
/// The oracle of the transition tests.
struct BruteForcePlacement {
  let nodes: [String]
  let replicationFactor: Int
  /// Zone per node; nodes missing or with "" have none.
  let zones: [String: String]
  /// Every vnode in ring order.
  private let vnodes: [(position: UInt64, node: String)]

  init(nodes: [String], virtualNodes: Int, replicationFactor: Int, zones: [String: String] = [:]) {
    self.nodes = nodes
    self.replicationFactor = replicationFactor
    self.zones = zones.filter { !$0.value.isEmpty }
    vnodes = nodes.flatMap { node in
      (0..<virtualNodes).map { (position: HashRing.virtualNodePosition(of: node, index: $0), node: node) }
    }.sorted {
      $0.position != $1.position ? $0.position < $1.position : $0.node.utf8.lexicographicallyPrecedes($1.node.utf8)
    }
  }

  /// Every vnode position (with repeats when vnodes tie).
  var positions: [UInt64] { vnodes.map(\.position) }

  /// The distinct nodes in ring order from the token's vnode (the first with position >= token, or the
  /// first of all past the last position).
  func walk(_ token: UInt64) -> [String] {
    let start = vnodes.firstIndex { $0.position >= token } ?? 0
    var seen: [String] = []
    for i in 0..<vnodes.count where seen.count < nodes.count {
      let node = vnodes[(start + i) % vnodes.count].node
      if !seen.contains(node) { seen.append(node) }
    }
    return seen
  }

  /// The token's replicas: without zones the first RF of the walk; with zones a first pass keeping
  /// nodes of zones not yet picked (a node without a zone is a zone of its own), then the skipped ones.
  func replicas(_ token: UInt64) -> [String] {
    let walk = walk(token)
    guard !zones.isEmpty else { return Array(walk.prefix(replicationFactor)) }
    var picked: [String] = []
    var skipped: [String] = []
    var zonesSeen: Set<String> = []
    for node in walk where picked.count < replicationFactor {
      if let zone = zones[node], !zonesSeen.insert(zone).inserted {
        skipped.append(node)
      } else {
        picked.append(node)
      }
    }
    return picked + skipped.prefix(replicationFactor - picked.count)
  }
}
