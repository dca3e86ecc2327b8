internal import Synchronization

/// What a coordinator has recently seen of each peer: failures (a peer that failed a call is avoided
/// for `quarantine`, then tried again) and answer latencies (the hedging delay of reads).
///
/// Shared by every request a node coordinates; thread-safe. Times are `ContinuousClock` instants
/// passed in by the caller, so tests can drive it without waiting.
public final class PeerHealth: Sendable {
  /// How long a peer that failed a call is avoided by routing when another replica can answer.
  public let quarantine: Duration
  /// The hedging delay bounds: the delay is the peer's recent p99 answer time, within these bounds.
  public let minimumHedge: Duration
  public let maximumHedge: Duration
  /// The hedging delay of a peer with no recorded answers yet.
  public let initialHedge: Duration

  private struct Peer {
    /// Avoided until then (after a failure).
    var avoidUntil: ContinuousClock.Instant?
    /// The last `window` answer times, in microseconds (a ring buffer).
    var latencies: [Int64] = []
    var next = 0
  }

  static let window = 128
  private let peers: Mutex<[String: Peer]> = Mutex([:])

  public init(
    quarantine: Duration = .seconds(1), minimumHedge: Duration = .milliseconds(2), maximumHedge: Duration = .milliseconds(250),
    initialHedge: Duration = .milliseconds(50)
  ) {
    self.quarantine = quarantine
    self.minimumHedge = minimumHedge
    self.maximumHedge = maximumHedge
    self.initialHedge = initialHedge
  }

  /// `node` failed a call at `now` (or did not answer in time): it is avoided for `avoidFor`
  /// (default: the quarantine), or until it answers a call.
  public func failed(_ node: String, at now: ContinuousClock.Instant, avoidFor: Duration? = nil) {
    peers.withLock { $0[node, default: Peer()].avoidUntil = now + (avoidFor ?? quarantine) }
  }

  /// `node` answered a call that took `latency`; it is no longer avoided.
  public func answered(_ node: String, after latency: Duration) {
    let micros = Int64(latency.components.seconds) * 1_000_000 + latency.components.attoseconds / 1_000_000_000_000
    peers.withLock { all in
      var peer = all[node, default: Peer()]
      peer.avoidUntil = nil
      if peer.latencies.count < Self.window {
        peer.latencies.append(micros)
      } else {
        peer.latencies[peer.next] = micros
        peer.next = (peer.next + 1) % Self.window
      }
      all[node] = peer
    }
  }

  /// The peers avoided at `now`: they failed a call, and neither their avoidance time passed nor did they answer since.
  public func avoided(at now: ContinuousClock.Instant) -> Set<String> {
    peers.withLock { all in
      Set(all.compactMap { node, peer in peer.avoidUntil.map { now < $0 ? node : nil } ?? nil })
    }
  }

  /// How long to wait for `node`'s answer before asking the next replica as well: the 99th percentile
  /// of its recent answer times, bounded by `minimumHedge...maximumHedge` (`initialHedge` before any).
  public func hedgeDelay(for node: String) -> Duration {
    let sorted = peers.withLock { $0[node]?.latencies ?? [] }.sorted()
    guard !sorted.isEmpty else { return initialHedge }
    let p99 = Duration.microseconds(sorted[min(sorted.count - 1, sorted.count * 99 / 100)])
    return min(maximumHedge, max(minimumHedge, p99))
  }
}
