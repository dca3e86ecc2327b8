/// Where the rows of one write batch go: every row to each of its replicas.
///
/// Nodes are numbered in the order they first appear (a row's replicas in placement order, primary
/// first); each node's part lists its rows in request order. `replicas[i]` are the `k`s of row `i`'s
/// replicas, so a quorum can be counted per row (`WriteQuorum`).
public struct WritePlan: Sendable, Equatable {
  /// The nodes that store rows of the batch, in order of first appearance.
  public private(set) var nodes: [String] = []
  /// `parts[k]`: the indexes of the rows `nodes[k]` stores, ascending.
  public private(set) var parts: [[Int]] = []
  /// `replicas[i]`: the `k`s of the nodes that store row `i`, primary first.
  public private(set) var replicas: [[Int]] = []

  /// Routes each row (by its entity id) to its replicas under `placement`.
  public init(entityIDs: some Collection<String>, placement: ReplicaPlacement) {
    replicas.reserveCapacity(entityIDs.count)
    var slot: [String: Int] = [:]
    for (i, id) in entityIDs.enumerated() {
      var ks: [Int] = []
      ks.reserveCapacity(placement.replicationFactor)
      for node in placement.replicas(of: id) {
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
