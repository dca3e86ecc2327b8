public import StrataCore

/// Which node answers which items of one request: the coordinator's single "split by owner", shared by
/// writes, online lookups and exports.
///
/// Item `i` (a row, an entity id or a label, identified by its entity id) goes to the primary owner of
/// its entity on `ring` (`HashRing.primary(of:)`). Nodes are numbered in the order they first appear in
/// the request, and each node's items keep request order, so merging the answers back takes, for each
/// item in request order, the next answer of node `part[i]`:
///
/// ```swift
/// let plan = RoutingPlan(entityIDs: ["a", "b", "c"], ring: ring)
/// for (k, node) in plan.nodes.enumerated() { send(plan.parts[k].map { items[$0] }, to: node) }
/// ```
public struct RoutingPlan: Sendable, Equatable {
  /// The nodes that answer, in order of their first item.
  public private(set) var nodes: [String] = []
  /// `parts[k]`: the indexes of the items `nodes[k]` answers, ascending.
  public private(set) var parts: [[Int]] = []
  /// `part[i]`: the `k` of the node that answers item `i`.
  public private(set) var part: [Int] = []

  /// Routes each entity id to its primary owner on `ring`.
  public init(entityIDs: some Collection<String>, ring: HashRing) {
    self.init(entityIDs: entityIDs) { ring.primary(of: $0) }
  }

  /// Routes each entity id to one of its replicas under `placement`: `preferring` when it is one of
  /// them (a coordinator that holds a replica answers from it, without a network hop), else the first
  /// replica in placement order that is not in `avoiding` (nodes that failed, or are believed down),
  /// else, when every replica is avoided, the first replica not in `excluding` (nodes already tried
  /// for this request), else the primary.
  public init(
    entityIDs: some Collection<String>, placement: ReplicaPlacement, preferring: String? = nil,
    avoiding: Set<String> = [], excluding: Set<String> = []
  ) {
    self.init(entityIDs: entityIDs) { id in
      let replicas = placement.replicas(of: id)
      if let preferred = preferring, !avoiding.contains(preferred), replicas.contains(preferred) { return preferred }
      return replicas.first { !avoiding.contains($0) } ?? replicas.first { !excluding.contains($0) } ?? replicas[0]
    }
  }

  /// Routes each entity id to `route(id)`.
  init(entityIDs: some Collection<String>, route: (String) -> String) {
    part.reserveCapacity(entityIDs.count)
    var slot: [String: Int] = [:]
    for (i, id) in entityIDs.enumerated() {
      let node = route(id)
      let k: Int
      if let known = slot[node] {
        k = known
      } else {
        k = nodes.count
        slot[node] = k
        nodes.append(node)
        parts.append([])
      }
      part.append(k)
      parts[k].append(i)
    }
  }

  /// The indexes of the items `node` answers (ascending), or nil when it answers none.
  public func indexes(of node: String) -> [Int]? {
    nodes.firstIndex(of: node).map { parts[$0] }
  }
}
