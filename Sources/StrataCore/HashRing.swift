/// The consistent-hash ring that places entities on the nodes of a cluster.
///
/// Every entity lives at its token, `EntityToken.of(entityID)` (the same token that prefixes all of its
/// storage keys), and each node appears on the ring as `virtualNodes` points (virtual nodes, "vnodes").
/// Everything here is a fixed function of the node ids, the vnode count and the token, so a client in
/// any language can compute owners without asking a node:
///
/// - **Vnode positions.** Vnode `i` (`0 ..< virtualNodes`) of node `id` sits at the `i`-th output of
///   SplitMix64 seeded with `EntityToken.of(id)`, see ``virtualNodePosition(of:index:)``:
///   ```
///   seed  = EntityToken.of(id)                      // FNV-1a 64 + fmix64 over the id's UTF-8 bytes
///   z     = seed &+ (UInt64(i) &+ 1) &* 0x9E3779B97F4A7C15
///   z     = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
///   z     = (z ^ (z >> 27)) &* 0x94D049BB133111EB
///   pos   = z ^ (z >> 31)                           // all arithmetic modulo 2^64
///   ```
///   A node's vnodes never collide with each other (the SplitMix64 output function is a bijection).
/// - **Order.** Vnodes are sorted by `(position, node id)`, node ids compared by their UTF-8 bytes. The
///   order in which nodes are listed never matters.
/// - **Ranges.** The vnode at position `p` whose predecessor (in that order) sits at `q` owns the tokens
///   in `(q, p]`. The first vnode also owns the wrap-around: every token greater than the last position,
///   and every token up to and including its own position. So a token `t` belongs to the first vnode with
///   `position >= t`, or to the first vnode of all when `t` is greater than every position.
/// - **Ties.** If vnodes of two nodes land on the same position, the one with the smaller node id (UTF-8
///   bytes) comes first and owns `(q, p]`; the other owns the empty range `(p, p]` and only shows up as a
///   replica. (With 64-bit positions this practically never happens; the rule makes it deterministic.)
/// - **Replicas.** The owners of a token are found by walking the vnodes from its primary vnode in ring
///   order (wrapping at the end), keeping each node the first time it is met: the first owner is the
///   primary, all owners are distinct, and there are at most `nodes.count` of them.
///
/// Lookups are a binary search over the sorted vnode positions: O(log(nodes × virtualNodes)).
///
/// The `epoch` numbers ring versions: every change of membership produces a ring with a greater epoch
/// (see ``adding(_:)`` and ``removing(_:)``), and internode requests carry the epoch they were routed with.
///
/// ```swift
/// let ring = try HashRing(nodes: ["n1", "n2", "n3"], epoch: 1)
/// ring.primary(of: "user_42")             // "n1"
/// ring.owners(of: "user_42", replicas: 2) // ["n1", "n3"]
/// ```
public struct HashRing: Sendable {
  /// The default number of virtual nodes per node.
  ///
  /// Chosen by measurement: the smallest power of two for which every node's share of the token space is
  /// within 10% of 1/N for every N in 3...10 under several id schemes ("n1"..."nN", "node-a"...,
  /// "10.0.0.X:7400", "strata-K.strata.svc.cluster.local:7400", "Node01"...). The worst deviation was
  /// 18.0% at 256, 12.6% at 512, 7.1% at 1024 and 4.6% at 2048. Vnodes placed independently per node
  /// (which adding or removing a node needs, so that no other node's vnodes move) deviate like
  /// sqrt((1 - 1/N) / V): about 3% standard deviation at 1024.
  public static let defaultVirtualNodes = 1024

  /// The largest accepted `virtualNodes`.
  public static let maxVirtualNodes = 65_536

  /// The member node ids, sorted by their UTF-8 bytes.
  public let nodes: [String]
  /// Virtual nodes per member.
  public let virtualNodes: Int
  /// The ring's version; a membership change gives a greater epoch.
  public let epoch: UInt64

  /// Vnode positions, ascending; equal positions ordered by node id.
  @usableFromInline let positions: [UInt64]
  /// `owners[k]` is the index in `nodes` of the node of the vnode at `positions[k]`.
  @usableFromInline let owners: [UInt32]

  /// Builds the ring of `nodes` (in any order).
  ///
  /// Throws `.invalidArgument` for an empty list, an empty or repeated node id (ids that are equal as
  /// Swift strings, i.e. canonically equivalent Unicode, count as repeated), two ids with the same
  /// `EntityToken` (they would get the very same vnodes), or `virtualNodes` outside `1...65536`.
  public init(
    nodes: [String], virtualNodes: Int = HashRing.defaultVirtualNodes, epoch: UInt64
  ) throws(StrataError) {
    guard !nodes.isEmpty else {
      throw .invalidArgument("a hash ring needs at least one node, but the node list is empty")
    }
    guard (1...Self.maxVirtualNodes).contains(virtualNodes) else {
      throw .invalidArgument(
        "virtualNodes must be between 1 and \(Self.maxVirtualNodes) (default \(Self.defaultVirtualNodes)), got \(virtualNodes)"
      )
    }
    var firstIndex: [String: Int] = [:]
    for (index, id) in nodes.enumerated() {
      guard !id.isEmpty else {
        throw .invalidArgument(
          "node id #\(index + 1) of \(nodes.count) is empty; every node needs a non-empty id such as \"n1\" or \"10.0.0.1:7400\""
        )
      }
      if let earlier = firstIndex[id] {
        let other = nodes[earlier]
        if Array(other.utf8) == Array(id.utf8) {
          throw .invalidArgument(
            "node id \"\(id)\" is listed twice (#\(earlier + 1) and #\(index + 1)); node ids must be unique")
        }
        throw .invalidArgument(
          "node ids #\(earlier + 1) \"\(other)\" and #\(index + 1) \"\(id)\" are the same text in different Unicode forms; use ids that differ visibly"
        )
      }
      firstIndex[id] = index
    }
    let sorted = nodes.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    let seeds = sorted.map(EntityToken.of)
    var nodeOfSeed: [UInt64: String] = [:]
    for (id, seed) in zip(sorted, seeds) {
      if let other = nodeOfSeed.updateValue(id, forKey: seed) {
        throw .invalidArgument(
          "node ids \"\(other)\" and \"\(id)\" have the same ring token \(seed) and would share all their virtual nodes; rename one of them"
        )
      }
    }
    var points: [(position: UInt64, node: UInt32)] = []
    points.reserveCapacity(sorted.count * virtualNodes)
    for (node, seed) in seeds.enumerated() {
      for index in 0..<virtualNodes {
        points.append((Self.splitMixOutput(seed: seed, index: index), UInt32(node)))
      }
    }
    self.init(sortedNodes: sorted, virtualNodes: virtualNodes, epoch: epoch, points: points)
  }

  /// Assembles a ring from explicit vnode points (`node` indexes `sortedNodes`, which must be sorted by
  /// UTF-8 bytes). Tests use it to place vnodes at chosen positions.
  init(sortedNodes: [String], virtualNodes: Int, epoch: UInt64, points: [(position: UInt64, node: UInt32)]) {
    precondition(!points.isEmpty, "a ring needs at least one vnode")
    let ordered = points.sorted { $0.position != $1.position ? $0.position < $1.position : $0.node < $1.node }
    self.nodes = sortedNodes
    self.virtualNodes = virtualNodes
    self.epoch = epoch
    self.positions = ordered.map(\.position)
    self.owners = ordered.map(\.node)
  }

  /// The position of vnode `index` (from 0) of node `nodeID`: the `index`-th output of SplitMix64 seeded
  /// with `EntityToken.of(nodeID)` (the exact steps are in the type's documentation).
  public static func virtualNodePosition(of nodeID: String, index: Int) -> UInt64 {
    precondition(index >= 0, "vnode indexes start at 0")
    return splitMixOutput(seed: EntityToken.of(nodeID), index: index)
  }

  @inline(__always)
  static func splitMixOutput(seed: UInt64, index: Int) -> UInt64 {
    var z = seed &+ (UInt64(index) &+ 1) &* 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Whether `node` is a member.
  public func contains(_ node: String) -> Bool { nodeIndex(of: node) != nil }

  /// The index of `node` in `nodes` (binary search over the byte order).
  func nodeIndex(of node: String) -> Int? {
    var low = 0
    var high = nodes.count
    while low < high {
      let mid = (low + high) / 2
      if nodes[mid].utf8.lexicographicallyPrecedes(node.utf8) { low = mid + 1 } else { high = mid }
    }
    return low < nodes.count && nodes[low].utf8.elementsEqual(node.utf8) ? low : nil
  }

  /// The index in `positions` of the vnode that owns `token`: the first with `position >= token`,
  /// or 0 when `token` is greater than every position (the wrap-around).
  @inlinable
  func vnodeIndex(ofToken token: UInt64) -> Int {
    var low = 0
    var high = positions.count
    while low < high {
      let mid = (low &+ high) >> 1
      if positions[mid] < token { low = mid + 1 } else { high = mid }
    }
    return low == positions.count ? 0 : low
  }

  /// The index of the vnode whose range holds `token` (its primary vnode): tokens with the same index
  /// have the same owners.
  public func primaryVnode(ofToken token: UInt64) -> Int { vnodeIndex(ofToken: token) }

  /// The number of vnodes on the ring (members × virtual nodes), the range of `primaryVnode`.
  public var vnodeCount: Int { positions.count }

  /// The position of vnode `k` (in ring order): a token whose primary vnode is `k` (or, when several
  /// vnodes share the position, the first of them).
  public func vnodePosition(_ k: Int) -> UInt64 { positions[k] }

  /// The node that owns `token` as primary.
  @inlinable
  public func primary(ofToken token: UInt64) -> String {
    nodes[Int(owners[vnodeIndex(ofToken: token)])]
  }

  /// The node that owns `entityID` as primary: `primary(ofToken: EntityToken.of(entityID))`.
  @inlinable
  public func primary(of entityID: String) -> String {
    primary(ofToken: EntityToken.of(entityID))
  }

  /// The `replicas` distinct owners of `token`, primary first, in ring order from the token's vnode.
  /// Asking for more replicas than there are nodes returns every node once. `replicas` must be at least 1.
  public func owners(ofToken token: UInt64, replicas: Int) -> [String] {
    precondition(replicas >= 1, "replicas must be at least 1, got \(replicas)")
    let wanted = min(replicas, nodes.count)
    var found: [UInt32] = []
    found.reserveCapacity(wanted)
    var vnode = vnodeIndex(ofToken: token)
    while found.count < wanted {
      let node = owners[vnode]
      if !found.contains(node) { found.append(node) }
      vnode += 1
      if vnode == positions.count { vnode = 0 }
    }
    return found.map { nodes[Int($0)] }
  }

  /// The `replicas` distinct owners of `entityID`, primary first: `owners(ofToken: EntityToken.of(entityID), replicas:)`.
  public func owners(of entityID: String, replicas: Int = 1) -> [String] {
    owners(ofToken: EntityToken.of(entityID), replicas: replicas)
  }
}

extension HashRing: Equatable {
  /// Two rings are equal when they have the same members, vnode count and epoch (placement follows from these).
  public static func == (lhs: HashRing, rhs: HashRing) -> Bool {
    lhs.epoch == rhs.epoch && lhs.virtualNodes == rhs.virtualNodes
      && lhs.nodes.elementsEqual(rhs.nodes) { $0.utf8.elementsEqual($1.utf8) }
  }
}

extension HashRing: CustomStringConvertible {
  public var description: String {
    "HashRing(epoch \(epoch), \(nodes.count) nodes × \(virtualNodes) vnodes: \(nodes.joined(separator: ", ")))"
  }
}
