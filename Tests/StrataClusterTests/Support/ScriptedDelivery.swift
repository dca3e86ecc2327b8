import StrataCluster
import Synchronization

/// A `HintDelivery` that does what a script says for each call, and records every attempt.
final class ScriptedDelivery: HintDelivery {
  enum Outcome: Sendable {
    case succeed
    case fail
    /// Never returns (until the calling task is cancelled): a peer that does not answer.
    case hang
  }

  struct Attempt: Sendable, Equatable {
    var node: String
    var payload: [UInt8]
    var succeeded: Bool
  }

  struct Failure: Error {}

  /// Decides a call from the node, the payload and how many calls to that node came before.
  typealias Script = @Sendable (_ node: String, _ payload: [UInt8], _ earlierAttempts: Int) -> Outcome

  private let script: Script
  /// Called at the start of every call, before the script decides (to check what the store holds then).
  private let onCall: @Sendable (_ node: String, _ payload: [UInt8]) -> Void
  private let log = Mutex<[Attempt]>([])

  init(script: @escaping Script = { _, _, _ in .succeed }, onCall: @escaping @Sendable (String, [UInt8]) -> Void = { _, _ in }) {
    self.onCall = onCall
    self.script = script
  }

  func deliver(_ payload: [UInt8], to node: String) async throws {
    onCall(node, payload)
    let earlier = log.withLock { log in log.filter { $0.node == node }.count }
    switch script(node, payload, earlier) {
    case .succeed:
      log.withLock { $0.append(Attempt(node: node, payload: payload, succeeded: true)) }
    case .fail:
      log.withLock { $0.append(Attempt(node: node, payload: payload, succeeded: false)) }
      throw Failure()
    case .hang:
      log.withLock { $0.append(Attempt(node: node, payload: payload, succeeded: false)) }
      try await Task.sleep(for: .seconds(3_600))
      throw Failure()
    }
  }

  var attempts: [Attempt] { log.withLock { $0 } }

  func attempts(to node: String) -> [Attempt] { attempts.filter { $0.node == node } }

  /// The payloads `node` acknowledged, in order.
  func delivered(to node: String) -> [[UInt8]] { attempts(to: node).filter(\.succeeded).map(\.payload) }
}
