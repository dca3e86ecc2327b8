extension HashRing {
  /// The ring with `node` added, the same vnode count, and the next epoch.
  ///
  /// Only tokens whose primary becomes `node` change primary (about 1/(N+1) of them); every other token
  /// keeps its primary. Throws `.invalidArgument` if `node` is empty or already a member, and
  /// `.failedPrecondition` if the epoch is already `UInt64.max`.
  public func adding(_ node: String) throws(StrataError) -> HashRing {
    guard !contains(node) else { throw .invalidArgument("node \"\(node)\" is already a member of \(self)") }
    return try HashRing(nodes: nodes + [node], virtualNodes: virtualNodes, epoch: try nextEpoch())
  }

  /// The ring without `node`, the same vnode count, and the next epoch.
  ///
  /// Only the tokens `node` owned change primary; each goes to the next other node in ring order. Throws
  /// `.notFound` if `node` is not a member, `.invalidArgument` if it is the only one, and
  /// `.failedPrecondition` if the epoch is already `UInt64.max`.
  public func removing(_ node: String) throws(StrataError) -> HashRing {
    guard let index = nodeIndex(of: node) else { throw .notFound("node \"\(node)\" is not a member of \(self)") }
    guard nodes.count > 1 else {
      throw .invalidArgument(
        "cannot remove \"\(node)\": it is the only node of the ring, and a ring needs at least one")
    }
    var remaining = nodes
    remaining.remove(at: index)
    return try HashRing(nodes: remaining, virtualNodes: virtualNodes, epoch: try nextEpoch())
  }

  private func nextEpoch() throws(StrataError) -> UInt64 {
    guard epoch < .max else { throw .failedPrecondition("the ring epoch is already UInt64.max and cannot advance") }
    return epoch + 1
  }
}
