internal import StrataEtcd
public import StrataCore
internal import Foundation
public import Logging

/// Joins a node to the cluster whose layout is in etcd (`ClusterLayout` under `MetadataKeys.layout`).
///
/// - The first node of an empty cluster creates the layout (`forming`, expecting `expectedNodes`);
/// - every node adds itself while the layout is forming (one transaction against the layout's
///   revision, retried on conflict); the node that brings the count to `expectedNodes` makes it
///   `active` in the same transaction;
/// - then every node waits until the layout is active and returns it.
///
/// A node that is already a member (a restart), or that a membership change in progress adds, must come
/// with the same host and ports as recorded, or it is refused: other nodes and clients reach it there.
/// A node that is not a member of an active cluster is refused, unless the request says `join`: then
/// it records the change that adds it (`MembershipChanges.add`), refused while another change is in
/// progress. Settings that
/// belong to the whole cluster (expected nodes, replication factor, virtual nodes) must agree with the
/// layout, or the join is refused naming both values.
public struct EtcdMembership: Sendable {
  public struct Request: Sendable {
    public var me: ClusterLayout.Member
    /// nil: whatever the layout says (1 when this node creates it).
    public var expectedNodes: Int?
    public var replicationFactor: Int?
    public var virtualNodes: Int
    /// Not a member of an active cluster: add this node (a membership change) instead of refusing.
    public var join: Bool

    public init(
      me: ClusterLayout.Member, expectedNodes: Int?, replicationFactor: Int?, virtualNodes: Int, join: Bool = false
    ) {
      self.me = me
      self.expectedNodes = expectedNodes
      self.replicationFactor = replicationFactor
      self.virtualNodes = virtualNodes
      self.join = join
    }
  }

  let etcd: any MetadataStore
  let keys: MetadataKeys
  let logger: Logger

  public init(etcd: any MetadataStore, keys: MetadataKeys, logger: Logger) {
    self.etcd = etcd
    self.keys = keys
    self.logger = logger
  }

  /// Joins and waits until the cluster is active (at most `timeout`). Throws `StrataError`:
  /// FAILED_PRECONDITION for a refusal, UNAVAILABLE when etcd does not answer or the cluster did not
  /// form in time.
  public func join(_ request: Request, timeout: Duration) async throws -> ClusterLayout {
    let deadline = ContinuousClock.now + timeout
    var announced = false
    while true {
      let current: (layout: ClusterLayout, revision: Int64)?
      do {
        current = try await read()
      } catch {
        throw StrataError.unavailable("etcd did not answer reading the cluster layout at \(keys.layout): \(error)")
      }
      guard let (layout, revision) = current else {
        let expected = request.expectedNodes ?? 1
        if let rf = request.replicationFactor, rf > expected {
          throw StrataError.invalidArgument(
            "--replication-factor \(rf) needs at least \(rf) nodes, but the cluster forms with \(expected) (--initial-nodes)")
        }
        let layout = ClusterLayout(
          state: expected == 1 ? .active : .forming, epoch: 1, virtualNodes: request.virtualNodes,
          replicationFactor: request.replicationFactor, expectedNodes: expected, nodes: [request.me])
        if try await write(layout, ifRevision: 0) {
          logger.info("created the cluster layout", metadata: ["strata.expected_nodes": "\(expected)"])
        }
        continue
      }
      try Self.check(request, against: layout)
      if let member = layout.participant(request.me.id) {
        guard member.host == request.me.host, member.port == request.me.port, member.internodePort == request.me.internodePort else {
          throw StrataError.failedPrecondition(
            "node \(member.id) is a member of this cluster at \(member.address) (internode port \(member.internodePort)); start it with that address and internode port, not \(request.me.address) (internode port \(request.me.internodePort))")
        }
        if layout.state == .active { return layout }
        if !announced {
          logger.info(
            "waiting for the cluster to form",
            metadata: ["strata.joined": "\(layout.nodes.count)", "strata.expected_nodes": "\(layout.expectedNodes)"])
          announced = true
        }
      } else {
        guard layout.state == .forming else {
          guard request.join else {
            throw StrataError.failedPrecondition(
              "node \(request.me.id) is not a member of this cluster (epoch \(layout.epoch): \(layout.nodes.map(\.id).joined(separator: ", "))); start it with --join to add it (the cluster streams its ranges to it), or add it with `strata cluster add-node`")
          }
          _ = try await MembershipChanges(etcd: etcd, keys: keys, logger: logger).add(request.me)
          continue
        }
        if let clash = layout.nodes.first(where: { $0.address == request.me.address || ($0.host == request.me.host && $0.internodePort == request.me.internodePort) }) {
          throw StrataError.failedPrecondition(
            "node \(clash.id) already uses \(request.me.host) with port \(request.me.port) or internode port \(request.me.internodePort)")
        }
        var next = layout
        next.nodes.append(request.me)
        if next.nodes.count == next.expectedNodes { next.state = .active }
        _ = try await write(next, ifRevision: revision)
        continue
      }
      guard ContinuousClock.now < deadline else {
        throw StrataError.unavailable(
          "the cluster did not form in time: \(layout.nodes.count) of \(layout.expectedNodes) nodes joined (\(layout.nodes.map(\.id).joined(separator: ", ")))")
      }
      try await Task.sleep(for: .milliseconds(100))
    }
  }

  /// Refuses cluster-wide settings that disagree with the layout.
  static func check(_ request: Request, against layout: ClusterLayout) throws(StrataError) {
    if let expected = request.expectedNodes, expected != layout.expectedNodes {
      throw .failedPrecondition(
        "this cluster forms with \(layout.expectedNodes) nodes; --initial-nodes \(request.expectedNodes ?? 0) disagrees (leave it out or give \(layout.expectedNodes))")
    }
    if let rf = request.replicationFactor, rf != layout.replicationFactor {
      throw .failedPrecondition(
        "this cluster's replication factor is \(layout.replicationFactor.map(String.init) ?? "the default"); --replication-factor \(rf) disagrees")
    }
    if request.virtualNodes != layout.virtualNodes {
      throw .failedPrecondition(
        "this cluster's ring has \(layout.virtualNodes) virtual nodes per node; --virtual-nodes \(request.virtualNodes) disagrees")
    }
  }

  /// The layout and its modification revision, or nil when there is none.
  public func read() async throws -> (ClusterLayout, Int64)? {
    guard let kv = try await etcd.get(keys.layout) else { return nil }
    do {
      return (try JSONDecoder().decode(ClusterLayout.self, from: Data(kv.value)), kv.modRevision)
    } catch {
      throw StrataError.internalError("the cluster layout at \(keys.layout) does not decode", cause: error)
    }
  }

  /// Writes `layout` if the key's modification revision is still `revision` (0: absent). Returns
  /// whether it did. A write whose answer etcd lost is settled by reading the layout back
  /// (`MetadataStore.conditionalPut`), so that a change recorded is never reported as failed.
  func write(_ layout: ClusterLayout, ifRevision revision: Int64) async throws -> Bool {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let bytes = Array(try encoder.encode(layout))
    do {
      let result = try await etcd.conditionalPut([(keys.layout, bytes)], ifRevision: revision, of: keys.layout)
      if result.readBack {
        logger.info(
          "etcd lost its answer to a layout write; read back",
          metadata: ["strata.applied": "\(result.succeeded)", "strata.epoch": "\(layout.epoch)"])
      }
      return result.succeeded
    } catch {
      throw StrataError.unavailable(
        "etcd did not answer writing the cluster layout at \(keys.layout), nor reading it back: \(error)")
    }
  }
}
