internal import Dispatch

/// Runs blocking storage work on dedicated threads instead of Swift's cooperative pool (which has one
/// thread per core: two here). A long scan or a big write batch on the pool would stall every other RPC.
///
/// - `write`: one serial queue. Writes are serialized anyway (the online read-compare-replace must not
///   interleave), and this keeps them from occupying more than one thread.
/// - `read`: a concurrent queue for scans, historical joins and large online lookups.
public struct BlockingExecutor: Sendable {
  private let writeQueue = DispatchQueue(label: "strata.storage.write", qos: .userInitiated)
  private let readQueue = DispatchQueue(label: "strata.storage.read", qos: .userInitiated, attributes: .concurrent)

  public init() {}

  public func write<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await run(on: writeQueue, body)
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
