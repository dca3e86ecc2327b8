public import StrataStorage

/// The hints the replayer drains: `StoredHintQueue` over a `HintStore`, or a twin in tests.
///
/// `next` returns a node's oldest hints in append order; `remove` deletes them durably and is
/// idempotent. A hint stays in the queue until `remove` names it.
public protocol HintQueue: Sendable {
  /// The nodes with at least one hint. Memory only: called on the replayer's loop.
  func nodesWithHints() -> [String]
  /// Whether `node` has at least one hint. Memory only: called on every `HintReplayer.nodeAnswered`.
  func hasHints(for node: String) -> Bool
  /// At most `limit` of `node`'s oldest hints, in append order, stopping once their payloads add up to
  /// `maxBytes` (at least one hint when the node has any).
  func next(for node: String, limit: Int, maxBytes: Int) async throws -> [Hint]
  /// Deletes the hints `ids` of `node`; ids not stored are ignored.
  func remove(_ ids: [Hint.ID], for node: String) async throws
}
