/// Where the items of one request go, each to several of its entity's replicas: every row of a write
/// batch to all of them, every label of an export to the few it is read from.
///
/// Nodes are numbered in the order they first appear; each node's part lists its items in request
/// order. `replicas[i]` are the `k`s of the nodes item `i` goes to, so a quorum can be counted per row
/// (`WriteQuorum`).
public struct ReplicaPlan: Sendable, Equatable {
  /// The nodes that store rows of the batch, in order of first appearance.
  public private(set) var nodes: [String] = []
  /// `parts[k]`: the indexes of the rows `nodes[k]` stores, ascending.
  public private(set) var parts: [[Int]] = []
  /// `replicas[i]`: the `k`s of the nodes that store row `i`, primary first.
  public private(set) var replicas: [[Int]] = []

  /// Routes each row (by its entity id) to all of its replicas under `placement`, primary first.
  public init(entityIDs: some Collection<String>, placement: ReplicaPlacement) {
    self.init(entityIDs: entityIDs, placement: placement) { $0 }
  }

  /// Routes each entity to `count` of its replicas: `preferring` first when it holds one and is not
  /// avoided, then the replicas not in `avoiding` in placement order, then the others.
  public init(
    entityIDs: some Collection<String>, placement: ReplicaPlacement, count: Int, preferring: String?,
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
  init(entityIDs: some Collection<String>, placement: ReplicaPlacement, choose: ([String]) -> [String]) {
    replicas.reserveCapacity(entityIDs.count)
    var slot: [String: Int] = [:]
    for (i, id) in entityIDs.enumerated() {
      var ks: [Int] = []
      ks.reserveCapacity(placement.replicationFactor)
      for node in choose(placement.replicas(of: id)) {
        let k: Int
        if let known = slot[node] {
          k = known
        } else {
          k = nodes.count
          slot[node] = k
          nodes.append(node)
          parts.append([])
        }
        ks.append(k)
        parts[k].append(i)
      }
      replicas.append(ks)
    }
  }
}
