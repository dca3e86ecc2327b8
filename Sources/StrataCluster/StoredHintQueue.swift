public import StrataStorage

/// The `HintQueue` of a `HintStore`: reads and removals run on the `BlockingExecutor` (removals on its
/// single writer thread, in line with the node's other writes), never on the cooperative pool.
public struct StoredHintQueue: HintQueue {
  public let store: HintStore
  private let executor: BlockingExecutor

  public init(store: HintStore, executor: BlockingExecutor = BlockingExecutor()) {
    self.store = store
    self.executor = executor
  }

  public func nodesWithHints() -> [String] { store.nodesWithHints }

  public func hasHints(for node: String) -> Bool { store.pending(node: node).hints > 0 }

  public func next(for node: String, limit: Int, maxBytes: Int) async throws -> [Hint] {
    let store = store
    return try await executor.read { try store.next(node: node, limit: limit, maxBytes: maxBytes) }
  }

  public func remove(_ ids: [Hint.ID], for node: String) async throws {
    let store = store
    try await executor.write { try store.remove(node: node, ids: ids) }
  }
}
