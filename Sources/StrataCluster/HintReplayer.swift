internal import StrataStorage
internal import Synchronization

/// Delivers stored hints to the replicas they are for, once those answer again (hinted hand-off).
///
/// `run()` drives a `HintReplayState`: at start and every `rescanInterval` it looks for nodes with
/// hints, and replays each such node in its own child task, so a node that fails or hangs never holds
/// up another. A replay reads the node's oldest hints in chunks (`chunkHints`, `chunkBytes`), delivers
/// them one at a time in append order, and removes from the queue the ones delivered: after a whole
/// chunk, or as soon as a delivery fails. A hint is therefore removed only after its delivery returned
/// (a hint delivered but not yet removed when the process dies is delivered again, which the replica
/// ignores). A failure ends the node's replay; it is retried after the backoff, or sooner when
/// `nodeAnswered` reports the node is back.
///
/// ```swift
/// let replayer = HintReplayer(queue: StoredHintQueue(store: hints), delivery: peers)
/// // in a task group or service: try await replayer.run()   (returns when cancelled)
/// // after any successful call to a peer: replayer.nodeAnswered(peer)
/// ```
public final class HintReplayer<C: Clock>: Sendable where C.Duration == Duration {
  private let queue: any HintQueue
  private let delivery: any HintDelivery
  private let configuration: HintReplayConfiguration
  private let clock: C
  private let random: any RandomNumberGenerator & Sendable
  private let report: @Sendable (HintReplayReport) -> Void
  private let inbox: AsyncStream<Input>
  private let inboxInput: AsyncStream<Input>.Continuation
  /// Nodes reported by `nodeAnswered` whose `.answered` input is not consumed yet (one input per node
  /// however many calls answer meanwhile).
  private let answered = Mutex<Set<String>>([])
  private let started = Mutex(false)

  private enum Input: Sendable {
    case rescan
    case answered(String)
    case due(String, generation: UInt64)
    case finished(String, failure: (any Error)?)
  }

  /// - Parameters:
  ///   - random: the source of the backoff's jitter.
  ///   - report: called (from the replayer's tasks, keep it short) after every delivered chunk and
  ///     every failed replay, for logs and metrics.
  public init(
    queue: some HintQueue, delivery: some HintDelivery, configuration: HintReplayConfiguration = .defaults,
    clock: C, random: some RandomNumberGenerator & Sendable = SystemRandomNumberGenerator(),
    report: @escaping @Sendable (HintReplayReport) -> Void = { _ in }
  ) {
    self.queue = queue
    self.delivery = delivery
    self.configuration = configuration
    self.clock = clock
    self.random = random
    self.report = report
    (inbox, inboxInput) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
  }

  /// Tells the replayer that a call to `node` just succeeded: if the node has hints, its replay starts
  /// now (at most `backoff.initial` after its last failed replay) instead of after its backoff, and
  /// its backoff starts over. Cheap when the node has no hints (a look at the queue's counters); call
  /// it after every successful call to a peer.
  public func nodeAnswered(_ node: String) {
    guard queue.hasHints(for: node) else { return }
    guard answered.withLock({ $0.insert(node).inserted }) else { return }
    inboxInput.yield(.answered(node))
  }

  /// Replays hints until the calling task is cancelled, then waits for the replays and deliveries in
  /// flight to end (`HintDelivery` honours cancellation) and returns. Call it once per replayer.
  public func run() async {
    let again = started.withLock { started in
      defer { started = true }
      return started
    }
    precondition(!again, "HintReplayer.run() was called twice")
    var state = HintReplayState<C.Instant>(backoff: configuration.backoff)
    var random = self.random
    await withDiscardingTaskGroup { group in
      group.addTask { await self.rescanPeriodically() }
      for await input in inbox {
        let now = clock.now
        let actions: [HintReplayState<C.Instant>.Action]
        switch input {
        case .rescan:
          actions = state.event(.found(queue.nodesWithHints()), now: now)
        case .answered(let node):
          answered.withLock { _ = $0.remove(node) }
          actions = state.event(.answered(node), now: now)
        case .due(let node, let generation):
          actions = state.event(.due(node, generation: generation), now: now)
        case .finished(let node, .none):
          actions = state.event(.drained(node), now: now)
        case .finished(let node, .some(let failure)):
          actions = state.event(.failed(node, unit: Double.random(in: 0..<1, using: &random)), now: now)
          for case .wake(_, let at, _) in actions {
            report(.failed(node: node, error: failure, retryIn: now.duration(to: at)))
          }
        }
        for action in actions {
          switch action {
          case .replay(let node):
            group.addTask {
              let failure = await self.replay(node)
              self.inboxInput.yield(.finished(node, failure: failure))
            }
          case .wake(let node, let at, let generation):
            group.addTask {
              do { try await self.clock.sleep(until: at, tolerance: nil) } catch { return }
              self.inboxInput.yield(.due(node, generation: generation))
            }
          }
        }
      }
      // The inbox ends when this task is cancelled; the group's tasks are cancelled with it.
    }
  }

  private func rescanPeriodically() async {
    while true {
      inboxInput.yield(.rescan)
      do {
        try await clock.sleep(until: clock.now.advanced(by: configuration.rescanInterval), tolerance: nil)
      } catch {
        return
      }
    }
  }

  /// Delivers `node`'s hints chunk by chunk until none is left (nil) or something fails (the error).
  private func replay(_ node: String) async -> (any Error)? {
    do {
      while true {
        try Task.checkCancellation()
        let hints = try await queue.next(for: node, limit: configuration.chunkHints, maxBytes: configuration.chunkBytes)
        if hints.isEmpty { return nil }
        var delivered: [Hint] = []
        var failure: (any Error)?
        for hint in hints {
          do {
            try Task.checkCancellation()
            try await delivery.deliver(hint.payload, to: node)
            delivered.append(hint)
          } catch {
            failure = error
            break
          }
        }
        if !delivered.isEmpty {
          try await queue.remove(delivered.map(\.id), for: node)
          report(.delivered(node: node, hints: delivered.count, rows: delivered.reduce(0) { $0 + $1.rows }))
        }
        if let failure { return failure }
      }
    } catch {
      return error
    }
  }
}

extension HintReplayer where C == ContinuousClock {
  /// A replayer on the continuous clock.
  public convenience init(
    queue: some HintQueue, delivery: some HintDelivery, configuration: HintReplayConfiguration = .defaults,
    report: @escaping @Sendable (HintReplayReport) -> Void = { _ in }
  ) {
    self.init(queue: queue, delivery: delivery, configuration: configuration, clock: ContinuousClock(), report: report)
  }
}
