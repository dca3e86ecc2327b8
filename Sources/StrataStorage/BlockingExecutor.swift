internal import Dispatch

/// Runs blocking storage work on dedicated threads instead of Swift's cooperative pool (which has one
/// thread per core: two here). A long scan or a big write batch on the pool would stall every other RPC.
///
/// - `write`: one dedicated thread. Writes are serialized anyway (the online read-compare-replace
///   must not interleave), and this keeps them from occupying more than one thread. It runs at normal
///   priority: a niced writer can be preempted while it holds an `OnlineTable` shard lock, and then
///   lookups of that shard wait for it (priority inversion). Nice +5 showed no measurable gain for the
///   online tail during ingests.
/// - `read`: a concurrent queue for scans, historical joins and large online lookups.
public struct BlockingExecutor: Sendable {
  private static let writer = BackgroundThreads(count: 1, nice: 0, name: "strata-write")
  private let readQueue = DispatchQueue(label: "strata.storage.read", qos: .userInitiated, attributes: .concurrent)

  public init() {}

  public func write<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await Self.writer.run(body)
  }

  /// Queues `body` on the writer thread now, behind the jobs queued before it, and returns its result
  /// to await later (`PendingWrite`).
  func submitWrite<T: Sendable>(_ body: @escaping @Sendable () throws -> T) -> PendingWrite<T> {
    let pending = PendingWrite<T>()
    Self.writer.submit { pending.fulfil(Result { try body() }) }
    return pending
  }

  public func read<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await run(on: readQueue, body)
  }

  private func run<T: Sendable>(on queue: DispatchQueue, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
      queue.async {
        continuation.resume(with: Result { try body() })
      }
    }
  }
}
