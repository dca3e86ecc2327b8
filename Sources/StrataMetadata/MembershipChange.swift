/// A membership change of a cluster in progress, kept in its `ClusterLayout` (docs/scale-out.md).
///
/// The change moves the cluster from the ring of `from` (epoch `fromEpoch`) to the ring of `to`
/// (epoch `fromEpoch + 1`), through phases, each entered by one etcd transaction of the node driving
/// the change once every live node applied the phase before:
///
/// 1. `dualWrite`: writes go to the replicas of both rings and are acknowledged only when a quorum of
///    each stored them; reads use the old ring.
/// 2. `streaming`: the same, while each node that gains token ranges pulls them from their old
///    replicas (the target writes them with their write ids, so repeats change nothing) and reports
///    when it holds them (`change-done/<node>`).
/// 3. `readNew`: reads use the new ring (writes as before).
/// 4. `switched`: the new ring is the cluster's ring (`ClusterLayout.epoch` and `nodes` are the new
///    ones): writes and reads use it only. Nodes still accept the old epoch: the old copies are still
///    there.
/// 5. `cleanup`: each node deletes the entities it no longer replicates; when all did, the change is
///    removed from the layout and the old epoch is refused from then on.
public struct MembershipChange: Codable, Sendable, Equatable {
  public enum Kind: String, Codable, Sendable {
    case add, remove, replace
  }

  public enum Phase: String, Codable, Sendable, CaseIterable, Comparable {
    case dualWrite = "dual_write"
    case streaming
    case readNew = "read_new"
    case switched
    case cleanup

    var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: Phase, b: Phase) -> Bool { a.rank < b.rank }
  }

  public var kind: Kind
  /// The node added, removed or replaced.
  public var node: String
  /// With `replace`: the node that takes `node`'s place.
  public var replacement: String?
  public var phase: Phase
  public var fromEpoch: UInt64
  public var from: [ClusterLayout.Member]
  public var to: [ClusterLayout.Member]
  public var startedAtMicros: Int64
  /// When `switched`: the time after which the driver starts the cleanup by itself.
  public var cleanupAtMicros: Int64?

  public init(
    kind: Kind, node: String, replacement: String? = nil, phase: Phase = .dualWrite, fromEpoch: UInt64,
    from: [ClusterLayout.Member], to: [ClusterLayout.Member], startedAtMicros: Int64
  ) {
    self.kind = kind
    self.node = node
    self.replacement = replacement
    self.phase = phase
    self.fromEpoch = fromEpoch
    self.from = from
    self.to = to
    self.startedAtMicros = startedAtMicros
  }

  public var toEpoch: UInt64 { fromEpoch + 1 }

  /// Every node of either ring.
  public var allMembers: [ClusterLayout.Member] {
    from + to.filter { m in !from.contains { $0.id == m.id } }
  }

  /// The node that is gone for good and is not waited for: the replaced one.
  public var dead: String? { kind == .replace ? node : nil }

  /// "add n4", "remove n4", "replace n3 with n5".
  public var summary: String {
    switch kind {
    case .add: "add \(node)"
    case .remove: "remove \(node)"
    case .replace: "replace \(node) with \(replacement ?? "?")"
    }
  }

  /// The key `change-done/<node>` holds once `node` finished `phase` of this change. It names the
  /// change by its epoch and its start: after an abort, the next change has the same `toEpoch`, and
  /// the markers the aborted one left must not count for it (a node would skip receiving its ranges).
  public func doneMarker(_ phase: Phase) -> String { "\(toEpoch):\(startedAtMicros):\(phase.rawValue)" }
}
