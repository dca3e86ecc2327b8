public import StrataCore

/// A membership change in progress (a node added, removed or replaced): the placement before, `old`
/// (ring epoch E), the placement after, `new` (epoch E + 1, the same replication factor), and how far
/// the change has gone.
///
/// | phase       | writes go to | a row is written once it is stored by        | reads use |
/// |-------------|--------------|----------------------------------------------|-----------|
/// | `dualWrite` | old ∪ new    | `required` of its old AND `required` of its new replicas | `old` |
/// | `readNew`   | old ∪ new    | the same                                     | `new`     |
/// | `switched`  | new          | `required` of its new replicas               | `new`     |
///
/// The union lists the token's old replicas in old order (old primary first), then those of its new
/// replicas that are not old ones, in new order. Each threshold is clamped to its set's size
/// (`WriteQuorum`); both sets have `replicationFactor` nodes, so `required(_:)` is the same for both.
///
/// Both placements are functions of a token's primary vnode, so the write replicas are constant over
/// each elementary interval of the two rings (between consecutive vnode positions of either ring).
/// They are computed once per interval when the transition is made: a lookup is a binary search and an
/// array read (no lock, no allocation), as in `ReplicaPlacement`.
///
/// ```swift
/// let old = try ReplicaPlacement(ring: ring, replicationFactor: 3)
/// let new = try ReplicaPlacement(ring: try ring.adding("n4"), replicationFactor: 3)
/// let transition = try PlacementTransition(old: old, new: new, phase: .dualWrite)
/// let plan = ReplicaPlan(entityIDs: ids, transition: transition)   // every row to old ∪ new
/// var quorum = WriteQuorum(plan: plan, required: transition.required(.quorum))
/// ```
public final class PlacementTransition: Sendable {
  /// How far a membership change has gone; the phases follow each other in declaration order.
  public enum Phase: String, Sendable, CaseIterable {
    /// Writes to old ∪ new with a quorum in each; reads from `old`.
    case dualWrite
    /// Writes as in `dualWrite`; reads from `new`.
    case readNew
    /// Writes and reads use `new` only (a single-set quorum, as without a transition).
    case switched
  }

  /// The placement before the change.
  public let old: ReplicaPlacement
  /// The placement after the change.
  public let new: ReplicaPlacement
  public let phase: Phase

  private let intervals: ElementaryIntervals
  /// `table[j]`: the write replicas of the tokens of elementary interval `j`, for `phase`.
  private let table: [WriteSets]

  /// Throws `.invalidArgument` when the two placements' replication factors differ (a change of
  /// membership keeps the factor; changing it is a different operation).
  public convenience init(old: ReplicaPlacement, new: ReplicaPlacement, phase: Phase) throws(StrataError) {
    guard old.replicationFactor == new.replicationFactor else {
      throw .invalidArgument(
        "a placement transition keeps the replication factor, but the old placement has \(old.replicationFactor) and the new one \(new.replicationFactor); change membership and replication factor in separate steps"
      )
    }
    self.init(validatedOld: old, new: new, phase: phase)
  }

  /// `old` and `new` have the same replication factor.
  private init(validatedOld old: ReplicaPlacement, new: ReplicaPlacement, phase: Phase) {
    self.old = old
    self.new = new
    self.phase = phase
    let intervals = ElementaryIntervals(old.ring, new.ring)
    self.intervals = intervals
    table = intervals.positions.map { token in
      phase == .switched
        ? WriteSets(new: new.replicas(ofToken: token))
        : WriteSets(old: old.replicas(ofToken: token), new: new.replicas(ofToken: token))
    }
  }

  /// Replicas per entity, the same before and after.
  public var replicationFactor: Int { new.replicationFactor }

  /// Whether writes go to old ∪ new with a quorum in each (`dualWrite`, `readNew`), rather than to
  /// `new` only (`switched`).
  public var writesBothSets: Bool { phase != .switched }

  /// The placement reads use: `old` in `dualWrite`, `new` afterwards.
  public var readPlacement: ReplicaPlacement { phase == .dualWrite ? old : new }

  /// How many replicas of each set must store a row for `consistency` (the same for old and new).
  public func required(_ consistency: Consistency) -> Int { new.required(consistency) }

  /// The nodes a write of `token` goes to: in `dualWrite` and `readNew` the old replicas in old order,
  /// then the new replicas that are not old ones in new order; in `switched` the new replicas.
  public func writeReplicas(ofToken token: UInt64) -> [String] {
    table[intervals.index(ofToken: token)].nodes
  }

  /// The nodes a write of `entityID` goes to: `writeReplicas(ofToken: EntityToken.of(entityID))`.
  public func writeReplicas(of entityID: String) -> [String] {
    writeReplicas(ofToken: EntityToken.of(entityID))
  }

  /// The write replicas of `token` with which of them are old and which are new replicas.
  public func writeSets(ofToken token: UInt64) -> WriteSets {
    table[intervals.index(ofToken: token)]
  }

  /// The write replicas of `entityID` with which of them are old and which are new replicas.
  public func writeSets(of entityID: String) -> WriteSets {
    writeSets(ofToken: EntityToken.of(entityID))
  }

  /// The same change in `phase` (the placements are shared; the write table is rebuilt).
  public func moved(to phase: Phase) -> PlacementTransition {
    PlacementTransition(validatedOld: old, new: new, phase: phase)
  }
}

extension PlacementTransition: CustomStringConvertible {
  public var description: String {
    "PlacementTransition(\(phase.rawValue), epoch \(old.ring.epoch) → \(new.ring.epoch), RF \(replicationFactor))"
  }
}
