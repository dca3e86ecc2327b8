/// The acknowledgement of one replicated write batch, as the nodes of its `ReplicaPlan` answer.
///
/// Each node stores its part atomically, so a node's answer counts for every row of its part. The batch
/// is acknowledged once every row has been stored by `required` of its replicas, and has failed once
/// some row can no longer get there (more than `replicas - required` of its replicas failed). A value
/// type without I/O: the coordinator feeds it each node's answer and acts on the outcome.
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
  public let required: Int
  private var stored: [Int]
  private var failedCount: [Int]
  private var answered: [Bool]
  /// Rows below the required count of stores.
  private var short: Int
  /// The first decisive outcome; it never changes afterwards.
  public private(set) var outcome: Outcome = .waiting

  /// `required` is clamped to 1...(each row's replica count).
  public init(plan: ReplicaPlan, required: Int) {
    self.plan = plan
    self.required = max(1, required)
    stored = [Int](repeating: 0, count: plan.replicas.count)
    failedCount = [Int](repeating: 0, count: plan.replicas.count)
    answered = [Bool](repeating: false, count: plan.nodes.count)
    short = plan.replicas.count
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

  /// Stores so far of each row.
  public var storesPerRow: [Int] { stored }
}
