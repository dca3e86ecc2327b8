/// How a `HintReplayer` paces itself. Validated at construction (preconditions): the server's
/// configuration layer checks user-supplied values before building one.
public struct HintReplayConfiguration: Sendable, Equatable {
  /// The wait after a failed replay of a node, by consecutive failures. Its `initial` delay is also
  /// the least time between a failure and a retry caused by `HintReplayer.nodeAnswered`.
  public var backoff: Backoff
  /// The most hints read (and then delivered one by one) per chunk.
  public var chunkHints: Int
  /// A chunk stops once its payloads add up to this many bytes (it holds at least one hint).
  public var chunkBytes: Int
  /// How often the replayer looks for nodes that got hints since it last looked (a node that answers
  /// a call is looked at at once, see `HintReplayer.nodeAnswered`).
  public var rescanInterval: Duration

  public init(backoff: Backoff, chunkHints: Int, chunkBytes: Int, rescanInterval: Duration) {
    precondition(chunkHints >= 1 && chunkBytes >= 1, "a hint chunk must allow at least one hint and one byte")
    precondition(rescanInterval > .zero, "the hint rescan interval must be positive")
    self.backoff = backoff
    self.chunkHints = chunkHints
    self.chunkBytes = chunkBytes
    self.rescanInterval = rescanInterval
  }

  /// 1 s doubling to 1 min with 20% jitter; chunks of 64 hints or 4 MiB; a rescan every 10 s.
  public static let defaults = HintReplayConfiguration(
    backoff: Backoff(initial: .seconds(1), maximum: .seconds(60), multiplier: 2, jitter: 0.2),
    chunkHints: 64, chunkBytes: 4 << 20, rescanInterval: .seconds(10))
}
