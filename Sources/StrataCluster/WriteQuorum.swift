/// The acknowledgement of one replicated write batch, as the nodes of its `ReplicaPlan` answer.
///
/// Each node stores its part atomically, so a node's answer counts for every row of its part. The batch
/// is acknowledged once every row has been stored by `required` of its replicas, and has failed once
/// some row can no longer get there (more than `replicas - required` of its replicas failed). A value
/// type without I/O: the coordinator feeds it each node's answer and acts on the outcome.
///
/// When the plan gives rows several replica sets (a transition's dual writes: old and new replicas),
/// the rule holds for each set: a row is written once `required` of EACH of its sets stored it (the
/// threshold clamped to each set's size), and is lost once some set can no longer get there. A node in
/// several sets of a row counts for each of them.
///
/// ```swift
/// var quorum = WriteQuorum(plan: plan, required: 2)
/// switch quorum.record(k, stored: true) {
/// case .waiting: break
/// case .acknowledged(let replicas): answerClient(replicas)
/// case .failed(let rows): failClient(rows)
/// }
/// ```
public struct WriteQuorum: Sendable {
  public enum Outcome: Sendable, Equatable {
    /// Some row's fate is still open.
    case waiting
    /// Every row reached the required count; `replicas` is the fewest stores of any row so far.
    case acknowledged(replicas: Int)
    /// The rows (ascending indexes) that can no longer reach the required count.
    case failed(rows: [Int])
  }

  let plan: ReplicaPlan
  /// Stores needed per row (per replica set, with several), before clamping to the set's size.
  public let required: Int
  /// Distinct nodes that stored each row.
  private var stored: [Int]
  /// Distinct nodes that failed to store each row (one-set plans only).
  private var failedCount: [Int]
  private var answered: [Bool]
  /// Rows below the required count of stores (with several sets: (row, set) pairs below theirs).
  private var short: Int
  /// With several sets, per (row, set) at `row * plan.setCount + set`: the set's size, its stores and
  /// its failures so far. Empty for a one-set plan, whose path is unchanged.
  private var setSize: [Int] = []
  private var setStored: [Int] = []
  private var setFailed: [Int] = []
  /// The first decisive outcome; it never changes afterwards.
  public private(set) var outcome: Outcome = .waiting

  /// `required` is clamped to 1...(each row's replica count), or with several sets to 1...(each set's
  /// size).
  public init(plan: ReplicaPlan, required: Int) {
    self.plan = plan
    self.required = max(1, required)
    stored = [Int](repeating: 0, count: plan.replicas.count)
    answered = [Bool](repeating: false, count: plan.nodes.count)
    if plan.setCount == 1 {
      failedCount = [Int](repeating: 0, count: plan.replicas.count)
      short = plan.replicas.count
    } else {
      failedCount = []
      let sets = plan.setCount
      setSize = [Int](repeating: 0, count: plan.replicas.count * sets)
      for (row, masks) in plan.setMasks.enumerated() {
        for var mask in masks {
          while mask != 0 {
            setSize[row * sets + mask.trailingZeroBitCount] += 1
            mask &= mask - 1
          }
        }
      }
      setStored = [Int](repeating: 0, count: setSize.count)
      setFailed = [Int](repeating: 0, count: setSize.count)
      // A set without nodes needs no stores (a plan never makes one).
      short = setSize.lazy.filter { $0 > 0 }.count
    }
    if short == 0 { outcome = .acknowledged(replicas: 0) }
  }

  /// How many of `row`'s replicas must store it (the required count, or all of them when fewer).
  private func needed(_ row: Int) -> Int { min(required, plan.replicas[row].count) }

  /// Records that node `k` stored its part (`stored`) or failed to; a node's second answer is ignored.
  /// Returns the outcome, which is decided by the first answer that settles it.
  @discardableResult
  public mutating func record(_ k: Int, stored ok: Bool) -> Outcome {
    guard !answered[k] else { return outcome }
    answered[k] = true
    guard plan.setCount == 1 else { return recordInSets(k, stored: ok) }
    var lost: [Int] = []
    for row in plan.parts[k] {
      if ok {
        stored[row] += 1
        if stored[row] == needed(row) { short -= 1 }
      } else {
        failedCount[row] += 1
        if plan.replicas[row].count - failedCount[row] < needed(row) { lost.append(row) }
      }
    }
    guard outcome == .waiting else { return outcome }
    if !lost.isEmpty {
      outcome = .failed(rows: lost)
    } else if short == 0 {
      outcome = .acknowledged(replicas: stored.min() ?? 0)
    }
    return outcome
  }

  /// `record` for a plan with several replica sets per row: node `k` counts in each set of each row
  /// of its part that it belongs to.
  private mutating func recordInSets(_ k: Int, stored ok: Bool) -> Outcome {
    let sets = plan.setCount
    var lost: [Int] = []
    for row in plan.parts[k] {
      // `k` is in the row's replicas: it has the row in its part.
      var mask = plan.setMasks[row][plan.replicas[row].firstIndex(of: k)!]
      var rowLost = false
      if ok { stored[row] += 1 }
      while mask != 0 {
        let cell = row * sets + mask.trailingZeroBitCount
        mask &= mask - 1
        let needed = min(required, setSize[cell])
        if ok {
          setStored[cell] += 1
          if setStored[cell] == needed { short -= 1 }
        } else {
          setFailed[cell] += 1
          if setSize[cell] - setFailed[cell] < needed { rowLost = true }
        }
      }
      if rowLost { lost.append(row) }
    }
    guard outcome == .waiting else { return outcome }
    if !lost.isEmpty {
      outcome = .failed(rows: lost)
    } else if short == 0 {
      outcome = .acknowledged(replicas: stored.min() ?? 0)
    }
    return outcome
  }

  /// Stores so far of each row (distinct nodes, whatever their sets).
  public var storesPerRow: [Int] { stored }
}
