internal import GRPCNIOTransportHTTP2
internal import ServiceLifecycle
internal import StrataGRPC
internal import Synchronization

/// Fired once a membership change that removed this node is over.
final class RemovalSignal: Sendable {
  private let state = Mutex<(fired: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

  func fire() {
    let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
      s.fired = true
      defer { s.waiter = nil }
      return s.waiter
    }
    waiter?.resume()
  }

  /// Returns once fired, or when the task is cancelled.
  func wait() async {
    await withTaskCancellationHandler {
      await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
        let now = state.withLock { s -> Bool in
          if s.fired || Task.isCancelled { return true }
          s.waiter = c
          return false
        }
        if now { c.resume() }
      }
    } onCancel: {
      let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
        defer { s.waiter = nil }
        return s.waiter
      }
      waiter?.resume()
    }
  }
}

/// Returns when the node was removed from its cluster, which shuts the node down gracefully (its
/// service configuration says so); on a shutdown for another reason, stops the membership work.
struct RemovalService: Service {
  let signal: RemovalSignal
  let worker: MembershipWorker
  let topology: ClusterTopology<HTTP2ClientTransport.Posix>

  func run() async throws {
    await cancelWhenGracefulShutdown { await signal.wait() }
    worker.stop()
    topology.stop()
  }
}
