import Foundation
import StrataTestSupport
import Testing

/// The membership-change protocol (`MembershipDriver`, `EtcdLayoutFollower`, `MembershipChanges`) run
/// against an in-memory etcd on a virtual clock, with simulated nodes and seeded faults; the checks
/// are `MembershipChecker`'s, plus liveness (`SimConfig.livenessBound`). Seeds 1...200 run every time;
/// `STRATA_TEST_SEED=N` runs seed N alone and prints its whole trace.
@Suite("Membership changes in a simulated cluster")
struct MembershipSimulationTests {
  static let batches = 8
  static let seedsPerBatch = 25

  /// Runs one seed; its problems (empty: none) and what it did.
  static func run(seed: UInt64, config: SimConfig = SimConfig()) async -> (problems: [String], stats: ScenarioStats, trace: SimTrace) {
    let cluster = SimCluster(seed: seed, config: config)
    let stats = Locked(ScenarioStats())
    let problems = await cluster.run { await $0.membershipScenario(stats: stats) }
    return (problems, stats.value, cluster.trace)
  }

  @Test(
    "add, remove and replace under crashes, driver deaths and slow nodes: every invariant, and done within the bound",
    arguments: 0..<batches)
  func seeds(batch: Int) async {
    if ProcessInfo.processInfo.environment[SplitMix64.seedVariable] != nil, batch > 0 { return }
    let seeds: [UInt64] =
      ProcessInfo.processInfo.environment[SplitMix64.seedVariable] != nil
      ? [SplitMix64.testSeed()] : (0..<Self.seedsPerBatch).map { UInt64(1 + batch * Self.seedsPerBatch + $0) }
    var total = ScenarioStats()
    for seed in seeds {
      let (problems, stats, trace) = await Self.run(seed: seed)
      if seeds.count == 1 { print(trace.all.joined(separator: "\n")) }
      #expect(
        problems.isEmpty,
        "seed \(seed) (replay with \(SplitMix64.seedVariable)=\(seed)):\n\(problems.joined(separator: "\n"))\n--- trace (last 80 lines) ---\n\(trace.tail(80))"
      )
      total.completed += stats.completed
      total.aborted += stats.aborted
      total.refused += stats.refused
      total.longestAfterFaults = max(total.longestAfterFaults, stats.longestAfterFaults)
      total.virtualTime += stats.virtualTime
    }
    print(
      "[MembershipSimulation] seeds \(seeds.first!)...\(seeds.last!): \(total.completed) changes completed, \(total.aborted) aborted, "
        + "\(total.refused) refused; longest after the last fault \(total.longestAfterFaults); \(total.virtualTime) of virtual time")
  }

  @Test("the done markers of an aborted change do not count for the next change to the same epoch")
  func abortedChangeMarkers() async {
    let cluster = SimCluster(seed: 1)
    let problems = await cluster.run { await $0.abortThenRemove() }
    #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))\n--- trace ---\n\(cluster.trace.tail(60))")
  }

  /// A restarting node whose storage takes long to open (12 s, far past the driver's grace of 3 s)
  /// while a change moves on: the driver takes it for down and leaves phases without it, so the layout
  /// it joined with is stale by the time it serves. It reads the layout again before it serves
  /// (`StrataNode.currentLayout`), so it never serves by a layout the driver already left. (Before that
  /// re-read it served two phases behind: reading the old ring while writes went to the new one only.)
  @Test("a node whose start outlasts the driver's grace serves by the layout current when it starts serving, never a stale one")
  func slowRestart() async {
    let cluster = SimCluster(seed: 1)
    let problems = await cluster.run { await $0.slowRestartDuringChange() }
    #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))\n--- trace ---\n\(cluster.trace.tail(60))")
  }

  @Test("a seed gives the same history every time")
  func deterministic() async {
    let first = await Self.run(seed: 77)
    let second = await Self.run(seed: 77)
    #expect(first.trace.all.count > 50)
    #expect(first.trace.all == second.trace.all)
  }
}
