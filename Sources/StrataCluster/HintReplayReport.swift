/// What a `HintReplayer` did, for logs and metrics.
public enum HintReplayReport: Sendable {
  /// `hints` hints of `node`, carrying `rows` rows, were delivered and removed from the queue.
  case delivered(node: String, hints: Int, rows: Int)
  /// A replay of `node` stopped on `error` (a delivery or the queue failed); the next one starts in
  /// `retryIn`, or sooner if the node answers a call.
  case failed(node: String, error: any Error, retryIn: Duration)
}
