import Foundation
import Logging
import StrataCore
import StrataGRPC
import StrataStorage

/// Checks every group version's freshness (`FeatureStore.freshness`) every `interval`, and reports
/// each transition into or out of ALERT once: a structured warning in the log and, with a webhook,
/// a JSON document POSTed to it (`AlertWebhook`: queued, retried, never blocking serving).
///
/// In a cluster the state is the cluster's: `peers` collects the other nodes' last writes (their
/// `GetNodeStatus`), which also feed `board` (online answers and `GetStatus` merge them). To report
/// each transition once per cluster rather than once per node, only the reporting node reports: the
/// first by id among itself and the nodes that answered this round.
///
/// The document: `{"event": "freshness_alert" | "freshness_recovered", "group", "version", "state",
/// "previous_state", "tier", "refresh_interval_seconds", "last_write" (RFC 3339 or null),
/// "age_seconds", "node", "at"}`.
struct FreshnessMonitor: Sendable {
  let store: FeatureStore
  let board: FreshnessBoard
  let interval: Duration
  let webhook: AlertWebhook?
  let logger: Logger
  let nodeID: String
  /// Cluster nodes: the other nodes' last writes (`name@version`) and the ids of those that answered.
  let peers: (@Sendable () async -> (lastWrites: [String: Timestamp], reachable: [String]))?

  func run() async {
    var previous: [String: FreshnessState] = [:]
    while !Task.isCancelled {
      var reporting = true
      if let peers {
        let (lastWrites, reachable) = await peers()
        board.update(lastWrites)
        reporting = (reachable + [nodeID]).min() == nodeID
      }
      let now = store.now
      for f in store.freshness(now: now, otherLastWrites: board.snapshot) {
        let key = f.qualifiedName
        let before = previous[key]
        previous[key] = f.state
        let entered = f.state == .alert && before != .alert
        let left = before == .alert && f.state != .alert
        guard reporting, entered || left else { continue }
        report(f, previous: before, now: now)
      }
      try? await Task.sleep(for: interval)
    }
  }

  private func report(_ f: GroupFreshness, previous: FreshnessState?, now: Timestamp) {
    let age = f.lastWrite.map { Double(now.microseconds - $0.microseconds) / 1e6 }
    let event = f.state == .alert ? "freshness_alert" : "freshness_recovered"
    logger.warning(
      f.state == .alert ? "feature group is stale (ALERT)" : "feature group is no longer in ALERT",
      metadata: [
        "strata.event": "\(event)", "strata.group": "\(f.qualifiedName)", "strata.state": "\(f.state.rawValue)",
        "strata.previous_state": "\(previous?.rawValue ?? "none")", "strata.tier": "\(f.tier.rawValue)",
        "strata.refresh_interval_s": "\(f.intervalSeconds ?? 0)", "strata.last_write": "\(f.lastWrite.map { "\($0)" } ?? "never")",
        "strata.age_s": "\(age.map { String(format: "%.1f", $0) } ?? "-")",
      ])
    guard let webhook else { return }
    let document = AlertDocument(
      event: event, group: f.group, version: f.version, state: f.state.rawValue, previousState: previous?.rawValue,
      tier: f.tier.rawValue, refreshIntervalSeconds: f.intervalSeconds ?? 0, lastWrite: f.lastWrite.map { "\($0)" },
      ageSeconds: age, node: nodeID, at: "\(now)")
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    if let bytes = try? encoder.encode(document) { webhook.post(Array(bytes)) }
  }

  struct AlertDocument: Encodable {
    var event: String
    var group: String
    var version: Int
    var state: String
    var previousState: String?
    var tier: String
    var refreshIntervalSeconds: Int64
    var lastWrite: String?
    var ageSeconds: Double?
    var node: String
    var at: String

    // Nulls written out (not left out), so every document has every key.
    func encode(to encoder: any Encoder) throws {
      var c = encoder.container(keyedBy: CodingKeys.self)
      try c.encode(event, forKey: .event)
      try c.encode(group, forKey: .group)
      try c.encode(version, forKey: .version)
      try c.encode(state, forKey: .state)
      try c.encode(previousState, forKey: .previousState)
      try c.encode(tier, forKey: .tier)
      try c.encode(refreshIntervalSeconds, forKey: .refreshIntervalSeconds)
      try c.encode(lastWrite, forKey: .lastWrite)
      try c.encode(ageSeconds, forKey: .ageSeconds)
      try c.encode(node, forKey: .node)
      try c.encode(at, forKey: .at)
    }

    enum CodingKeys: String, CodingKey {
      case event, group, version, state, previousState, tier, refreshIntervalSeconds, lastWrite, ageSeconds, node, at
    }
  }
}
