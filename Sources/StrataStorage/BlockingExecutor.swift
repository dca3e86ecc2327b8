internal import Dispatch

/// Runs blocking storage work on dedicated threads instead of Swift's cooperative pool (which has one
/// thread per core: two here). A long scan or a big write batch on the pool would stall every other RPC.
///
/// - `write`: one thread at niceness +5 (Linux). Writes are serialized anyway (the online
///   read-compare-replace must not interleave), and this keeps them from occupying more than one
///   thread. The lower priority lets online lookups take the CPU first while an ingest runs on a busy
///   machine (an ingest then slows down instead of the lookups).
/// - `read`: a concurrent queue for scans, historical joins and large online lookups.
public struct BlockingExecutor: Sendable {
  private static let writer = BackgroundThreads(count: 1, nice: 5, name: "strata-write")
  private let readQueue = DispatchQueue(label: "strata.storage.read", qos: .userInitiated, attributes: .concurrent)

  public init() {}

  public func write<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await Self.writer.run(body)
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
