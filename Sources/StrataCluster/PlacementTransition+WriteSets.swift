extension PlacementTransition {
  /// The nodes one token's writes go to during a transition, and the replica sets among them that
  /// each need their own quorum.
  ///
  /// In `dualWrite` and `readNew`: `nodes` is the old replicas in old order followed by the new-only
  /// ones in new order, `old` is `0..<replicationFactor` and `new` lists the positions of the new
  /// replicas in new order (new primary first); the quorum sets are `[old, new]`. In `switched`:
  /// `nodes` is the new replicas, `old` is empty, and the only quorum set is `new`.
  public struct WriteSets: Sendable, Equatable {
    /// Every node the write goes to, each once.
    public let nodes: [String]
    /// Positions in `nodes` of the old replicas, in old order (primary first).
    public let old: [Int]
    /// Positions in `nodes` of the new replicas, in new order (primary first).
    public let new: [Int]
    /// `setMasks[p]`: bit `s` is set when `nodes[p]` belongs to quorum set `s` (`ReplicaPlan`'s form).
    let setMasks: [UInt32]

    /// How many quorum sets a write has: 2 (old, new) while writing to both, 1 (new) once switched.
    public var setCount: Int { old.isEmpty ? 1 : 2 }

    /// The quorum sets as positions in `nodes`: `[old, new]`, or `[new]` once switched.
    public var sets: [[Int]] { old.isEmpty ? [new] : [old, new] }

    /// The union of `old` and `new` (the dual-write phases).
    init(old oldReplicas: [String], new newReplicas: [String]) {
      var nodes = oldReplicas
      var masks = [UInt32](repeating: 0b01, count: oldReplicas.count)
      var newPositions: [Int] = []
      newPositions.reserveCapacity(newReplicas.count)
      for node in newReplicas {
        if let p = oldReplicas.firstIndex(of: node) {
          masks[p] |= 0b10
          newPositions.append(p)
        } else {
          newPositions.append(nodes.count)
          nodes.append(node)
          masks.append(0b10)
        }
      }
      self.nodes = nodes
      self.old = Array(oldReplicas.indices)
      self.new = newPositions
      self.setMasks = masks
    }

    /// The new replicas only (`switched`).
    init(new newReplicas: [String]) {
      nodes = newReplicas
      old = []
      new = Array(newReplicas.indices)
      setMasks = [UInt32](repeating: 0b1, count: newReplicas.count)
    }
  }
}
