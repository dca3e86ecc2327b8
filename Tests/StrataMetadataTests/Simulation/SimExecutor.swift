import Foundation
import Synchronization

/// A task executor whose jobs run only when `runPending` is called, in the order they were enqueued.
/// Every task of a simulation prefers it (`Task(executorPreference:)`; child tasks inherit it), so the
/// whole simulation runs on the one thread of `Simulation.run`, one job at a time: with the virtual
/// clock and a seeded generator, a seed always gives the same interleaving.
final class SimExecutor: TaskExecutor {
  private let queue = Mutex<[UnownedJob]>([])

  func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    queue.withLock { $0.append(job) }
  }

  /// Runs jobs until none is left (including those the jobs enqueue); how many ran.
  @discardableResult
  func runPending() -> Int {
    var ran = 0
    while true {
      let batch = queue.withLock { q -> [UnownedJob] in
        defer { q.removeAll(keepingCapacity: true) }
        return q
      }
      if batch.isEmpty { return ran }
      for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
      ran += batch.count
    }
  }
}

/// Runs simulations: `main` and every task it starts with `executor` as preference, on one dedicated
/// thread, moving the virtual clock whenever no job is ready (to the next sleeper's deadline or the
/// next lease expiry, whichever comes first).
enum Simulation {
  struct Outcome<R: Sendable>: Sendable {
    /// nil when the simulation stopped before `main` returned: `failure` says why.
    var result: R?
    var failure: String?
    var virtualTime: Duration
  }

  /// - Parameters:
  ///   - timeLimit: virtual time after which the run is abandoned (a backstop; `main` enforces its own
  ///     bounds).
  ///   - nextEvent: the time of the next event that is not a sleeper (a lease expiry), and `fire`, run
  ///     when the clock reaches it.
  ///   - stopAll: cancels every task the simulation started (after `main` returned or the backstop).
  static func run<R: Sendable>(
    executor: SimExecutor, clock: VirtualClock, timeLimit: Duration,
    nextEvent: @escaping @Sendable () -> VirtualClock.Instant?, fire: @escaping @Sendable (VirtualClock.Instant) -> Void,
    stopAll: @escaping @Sendable () -> Void,
    _ main: @escaping @Sendable () async -> R
  ) async -> Outcome<R> {
    let result = Locked<R?>(nil)
    let mainTask = Task(executorPreference: executor) {
      let r = await main()
      result.withLock { $0 = r }
    }
    return await withCheckedContinuation { (continuation: CheckedContinuation<Outcome<R>, Never>) in
      let thread = Thread {
        var failure: String?
        while true {
          executor.runPending()
          if result.withLock({ $0 != nil }) { break }
          let sleeper = clock.nextDeadline
          let event = nextEvent()
          guard let next = [sleeper, event].compactMap({ $0 }).min() else {
            failure = "deadlock: no job is ready, nothing sleeps and no lease expires, at \(clock.now) s"
            break
          }
          if next.offset > timeLimit {
            failure = "the simulation passed its time limit of \(timeLimit) (virtual)"
            break
          }
          clock.advance(to: next)
          if let event, event <= next { fire(event) }
          clock.wakeDue()
        }
        // Let every task wind down (a sleeper left now is a task nobody cancelled).
        mainTask.cancel()
        stopAll()
        executor.runPending()
        let left = clock.sleeperCount
        if failure == nil, left > 0 { failure = "\(left) task(s) still sleeping after the simulation stopped every node" }
        continuation.resume(returning: Outcome(result: result.withLock { $0 }, failure: failure, virtualTime: clock.now.offset))
      }
      thread.stackSize = 8 << 20
      thread.start()
    }
  }
}

/// A value behind a lock that escaping closures can share.
final class Locked<Value: Sendable>: Sendable {
  private let mutex: Mutex<Value>
  init(_ value: Value) { mutex = Mutex(value) }
  func withLock<T: Sendable>(_ body: (inout Value) -> T) -> T { mutex.withLock { body(&$0) } }
  var value: Value { mutex.withLock { $0 } }
}
