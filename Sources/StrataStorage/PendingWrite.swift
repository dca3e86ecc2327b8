internal import Synchronization

/// The result of a job queued on the writer thread (`FeatureStore.submit`), to be awaited later: a
/// caller queues its jobs one after the other, in the order they must be stored, and awaits their
/// results while the writer works through them.
public final class PendingWrite<Value: Sendable>: Sendable {
  private enum State {
    case waiting(CheckedContinuation<Value, any Error>?)
    case done(Result<Value, any Error>)
  }
  private let state = Mutex(State.waiting(nil))

  init() {}

  /// Called once, by the job, with what it came to.
  func fulfil(_ result: Result<Value, any Error>) {
    let waiter = state.withLock { state -> CheckedContinuation<Value, any Error>? in
      guard case .waiting(let waiter) = state else { return nil }
      state = .done(result)
      return waiter
    }
    waiter?.resume(with: result)
  }

  /// What the job came to, once it ran. Awaited by one task at most.
  public func value() async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
      let done = state.withLock { state -> Result<Value, any Error>? in
        switch state {
        case .done(let result): return result
        case .waiting:
          state = .waiting(continuation)
          return nil
        }
      }
      if let done { continuation.resume(with: done) }
    }
  }
}

/// The writes one call queued on the writer thread (`FeatureStore.submit`), stored in order: once one
/// of them fails, or the call ends early (`abandon`), the ones queued after it are not stored (they
/// fail with UNAVAILABLE), so that a call never stores a batch after one it could not store.
public final class WriteChain: Sendable {
  private let broken = Atomic<Bool>(false)

  public init() {}

  /// Whether a write of the chain failed, or the chain was abandoned.
  public var isBroken: Bool { broken.load(ordering: .acquiring) }

  /// No write queued from now on is stored.
  public func abandon() { broken.store(true, ordering: .releasing) }
}
