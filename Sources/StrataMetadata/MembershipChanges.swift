internal import StrataEtcd
public import StrataCore
internal import Foundation
public import Logging

/// Starts membership changes of a cluster whose layout is in etcd: each is one transaction against the
/// layout's revision that records a `MembershipChange` (the cluster then drives it, see
/// `MembershipDriver`). One change at a time: another is refused with FAILED_PRECONDITION naming the
/// change in progress.
public struct MembershipChanges: Sendable {
  let etcd: any MetadataStore
  let keys: MetadataKeys
  let logger: Logger
  /// Microseconds since 1970: `MembershipChange.startedAtMicros`.
  let wallClockMicros: @Sendable () -> Int64

  public init(
    etcd: any MetadataStore, keys: MetadataKeys, logger: Logger,
    wallClockMicros: @escaping @Sendable () -> Int64 = { MembershipChanges.nowMicros }
  ) {
    self.etcd = etcd
    self.keys = keys
    self.logger = logger
    self.wallClockMicros = wallClockMicros
  }

  var membership: EtcdMembership { EtcdMembership(etcd: etcd, keys: keys, logger: logger) }

  /// Adds `member` to the ring.
  public func add(_ member: ClusterLayout.Member) async throws -> ClusterLayout {
    try await change { layout in
      try Self.checkNew(member, in: layout)
      var next = layout.withRecordedSlots()
      next.replicationFactor = Self.pinnedReplicationFactor(layout)
      var added = member
      added.slot = (next.slots.values.max() ?? 0) + 1
      next.change = MembershipChange(
        kind: .add, node: member.id, fromEpoch: layout.epoch, from: next.nodes, to: next.nodes + [added],
        startedAtMicros: wallClockMicros())
      return next
    }
  }

  /// Removes (decommissions) `id`: its ranges move to the nodes that replicate them without it.
  public func remove(_ id: String) async throws -> ClusterLayout {
    try await change { layout in
      guard layout.member(id) != nil else {
        throw StrataError.notFound(
          "node \(id) is not a member of this cluster (epoch \(layout.epoch): \(layout.nodes.map(\.id).joined(separator: ", ")))")
      }
      let rf = Self.pinnedReplicationFactor(layout)
      guard layout.nodes.count - 1 >= rf else {
        throw StrataError.failedPrecondition(
          "removing \(id) would leave \(layout.nodes.count - 1) node\(layout.nodes.count == 2 ? "" : "s") for replication factor \(rf); add a node first")
      }
      var next = layout.withRecordedSlots()
      next.replicationFactor = rf
      next.change = MembershipChange(
        kind: .remove, node: id, fromEpoch: layout.epoch, from: next.nodes, to: next.nodes.filter { $0.id != id },
        startedAtMicros: wallClockMicros())
      return next
    }
  }

  /// Replaces `dead` (a member that is gone) by `member`: `dead`'s ranges are streamed to it from the
  /// surviving replicas.
  public func replace(_ dead: String, with member: ClusterLayout.Member) async throws -> ClusterLayout {
    try await change { layout in
      guard layout.member(dead) != nil else {
        throw StrataError.notFound(
          "node \(dead) is not a member of this cluster (epoch \(layout.epoch): \(layout.nodes.map(\.id).joined(separator: ", ")))")
      }
      try Self.checkNew(member, in: layout)
      let rf = Self.pinnedReplicationFactor(layout)
      guard rf > 1 else {
        throw StrataError.failedPrecondition(
          "the replication factor is 1: \(dead)'s rows exist on no other node, so replacing it cannot recover them; restart \(dead) with its data instead")
      }
      var next = layout.withRecordedSlots()
      next.replicationFactor = rf
      var added = member
      added.slot = (next.slots.values.max() ?? 0) + 1
      next.change = MembershipChange(
        kind: .replace, node: dead, replacement: member.id, fromEpoch: layout.epoch, from: next.nodes,
        to: next.nodes.map { $0.id == dead ? added : $0 }, startedAtMicros: wallClockMicros())
      return next
    }
  }

  /// Starts the cleanup of a switched change now instead of after its grace period.
  public func cleanupNow() async throws -> ClusterLayout {
    for _ in 0..<10 {
      guard let (layout, revision) = try await read() else { throw Self.noCluster(keys) }
      guard var change = layout.change else {
        throw StrataError.failedPrecondition("no membership change is in progress: there is nothing to clean up")
      }
      guard change.phase >= .switched else {
        throw StrataError.failedPrecondition(
          "the change \"\(change.summary)\" is in phase \(change.phase.rawValue); old copies can be deleted only once it is switched")
      }
      if change.phase == .cleanup { return layout }
      change.cleanupAtMicros = 0
      var next = layout
      next.change = change
      if try await membership.write(next, ifRevision: revision) { return next }
    }
    throw StrataError.unavailable("the cluster layout changed under this request 10 times in a row; try again")
  }

  /// Gives up the change in progress while reads still use the old ring (`dualWrite`, `streaming`):
  /// the layout goes back to the old ring alone (a node being added is no member and stops; the rows
  /// it received stay in its data directory). Every acknowledged write is on a quorum of the old
  /// replicas, which reads never left. FAILED_PRECONDITION once reads moved to the new ring.
  public func abort() async throws -> ClusterLayout {
    for _ in 0..<10 {
      guard let (layout, revision) = try await read() else { throw Self.noCluster(keys) }
      guard let change = layout.change else {
        throw StrataError.failedPrecondition("no membership change is in progress: there is nothing to abort")
      }
      guard change.phase <= .streaming else {
        throw StrataError.failedPrecondition(
          "the change \"\(change.summary)\" is in phase \(change.phase.rawValue): reads already moved to the new ring, so it can only go forward (strata cluster status)")
      }
      var next = layout
      next.change = nil
      next.nodes = change.from
      next.epoch = change.fromEpoch
      if try await membership.write(next, ifRevision: revision) {
        logger.notice("membership change aborted", metadata: ["strata.change": "\(change.summary)"])
        return next
      }
    }
    throw StrataError.unavailable("the cluster layout changed under this request 10 times in a row; try again")
  }

  /// The layout now (nil: no cluster).
  public func read() async throws -> (ClusterLayout, Int64)? {
    do {
      return try await membership.read()
    } catch let error as StrataError {
      throw error
    } catch {
      throw StrataError.unavailable("etcd did not answer reading the cluster layout at \(keys.layout): \(error)")
    }
  }

  /// Reads the layout, refuses while a change is in progress, computes the next layout with `body`
  /// and writes it if the layout did not move meanwhile (retried).
  private func change(_ body: (ClusterLayout) throws -> ClusterLayout) async throws -> ClusterLayout {
    for _ in 0..<10 {
      guard let (layout, revision) = try await read() else { throw Self.noCluster(keys) }
      guard layout.state == .active else {
        throw StrataError.failedPrecondition(
          "the cluster is still forming (\(layout.nodes.count) of \(layout.expectedNodes) nodes joined); change its membership once it is active")
      }
      if let change = layout.change {
        throw StrataError.failedPrecondition(
          "the membership change \"\(change.summary)\" is in progress (phase \(change.phase.rawValue)); one change at a time: wait until it finishes (strata cluster status)")
      }
      let next = try body(layout)
      if try await membership.write(next, ifRevision: revision) {
        logger.info("membership change recorded", metadata: ["strata.change": "\(next.change!.summary)"])
        return next
      }
    }
    throw StrataError.unavailable("the cluster layout changed under this request 10 times in a row; try again")
  }

  /// The replication factor a change keeps: the layout's, or the default for its node count now
  /// (so that growing a cluster does not change how many copies each entity has).
  static func pinnedReplicationFactor(_ layout: ClusterLayout) -> Int {
    layout.replicationFactor ?? min(3, max(1, layout.nodes.count))
  }

  /// Refuses a new member whose id or addresses are taken.
  static func checkNew(_ member: ClusterLayout.Member, in layout: ClusterLayout) throws {
    guard layout.participant(member.id) == nil else {
      throw StrataError.failedPrecondition("node \(member.id) is already a member of this cluster")
    }
    if let clash = layout.participants.first(where: {
      $0.address == member.address || ($0.host == member.host && $0.internodePort == member.internodePort)
    }) {
      throw StrataError.failedPrecondition(
        "node \(clash.id) already uses \(member.host) with port \(member.port) or internode port \(member.internodePort)")
    }
    do {
      _ = try HashRing(nodes: layout.nodes.map(\.id) + [member.id], virtualNodes: layout.virtualNodes, epoch: layout.epoch + 1)
    } catch {
      throw StrataError.invalidArgument("node id \(member.id) cannot join this ring: \(error.message)")
    }
  }

  static func noCluster(_ keys: MetadataKeys) -> StrataError {
    .failedPrecondition("there is no cluster layout at \(keys.layout) in etcd: start the first node with --etcd")
  }

  /// The system's wall clock, in microseconds since 1970 (the default `wallClockMicros`).
  public static var nowMicros: Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }
}
