internal import Synchronization
public import StrataCore
public import StrataStorage
public import StrataProto
internal import SwiftProtobuf

/// The last writes other nodes of a cluster reported, per group version (`name@version`), as the
/// node's freshness monitor last collected them; empty on a single node. `GetStatus` and online
/// answers with `with_freshness` merge them with the node's own.
public final class FreshnessBoard: Sendable {
  private let lastWrites = Mutex<[String: Timestamp]>([:])

  public init() {}

  public var snapshot: [String: Timestamp] { lastWrites.withLock { $0 } }

  /// Replaces what is known with `reports` (the reachable nodes' last writes, each the latest of them).
  public func update(_ reports: [String: Timestamp]) {
    lastWrites.withLock { $0 = reports }
  }
}

extension GroupFreshness {
  var proto: Strata_V1_GroupWriteStatus {
    .with {
      $0.group = group
      $0.version = UInt32(version)
      $0.lastWriteMicros = lastWrite?.microseconds ?? 0
      $0.refreshIntervalSeconds = intervalSeconds ?? 0
      $0.tier = tier.proto
      $0.freshness = state.proto
    }
  }
}

extension FreshnessState {
  public var proto: Strata_V1_FreshnessState {
    switch self {
    case .fresh: .fresh
    case .late: .late
    case .alert: .alert
    case .untracked: .untracked
    }
  }
}

extension FreshnessTier {
  public var proto: Strata_V1_FreshnessTier {
    switch self {
    case .batch: .batch
    case .nearRealTime: .nearRealTime
    case .streaming: .streaming
    }
  }
}

extension ClusterTopology {
  /// The other members' last writes per group version (`name@version`, the latest of them) and the
  /// ids of the members that answered, from each one's `GetNodeStatus` (asked concurrently, within
  /// the view's call timeout).
  public func peersLastWrites() async -> (lastWrites: [String: Timestamp], reachable: [String]) {
    let view = current
    let answers = await withTaskGroup(of: (String, [Strata_V1_GroupWriteStatus])?.self) { tasks in
      for node in view.members where node != view.selfID {
        tasks.addTask {
          guard let s = try? await view.peer(node).getNodeStatus(.init(), metadata: view.metadata, options: view.options) else { return nil }
          return (node, s.groups)
        }
      }
      var out: [(String, [Strata_V1_GroupWriteStatus])] = []
      for await answer in tasks { if let answer { out.append(answer) } }
      return out
    }
    return (ClusterCoordinator<Transport>.lastWrites(answers.map(\.1)), answers.map(\.0))
  }
}
