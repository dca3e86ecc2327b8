internal import Foundation
internal import Logging
internal import StrataCore
internal import StrataEtcd
internal import StrataGRPC
internal import StrataMetadata
internal import StrataProto
internal import SwiftProtobuf

/// `FeatureStore.ChangeMembership` of a cluster whose layout is in etcd: records changes with
/// `MembershipChanges`, and describes the change in progress with each target's transfer progress.
struct EtcdMembershipControl: MembershipControl {
  let etcd: EtcdClient
  let keys: MetadataKeys
  let logger: Logger

  func change(_ request: Strata_V1_ChangeMembershipRequest) async throws -> Strata_V1_ChangeMembershipResponse {
    let changes = MembershipChanges(etcd: etcd, keys: keys, logger: logger)
    switch request.action {
    case .add:
      _ = try await changes.add(try Self.member(request.node, request))
    case .remove:
      try Self.checkID(request.node, what: "node")
      _ = try await changes.remove(request.node)
    case .replace:
      try Self.checkID(request.node, what: "node")
      _ = try await changes.replace(request.node, with: try Self.member(request.replacement, request))
    case .cleanup:
      _ = try await changes.cleanupNow()
    case .abort:
      _ = try await changes.abort()
    case .status:
      break
    case .unspecified, .UNRECOGNIZED:
      throw StrataError.invalidArgument("action must be ADD, REMOVE, REPLACE, CLEANUP, ABORT or STATUS")
    }
    return try await describe()
  }

  /// The layout now, with the change in progress and its transfers.
  func describe() async throws -> Strata_V1_ChangeMembershipResponse {
    let snapshot: EtcdTransactionResult
    do {
      snapshot = try await etcd.transaction(
        if: [], then: [.get(.key(keys.layout)), .get(.key(keys.changeDriver)), .get(.prefix(keys.changeProgress))])
    } catch {
      throw StrataError.unavailable("etcd did not answer reading the cluster layout: \(error)")
    }
    guard case .get(let l) = snapshot.responses[0], case .get(let d) = snapshot.responses[1], case .get(let p) = snapshot.responses[2],
      let kv = l.first
    else { throw StrataError.failedPrecondition("there is no cluster layout at \(keys.layout) in etcd") }
    let layout = try JSONDecoder().decode(ClusterLayout.self, from: Data(kv.value))
    var response = Strata_V1_ChangeMembershipResponse()
    response.ringEpoch = layout.epoch
    response.members = layout.nodes.map(\.id)
    guard let change = layout.change else { return response }
    let progress = p.keyValues.compactMap { try? JSONDecoder().decode(TransferProgress.self, from: Data($0.value)) }
      .filter { $0.toEpoch == change.toEpoch }
    response.change = .with { c in
      c.kind = change.kind.rawValue
      c.node = change.node
      c.replacement = change.replacement ?? ""
      c.phase = change.phase.rawValue
      c.fromEpoch = change.fromEpoch
      c.fromMembers = change.from.map(\.id)
      c.toMembers = change.to.map(\.id)
      c.startedAtMicros = change.startedAtMicros
      c.driver = d.first?.valueString ?? ""
      c.cleanupAtMicros = change.cleanupAtMicros ?? 0
      c.transfers = progress.sorted { $0.target < $1.target }.map { t in
        .with {
          $0.target = t.target
          $0.tokenShare = t.tokenShare
          $0.sources = t.sources
          $0.sourcesDone = UInt32(t.sourcesDone.count)
          $0.bucketsDone = t.bucketsDone
          $0.bucketsTotal = t.bucketsTotal
          $0.rowsReceived = t.rowsReceived
          $0.bytesReceived = t.bytesReceived
          $0.startedAtMicros = t.startedAtMicros
          $0.updatedAtMicros = t.updatedAtMicros
          $0.done = t.done
          $0.error = t.error ?? ""
        }
      }
    }
    return response
  }

  static func checkID(_ id: String, what: String) throws {
    guard !id.isEmpty else { throw StrataError.invalidArgument("the \(what) id is empty") }
  }

  /// The new member of an ADD or REPLACE request.
  static func member(_ id: String, _ request: Strata_V1_ChangeMembershipRequest) throws -> ClusterLayout.Member {
    try checkID(id, what: request.action == .replace ? "replacement node" : "node")
    guard let colon = request.address.lastIndex(of: ":"), colon > request.address.startIndex,
      let port = Int(request.address[request.address.index(after: colon)...]), (1...65_535).contains(port)
    else {
      throw StrataError.invalidArgument("the new node's address must be host:port, e.g. 127.0.0.1:7404; got '\(request.address)'")
    }
    let internode = request.internodePort == 0 ? min(port + 100, 65_535) : Int(request.internodePort)
    guard (1...65_535).contains(internode), internode != port else {
      throw StrataError.invalidArgument("the internode port must be 1...65535 and differ from the client port, got \(internode)")
    }
    return ClusterLayout.Member(
      id: id, host: String(request.address[..<colon]), port: port, internodePort: internode, zone: request.zone)
  }
}
