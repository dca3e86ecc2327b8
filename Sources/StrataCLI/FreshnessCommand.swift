internal import ArgumentParser
internal import Foundation
internal import StrataCore
internal import StrataProto
internal import SwiftProtobuf
internal import StrataStorage

/// `strata freshness`: every group version's freshness against its refresh interval (GetStatus).
struct FreshnessCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "freshness",
    abstract: "Show whether each group is as fresh as its refresh interval promises.",
    discussion: """
      A group version is FRESH while its last write (for an aggregate group: its stream's; never \
      written: its registration) is at most one refresh interval old, LATE up to two, ALERT beyond; \
      UNTRACKED without a declared interval. Tiers: BATCH (interval >= 1 day), NEAR_REAL_TIME (>= 1 \
      hour), STREAMING (below; also streams and aggregate groups without one). In a cluster the last \
      write is the latest on any reachable node, and each node's own state follows.
      """)

  @OptionGroup var client: ClientOptions
  @Flag(name: .customLong("fail-on-alert"), help: "Exit with status 2 when a group is in ALERT (for cron checks).")
  var failOnAlert = false

  func run() async throws {
    let s = try await client.withFeatureStore { try await $0.getStatus(.init()) }
    let now = Timestamp.now()
    let perNode = s.clusterNodes.filter(\.reachable)
    var rows = [["GROUP", "TIER", "INTERVAL", "LAST WRITE", "AGE", "STATE"] + perNode.map(\.nodeID)]
    var alerts = 0
    for g in s.groups where g.freshness != .unspecified {
      if g.freshness == .alert { alerts += 1 }
      let nodes = perNode.map { n in
        n.groups.first { $0.group == g.group && $0.version == g.version }.map { Self.name($0.freshness) } ?? "-"
      }
      rows.append(
        [
          "\(g.group)@\(g.version)", Self.name(g.tier), g.refreshIntervalSeconds == 0 ? "-" : Self.duration(Double(g.refreshIntervalSeconds)),
          g.lastWriteMicros == 0 ? "never" : Timestamp(microseconds: g.lastWriteMicros).description,
          g.lastWriteMicros == 0 ? "-" : Self.duration(Double(now.microseconds - g.lastWriteMicros) / 1e6),
          Self.name(g.freshness),
        ] + nodes)
    }
    guard rows.count > 1 else {
      print("no feature groups")
      return
    }
    print(Table.render(rows))
    if alerts > 0 { print("\(alerts) group version\(alerts == 1 ? "" : "s") in ALERT") }
    if failOnAlert && alerts > 0 { throw ExitCode(2) }
  }

  static func name(_ state: Strata_V1_FreshnessState) -> String {
    switch state {
    case .fresh: "FRESH"
    case .late: "LATE"
    case .alert: "ALERT"
    case .untracked: "UNTRACKED"
    default: "?"
    }
  }

  static func name(_ tier: Strata_V1_FreshnessTier) -> String {
    switch tier {
    case .batch: "BATCH"
    case .nearRealTime: "NEAR_REAL_TIME"
    case .streaming: "STREAMING"
    default: "?"
    }
  }

  /// `45s`, `12m`, `3.5h`, `2.0d`.
  static func duration(_ seconds: Double) -> String {
    switch abs(seconds) {
    case ..<120: String(format: "%.0fs", seconds)
    case ..<7_200: String(format: "%.0fm", seconds / 60)
    case ..<172_800: String(format: "%.1fh", seconds / 3_600)
    default: String(format: "%.1fd", seconds / 86_400)
    }
  }
}
