/// Where the items of one request go, each to several of its entity's replicas: every row of a write
/// batch to all of them, every label of an export to the few it is read from.
///
/// Nodes are numbered in the order they first appear; each node's part lists its items in request
/// order. `replicas[i]` are the `k`s of the nodes item `i` goes to, so a quorum can be counted per row
/// (`WriteQuorum`).
///
/// A row may have several replica sets that each need their own quorum: during a placement
/// transition's dual writes, its old replicas and its new ones (`init(entityIDs:transition:)`). Then
/// `replicas[i]` is the union of the sets (in order of first appearance, set 0 first) and
/// `replicaSets(ofRow:)` says which of them belong to which set. A plan from one placement has one set
/// per row, `replicas[i]` itself.
public struct ReplicaPlan: Sendable, Equatable {
  /// The nodes that store rows of the batch, in order of first appearance.
  public private(set) var nodes: [String] = []
  /// `parts[k]`: the indexes of the rows `nodes[k]` stores, ascending.
  public private(set) var parts: [[Int]] = []
  /// `replicas[i]`: the `k`s of the nodes that store row `i`, primary first (with several sets: the
  /// union of the sets, set 0's nodes first).
  public private(set) var replicas: [[Int]] = []
  /// How many replica sets each row has (the same for every row): 1 for a plan from one placement, 2
  /// (old, new) for a write plan of a transition that writes to both.
  public private(set) var setCount = 1
  /// With several sets, `setMasks[i][j]`: bit `s` is set when `replicas[i][j]` belongs to set `s`.
  /// Empty for a one-set plan.
  private(set) var setMasks: [[UInt32]] = []

  /// The most replica sets a row may have.
  public static let maxSetCount = 32

  /// Routes each row (by its entity id) to all of its replicas under `placement`, primary first.
  public init(entityIDs: [String], placement: ReplicaPlacement) {
    self.init(entityIDs: entityIDs, placement: placement) { $0 }
  }

  /// Routes each entity to `count` of its replicas: `preferring` first when it holds one and is not
  /// avoided, then the replicas not in `avoiding` in placement order, then the others.
  public init(
    entityIDs: [String], placement: ReplicaPlacement, count: Int, preferring: String?,
    avoiding: Set<String>
  ) {
    self.init(entityIDs: entityIDs, placement: placement) { replicas in
      var ordered = replicas.filter { $0 == preferring && !avoiding.contains($0) }
      ordered += replicas.filter { $0 != preferring && !avoiding.contains($0) }
      ordered += replicas.filter { !ordered.contains($0) }
      return Array(ordered.prefix(count))
    }
  }

  /// Routes each entity to `choose(its replicas)`.
  init(entityIDs: [String], placement: ReplicaPlacement, choose: ([String]) -> [String]) {
    replicas.reserveCapacity(entityIDs.count)
    var slot: [String: Int] = [:]
    for (i, id) in entityIDs.enumerated() {
      var ks: [Int] = []
      ks.reserveCapacity(placement.replicationFactor)
      for node in choose(placement.replicas(of: id)) { ks.append(route(row: i, to: node, slot: &slot)) }
      replicas.append(ks)
    }
  }

  /// Routes each row (by its entity id) to its write replicas under `transition`: while it writes to
  /// both placements (`dualWrite`, `readNew`), to the union of the entity's old and new replicas (old
  /// ones first, in old order, then the new-only ones in new order) with two sets, old (set 0) and
  /// new (set 1); once `switched`, to its new replicas with one set, as
  /// `init(entityIDs:placement: transition.new)`.
  public init(entityIDs: [String], transition: PlacementTransition) {
    guard transition.writesBothSets else {
      self.init(entityIDs: entityIDs, placement: transition.new)
      return
    }
    self.init()
    setCount = 2
    replicas.reserveCapacity(entityIDs.count)
    setMasks.reserveCapacity(entityIDs.count)
    var slot: [String: Int] = [:]
    for (i, id) in entityIDs.enumerated() {
      let write = transition.writeSets(of: id)
      var ks: [Int] = []
      ks.reserveCapacity(write.nodes.count)
      for node in write.nodes { ks.append(route(row: i, to: node, slot: &slot)) }
      replicas.append(ks)
      setMasks.append(write.setMasks)
    }
  }

  /// Routes row `i` to every node of each of its replica sets (`rows[i]`, each set a list of distinct
  /// node ids), with a quorum counted per set. Every row must have the same number of sets, between 1
  /// and `maxSetCount`, and no set may be empty. A row's replicas are the union of its sets, in order of
  /// first appearance (set 0 first). With one set per row this is the plan of those replicas.
  public init(replicaSets rows: some Collection<[[String]]>) {
    replicas.reserveCapacity(rows.count)
    let count = rows.first?.count ?? 1
    precondition((1...Self.maxSetCount).contains(count), "a row needs 1 to \(Self.maxSetCount) replica sets, got \(count)")
    setCount = count
    var slot: [String: Int] = [:]
    for (i, sets) in rows.enumerated() {
      precondition(sets.count == count, "row \(i) has \(sets.count) replica sets, row 0 has \(count)")
      var ks: [Int] = []
      var masks: [UInt32] = []
      for (s, set) in sets.enumerated() {
        precondition(!set.isEmpty, "replica set \(s) of row \(i) is empty")
        for node in set {
          let k = slot[node]
          if let j = k.flatMap({ ks.firstIndex(of: $0) }) {
            masks[j] |= 1 << UInt32(s)
          } else {
            ks.append(route(row: i, to: node, slot: &slot))
            masks.append(1 << UInt32(s))
          }
        }
      }
      replicas.append(ks)
      if count > 1 { setMasks.append(masks) }
    }
  }

  /// The plan of no rows, to fill in.
  private init() {}

  /// The `k` of `node` (numbering it if it is new), after adding row `i` to its part.
  @inline(__always)
  private mutating func route(row i: Int, to node: String, slot: inout [String: Int]) -> Int {
    let k: Int
    if let known = slot[node] {
      k = known
    } else {
      k = nodes.count
      slot[node] = k
      nodes.append(node)
      parts.append([])
    }
    parts[k].append(i)
    return k
  }

  /// The replica sets of `row`, each as the `k`s of its nodes in the order of `replicas[row]`:
  /// `[replicas[row]]` for a one-set plan.
  public func replicaSets(ofRow row: Int) -> [[Int]] {
    guard setCount > 1 else { return [replicas[row]] }
    return (0..<setCount).map { s in
      zip(replicas[row], setMasks[row]).compactMap { k, mask in mask & (1 << UInt32(s)) != 0 ? k : nil }
    }
  }
}
