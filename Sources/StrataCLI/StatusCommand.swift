internal import ArgumentParser
internal import Foundation
internal import StrataCore
internal import StrataProto
internal import SwiftProtobuf

struct StatusCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "status", abstract: "Show a node's status.")

  @OptionGroup var client: ClientOptions

  func run() async throws {
    let s = try await client.withFeatureStore { try await $0.getStatus(.init()) }
    print("node:           \(s.nodeID)  (strata \(s.version))")
    print("started at:     \(Timestamp(microseconds: s.startedAtMicros))")
    print("storage:        \(s.storageEngine), \(s.dataDirectory)")
    print("feature groups: \(s.featureGroups)")
    print("since start:    \(s.rowsWritten) rows written (\(s.lateRows) late), \(s.onlineLookups) entities looked up online, \(s.historicalRows) label rows joined")
    print("history images: \(s.historyImages) held, \(s.historyImageBytes >> 20) MiB, \(s.historyImageBuilds) built since start")
    print("online rows:    \(s.onlineRows) in memory")
    if s.aggregateRowCacheCapacity == 0 {
      print("aggregate rows: cache off (--aggregate-row-cache 0)")
    } else {
      let asked = s.aggregateRowCacheHits + s.aggregateRowCacheMisses
      let rate = asked == 0 ? "" : String(format: " (%.1f%% answered from the cache)", 100 * Double(s.aggregateRowCacheHits) / Double(asked))
      print(
        "aggregate rows: \(s.aggregateRowCacheRows) of \(s.aggregateRowCacheCapacity) cached, \(s.aggregateRowCacheHits) lookups answered from the cache and \(s.aggregateRowCacheMisses) computed since start\(rate)")
    }
    if s.hasLimits {
      let l = s.limits
      print(
        "limits:         \(l.maxRowsPerBatch) rows per write batch, \(l.maxRequestBytes >> 20) MiB per message, \(l.maxEntitiesPerLookup) entities per lookup, \(l.maxLabelsPerMessage) labels per message")
    }
    if !s.clusterNodes.isEmpty {
      let zones = s.clusterNodes.contains { !$0.zone.isEmpty }
      var rows = [["NODE", "ADDRESS"] + (zones ? ["ZONE"] : []) + ["PRIMARY SHARE", "ROWS", "HINTS HERE", "ANSWERS"]]
      for n in s.clusterNodes {
        rows.append(
          [n.nodeID, n.address] + (zones ? [n.zone.isEmpty ? "-" : n.zone] : []) + [
            String(format: "%.1f%%", n.ringShare * 100), n.reachable ? String(n.rowsTotal) : "-", String(n.hintsPending),
            n.reachable ? "yes" : "no: \(n.error)",
          ])
      }
      print("")
      print(
        "internode:      \(s.internodeLookupsOnLanes) lookups sent on lookup lanes, \(s.internodeLookupsOverGrpc) over gRPC; \(s.laneLookupsAnswered) answered on this node's lane")
      print("cluster (ring epoch \(s.ringEpoch), replication factor \(s.replicationFactor); HINTS HERE: rows this node keeps for that node until it stores them):")
      print(Table.render(rows))
      if s.hasMembershipChange {
        // The change in progress and each receiving node's transfer (docs/scale-out.md).
        let change = ClusterCommand.describe(.with { $0.ringEpoch = s.ringEpoch; $0.change = s.membershipChange })
        print(change.split(separator: "\n").dropFirst().joined(separator: "\n"))
      }
    }
    if !s.groups.isEmpty {
      var rows = [["GROUP", "ROWS", "LAST WRITE"]]
      for g in s.groups {
        rows.append([
          "\(g.group)@\(g.version)", String(g.rowsTotal),
          g.lastWriteMicros == 0 ? "never" : Timestamp(microseconds: g.lastWriteMicros).description,
        ])
      }
      print("")
      if !s.clusterNodes.isEmpty { print("rows stored on \(s.nodeID) (this node's share of each group):") }
      print(Table.render(rows))
    }
  }
}
