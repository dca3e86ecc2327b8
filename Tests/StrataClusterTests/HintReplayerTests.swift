import StrataCluster
import StrataStorage
import StrataTestSupport
import Synchronization
import Testing

/// `HintReplayer` over a real `HintStore` (in memory) with a scripted delivery and a manual clock:
/// the clock moves only when a test advances it, so backoffs take no real time.
@Suite("Hint replayer", .timeLimit(.minutes(2)))
struct HintReplayerTests {
  /// 1 s, 2 s, 4 s... up to 60 s, no jitter; chunks of 3 hints; a rescan every hour (tests advance less).
  static let configuration = HintReplayConfiguration(
    backoff: Backoff(initial: .seconds(1), maximum: .seconds(60), multiplier: 2, jitter: 0),
    chunkHints: 3, chunkBytes: 1 << 20, rescanInterval: .seconds(3_600))

  /// A store, a replayer over it and its running task.
  final class Harness: Sendable {
    let store: HintStore
    let clock = ManualClock()
    let delivery: ScriptedDelivery
    let replayer: HintReplayer<ManualClock>

    init(configuration: HintReplayConfiguration = HintReplayerTests.configuration, delivery: ScriptedDelivery) throws {
      store = try HintStore(engine: InMemoryEngine())
      self.delivery = delivery
      let log = ReportLog()
      replayer = HintReplayer(
        queue: StoredHintQueue(store: store), delivery: delivery, configuration: configuration, clock: clock,
        random: SplitMix64(seed: 1)
      ) { report in
        switch report {
        case .delivered(let node, let hints, let rows): log.append("\(node) delivered \(hints) (\(rows) rows)")
        case .failed(let node, _, let retryIn): log.append("\(node) failed, retry in \(retryIn)")
        }
      }
      self.log = log
    }

    let log: ReportLog

    /// The replayer's reports so far, as text.
    var reports: [String] { log.lines }

    /// Appends `count` hints for `node` with payloads `[tag, 0]`, `[tag, 1]`...; returns the payloads.
    @discardableResult
    func append(_ count: Int, for node: String, tag: UInt8 = 0) throws -> [[UInt8]] {
      let payloads = (0..<count).map { [tag, UInt8($0)] }
      for payload in payloads { _ = try store.append(node: node, payload: payload, rows: 2) }
      return payloads
    }

    func payloads(of node: String) throws -> [[UInt8]] { try store.next(node: node, limit: 1_000).map(\.payload) }

    func start() -> Task<Void, Never> {
      let replayer = replayer
      return Task { await replayer.run() }
    }
  }

  @Test("replays each node's hints in append order, in chunks, and removes them")
  func replaysInOrder() async throws {
    let harness = try Harness(delivery: ScriptedDelivery())
    var expected: [String: [[UInt8]]] = [:]
    for (k, node) in ["n1", "n10", "n2"].enumerated() { expected[node] = try harness.append(10, for: node, tag: UInt8(k)) }
    let run = harness.start()
    // Reported after each chunk's removal: 4 chunks per node.
    try await eventually("every node drained and reported") { harness.store.nodesWithHints.isEmpty && harness.reports.count == 12 }
    for (node, payloads) in expected {
      #expect(harness.delivery.delivered(to: node) == payloads, "\(node)")
      #expect(harness.delivery.attempts(to: node).count == 10, "each hint delivered once: \(node)")
    }
    // Chunks of 3: 3 + 3 + 3 + 1 per node.
    let reports = harness.reports
    #expect(reports.filter { $0.hasPrefix("n1 ") } == ["n1 delivered 3 (6 rows)", "n1 delivered 3 (6 rows)", "n1 delivered 3 (6 rows)", "n1 delivered 1 (2 rows)"])
    run.cancel()
    await run.value
  }

  @Test("a node whose delivery fails 3 times is retried after 1, 2 and 4 s, then drained; nothing is removed before")
  func failsThenSucceeds() async throws {
    let harness = try Harness(delivery: ScriptedDelivery { _, _, earlier in earlier < 3 ? .fail : .succeed })
    let payloads = try harness.append(5, for: "n2")
    let run = harness.start()
    let clock = harness.clock
    for (failures, delay) in [(1, 1), (2, 2), (3, 4)] {
      try await eventually("failure \(failures) is waiting out its backoff") {
        harness.delivery.attempts.count == failures && clock.deadlines.contains(clock.now.advanced(by: .seconds(delay)))
      }
      #expect(try harness.payloads(of: "n2") == payloads, "nothing removed after \(failures) failures")
      #expect(harness.delivery.attempts.allSatisfy { $0.payload == payloads[0] }, "always the oldest hint first")
      // Just before the deadline nothing happens; at the deadline the replay starts again.
      clock.advance(by: .seconds(delay) - .milliseconds(1))
      try await Task.sleep(for: .milliseconds(20))
      #expect(harness.delivery.attempts.count == failures)
      clock.advance(by: .milliseconds(1))
    }
    try await eventually("drained") { harness.store.nodesWithHints.isEmpty }
    #expect(harness.delivery.delivered(to: "n2") == payloads)
    #expect(harness.reports.filter { $0.contains("failed") } == [
      "n2 failed, retry in 1.0 seconds", "n2 failed, retry in 2.0 seconds", "n2 failed, retry in 4.0 seconds",
    ])
    run.cancel()
    await run.value
  }

  @Test("a failure mid-chunk removes exactly the hints delivered before it; each delivery finds its hint still stored")
  func failureMidChunk() async throws {
    let store = Mutex<HintStore?>(nil)
    let violations = Mutex<[String]>([])
    let delivery = ScriptedDelivery(
      script: { _, payload, earlier in payload == [0, 4] && earlier == 4 ? .fail : .succeed },
      onCall: { node, payload in
        // The hint being delivered must still be in the store.
        guard let store = store.withLock({ $0 }) else { return }
        let held = (try? store.next(node: node, limit: 1_000).map(\.payload)) ?? []
        if !held.contains(payload) { violations.withLock { $0.append("\(payload) was removed before its delivery") } }
      })
    let harness = try Harness(delivery: delivery)
    store.withLock { $0 = harness.store }
    let payloads = try harness.append(8, for: "n2")
    let run = harness.start()
    try await eventually("the failure is waiting out its backoff") { harness.clock.deadlines.count == 2 }
    // Chunk [0, 1, 2] delivered and removed; chunk [3, 4, 5] stopped at 4: 3 removed, 4 and 5 kept.
    #expect(try harness.payloads(of: "n2") == Array(payloads[4...]))
    #expect(harness.store.pending(node: "n2") == HintCount(hints: 4, rows: 8))
    harness.clock.advance(by: .seconds(1))
    try await eventually("drained") { harness.store.nodesWithHints.isEmpty }
    #expect(harness.delivery.delivered(to: "n2") == payloads)
    #expect(violations.withLock { $0 }.isEmpty, "\(violations.withLock { $0 })")
    run.cancel()
    await run.value
  }

  @Test("a node that never answers, or always fails, does not hold up the others; cancelling ends run()")
  func deadNodeDoesNotBlockOthers() async throws {
    let harness = try Harness(
      delivery: ScriptedDelivery { node, _, _ in
        switch node {
        case "n1": .hang
        case "n2": .fail
        default: .succeed
        }
      })
    let hung = try harness.append(4, for: "n1")
    let failing = try harness.append(4, for: "n2")
    let live = try harness.append(7, for: "n3")
    let alsoLive = try harness.append(2, for: "n4")
    let run = harness.start()
    try await eventually("the live nodes are drained") { harness.store.nodesWithHints == ["n1", "n2"] }
    #expect(harness.delivery.delivered(to: "n3") == live)
    #expect(harness.delivery.delivered(to: "n4") == alsoLive)
    // Time passes: the failing node is retried, the hung one still waits on its first delivery.
    for _ in 0..<5 {
      harness.clock.advance(by: .seconds(60))
      try await Task.sleep(for: .milliseconds(5))
    }
    try await eventually("the failing node was retried") { harness.delivery.attempts(to: "n2").count > 1 }
    #expect(harness.delivery.attempts(to: "n1").count == 1)
    #expect(try harness.payloads(of: "n1") == hung)
    #expect(try harness.payloads(of: "n2") == failing)
    run.cancel()
    await run.value  // returns although n1's delivery never answered: it was cancelled
    #expect(try harness.payloads(of: "n1") == hung)
  }

  @Test("nodeAnswered starts the replay at once instead of after the backoff; it ignores nodes without hints")
  func kickStartsReplay() async throws {
    let configuration = HintReplayConfiguration(
      backoff: Backoff(initial: .seconds(1), maximum: .seconds(3_600), multiplier: 1_000, jitter: 0),
      chunkHints: 3, chunkBytes: 1 << 20, rescanInterval: .seconds(7_200))
    let answering = Atomic<Bool>(false)
    let harness = try Harness(
      configuration: configuration,
      delivery: ScriptedDelivery { _, _, _ in answering.load(ordering: .relaxed) ? .succeed : .fail })
    let payloads = try harness.append(5, for: "n2")
    let run = harness.start()
    let clock = harness.clock
    try await eventually("first failure, retry in 1 s") { clock.deadlines.contains(clock.now.advanced(by: .seconds(1))) }
    clock.advance(by: .seconds(1))
    try await eventually("second failure, retry in 1000 s") {
      clock.deadlines.contains(clock.now.advanced(by: .seconds(1_000)))
    }
    clock.advance(by: .seconds(1))
    harness.replayer.nodeAnswered("n9")  // no hints: nothing to do
    try await Task.sleep(for: .milliseconds(20))
    #expect(harness.delivery.attempts.count == 2)

    answering.store(true, ordering: .relaxed)
    harness.replayer.nodeAnswered("n2")
    try await eventually("drained without the clock moving") { harness.store.nodesWithHints.isEmpty }
    #expect(harness.delivery.delivered(to: "n2") == payloads)
    #expect(harness.delivery.attempts(to: "n9").isEmpty)
    #expect(clock.now == ManualClock.Instant(sinceStart: .seconds(2)))
    run.cancel()
    await run.value
  }

  @Test("hints appended while running are replayed after the next rescan")
  func rescanFindsNewHints() async throws {
    let configuration = HintReplayConfiguration(
      backoff: Backoff(initial: .seconds(1), maximum: .seconds(60), multiplier: 2, jitter: 0),
      chunkHints: 3, chunkBytes: 1 << 20, rescanInterval: .seconds(10))
    let harness = try Harness(configuration: configuration, delivery: ScriptedDelivery())
    // The first scan finds n0 (drained: that scan is over); n5's hints come after it.
    try harness.append(2, for: "n0")
    let run = harness.start()
    let clock = harness.clock
    try await eventually("n0 drained") { harness.store.nodesWithHints.isEmpty && clock.deadlines.count == 1 }
    let payloads = try harness.append(4, for: "n5")
    try await Task.sleep(for: .milliseconds(20))
    #expect(harness.delivery.attempts(to: "n5").isEmpty)
    clock.advance(by: .seconds(10))
    try await eventually("drained") { harness.store.nodesWithHints.isEmpty }
    #expect(harness.delivery.delivered(to: "n5") == payloads)
    run.cancel()
    await run.value
  }

  @Test("cancelling run() ends it, idle or with a retry pending")
  func cancellation() async throws {
    let idle = try Harness(delivery: ScriptedDelivery())
    let idleRun = idle.start()
    try await eventually("the rescan sleeps") { idle.clock.deadlines.count == 1 }
    idleRun.cancel()
    await idleRun.value
    #expect(idle.clock.deadlines.isEmpty)

    let waiting = try Harness(delivery: ScriptedDelivery { _, _, _ in .fail })
    try waiting.append(1, for: "n2")
    let waitingRun = waiting.start()
    try await eventually("a retry is pending") { waiting.clock.deadlines.count == 2 }
    waitingRun.cancel()
    await waitingRun.value
    #expect(waiting.clock.deadlines.isEmpty)
    #expect(waiting.store.pending(node: "n2").hints == 1)
  }
}

/// Lines appended from any task.
final class ReportLog: Sendable {
  private let value = Mutex<[String]>([])

  func append(_ line: String) { value.withLock { $0.append(line) } }

  var lines: [String] { value.withLock { $0 } }
}
