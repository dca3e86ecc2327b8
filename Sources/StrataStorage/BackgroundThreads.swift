internal import Foundation
internal import Synchronization

#if canImport(Glibc)
  internal import Glibc
#endif

/// Dedicated threads for bulk work (export joins, history image builds) that run at a lower scheduling
/// priority than everything else in the process (`nice` +10 per thread on Linux), so that a running
/// export takes the CPU only when online lookups and writes leave it idle.
///
/// Work is submitted with `run` (async, returns the result) and split with `parallelFor`, which lets the
/// calling thread take part: iterations are claimed one by one from a shared counter by the caller and
/// by whichever pool threads are free, so nested use from a pool thread never deadlocks (the caller
/// alone finishes the loop if every other thread is busy).
public final class BackgroundThreads: Sendable {
  private let queue = Mutex(Jobs())
  /// Signalled when a job is queued (the lock protects nothing else).
  private let wakeUp = NSCondition()
  public let count: Int

  /// The process's pool: one thread per core (at most 8), created on first use.
  public static let shared = BackgroundThreads(count: min(8, ProcessInfo.processInfo.activeProcessorCount))

  private struct Jobs {
    var items: [@Sendable () -> Void] = []
  }

  /// Starts `count` threads named `name`-0, `name`-1, ... with niceness `nice` (Linux; elsewhere the
  /// priority is unchanged).
  public init(count: Int, nice: Int32 = 10, name: String = "strata-bulk") {
    self.count = max(1, count)
    for index in 0..<self.count {
      let thread = Thread { [self] in
        Thread.current.name = "\(name)-\(index)"
        #if os(Linux)
          // Linux keeps the nice value per thread (see pthreads(7)): `who` 0 is the calling thread.
          _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice)
        #endif
        self.loop()
      }
      thread.start()
    }
  }

  private func loop() {
    while true {
      wakeUp.lock()
      var job = queue.withLock { $0.items.isEmpty ? nil : $0.items.removeFirst() }
      while job == nil {
        wakeUp.wait()
        job = queue.withLock { $0.items.isEmpty ? nil : $0.items.removeFirst() }
      }
      wakeUp.unlock()
      job!()
    }
  }

  private func enqueue(_ jobs: [@Sendable () -> Void]) {
    wakeUp.lock()
    queue.withLock { $0.items.append(contentsOf: jobs) }
    wakeUp.broadcast()
    wakeUp.unlock()
  }

  /// Runs `job` on one of the threads, later.
  public func submit(_ job: @escaping @Sendable () -> Void) {
    enqueue([job])
  }

  /// Runs `body` on one of the threads and returns its result.
  ///
  /// The thread lets go of `body` (and of everything it captured) before the caller resumes, so that
  /// what the caller then drops is released by the caller: a store whose last use was a `run` is
  /// closed when the caller drops it, not a moment later on this thread (a RocksDB directory stays
  /// locked until then, and a process that exits meanwhile aborts inside RocksDB's close).
  public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    let handover = Handover(body)
    return try await withCheckedThrowingContinuation { continuation in
      enqueue([{
        let result = Result { try handover.take()() }
        continuation.resume(with: result)
      }])
    }
  }

  /// Calls `body(i)` for every `i` in `0..<iterations`, on the calling thread and free pool threads,
  /// and returns when all calls have returned.
  public func parallelFor(_ iterations: Int, _ body: @escaping @Sendable (Int) -> Void) {
    guard iterations > 1 else {
      if iterations == 1 { body(0) }
      return
    }
    let next = Atomic<Int>(0)
    let done = Atomic<Int>(0)
    let finished = NSCondition()
    @Sendable func work() {
      while true {
        let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
        guard i < iterations else { return }
        body(i)
        if done.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue == iterations {
          finished.lock()
          finished.broadcast()
          finished.unlock()
        }
      }
    }
    enqueue(Array(repeating: work, count: min(iterations - 1, count)))
    work()
    finished.lock()
    while done.load(ordering: .acquiring) < iterations { finished.wait() }
    finished.unlock()
  }
}

/// A value handed to another thread exactly once: `take` leaves nothing behind.
private final class Handover<Value: Sendable>: Sendable {
  private let slot: Mutex<Value?>

  init(_ value: Value) { slot = Mutex(value) }

  func take() -> Value { slot.withLock { $0.take()! } }
}
