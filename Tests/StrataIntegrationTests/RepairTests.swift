import Foundation
import Testing

/// `strata repair` against real processes: data that no hint can deliver arrives through repair.
@Suite("Repair of a real cluster", .serialized)
struct RepairIntegrationTests {
  static let timeout = 30.0

  @discardableResult
  static func ok(_ r: TimedResult, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> TimedResult {
    try #require(!r.timedOut && r.status == 0, "\(what) failed (status \(r.status)): \(r.stdout)\(r.stderr)", sourceLocation: sourceLocation)
    return r
  }

  /// The value of `g@1:n` per entity in `strata get --json` output.
  static func values(_ json: String, _ entities: [String]) -> [String] {
    entities.map { e in
      guard let start = json.range(of: "{\"entity_id\":\"\(e)\",\"features\":{\"g@1:n\":{\"value\":") else { return "?" }
      return String(json[start.upperBound...].prefix { $0.isNumber || $0 == "-" })
    }
  }

  @Test("RF 3: n2 killed, a QUORUM write through n3, n3 killed with its hints, n2 restarted: n2 is stale until `strata repair` brings it the rows (n3 down is reported, exit 1); with n3 back a second repair is clean")
  func repairBringsWhatHintsCannot() throws {
    // Without the repair after an unclean stop (checked below), so that n2 stays stale until asked.
    let cluster = try LocalCluster(replicationFactor: 3, serveArgs: ["--no-repair-after-crash"])
    defer { cluster.shutdown() }
    let dir = cluster.dir
    let defs = "groups:\n  - name: g\n    features:\n      - name: n\n        dtype: INT\n"
    try Self.ok(strata(["apply", try dir.file("g.yaml", defs)], server: cluster.address("n1"), timeout: Self.timeout), "apply")
    let entities = (0..<60).map { "e\($0)" }
    var csv = "entity_id,event_timestamp,n\n" + entities.enumerated().map { "\($1),2024-05-01T00:00:00Z,\($0)\n" }.joined()
    try Self.ok(
      strata(["ingest", "--group", "g", "--consistency", "ALL", try dir.file("base.csv", csv)], server: cluster.address("n1"), timeout: Self.timeout),
      "ingest at ALL")
    cluster.kill9("n2")
    csv = "entity_id,event_timestamp,n\n" + entities.enumerated().map { "\($1),2024-05-02T00:00:00Z,\(1_000 + $0)\n" }.joined()
    let more = try Self.ok(
      strata(["ingest", "--group", "g", try dir.file("more.csv", csv)], server: cluster.address("n3"), timeout: Self.timeout), "QUORUM ingest")
    #expect(more.stdout.contains("at least 2 of 3 replicas"), "\(more.stdout)")
    // n3 keeps the hints for n2: kill it before n2 returns, so that no hint can reach n2.
    cluster.kill9("n3")
    try cluster.restart("n2")
    // Until n2 reaches n1 (its clients back off while the peers were down).
    let get = ["get", "--entity", entities.joined(separator: ","), "--features", "g:n", "--json"]
    var stale = try strata(get, server: cluster.address("n2"), timeout: 10)
    #expect(stale.status == 0, "\(stale.stderr)")
    #expect(Self.values(stale.stdout, entities) == entities.indices.map { String($0) }, "n2 missed the QUORUM write: \(stale.stdout.prefix(300))")

    var r = try strata(["repair"], server: cluster.address("n1"), timeout: 60)
    var outputs = r.stdout
    for _ in 0..<20 where r.stdout.contains("n2 (\(cluster.address("n2"))) did not answer") || r.stdout.contains("could not repair with n2") {
      usleep(500_000)  // n1 had not reconnected to n2 yet (n2's own repair with n1 may have run already)
      r = try strata(["repair"], server: cluster.address("n1"), timeout: 60)
      outputs += r.stdout
    }
    #expect(!r.timedOut && r.status != 0, "n3 is down: the repair is incomplete. \(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("[1/3] repairing n1 (\(cluster.address("n1")))"), "\(r.stdout)")
    #expect(r.stdout.contains("n3 (\(cluster.address("n3"))) did not answer"), "\(r.stdout)")
    #expect(r.stderr.contains("repair incomplete"), "\(r.stderr)")
    // The pair (n1, n2) was repaired once: n1 sent, or n2 received, the 60 rows n2 missed.
    #expect(outputs.contains("60 rows sent") || outputs.contains("60 rows received"), "\(outputs)")
    stale = try strata(get, server: cluster.address("n2"), timeout: 10)
    #expect(Self.values(stale.stdout, entities) == entities.indices.map { String(1_000 + $0) }, "n2 after repair: \(stale.stdout.prefix(300))")

    try cluster.restart("n3")
    try cluster.waitUntilConnected(timeout: 20)
    r = try strata(["repair"], server: cluster.address("n2"), timeout: 60)
    #expect(!r.timedOut && r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("repair: 3 of 3 nodes repaired"), "\(r.stdout)")
    for via in cluster.ids {
      let got = try strata(get, server: cluster.address(via), timeout: 10)
      #expect(Self.values(got.stdout, entities) == entities.indices.map { String(1_000 + $0) }, "through \(via)")
    }
  }

  @Test("RF 3: the same rows that no hint can deliver (n2 killed, a QUORUM write, n3 killed with its hints, n2 restarted) reach n2 by themselves: a node restarted after kill -9 repairs with its peers")
  func repairAfterUncleanStop() throws {
    let cluster = try LocalCluster(replicationFactor: 3)
    defer { cluster.shutdown() }
    let dir = cluster.dir
    let defs = "groups:\n  - name: g\n    features:\n      - name: n\n        dtype: INT\n"
    try Self.ok(strata(["apply", try dir.file("g.yaml", defs)], server: cluster.address("n1"), timeout: Self.timeout), "apply")
    let entities = (0..<60).map { "e\($0)" }
    var csv = "entity_id,event_timestamp,n\n" + entities.enumerated().map { "\($1),2024-05-01T00:00:00Z,\($0)\n" }.joined()
    try Self.ok(
      strata(["ingest", "--group", "g", "--consistency", "ALL", try dir.file("base.csv", csv)], server: cluster.address("n1"), timeout: Self.timeout),
      "ingest at ALL")
    cluster.kill9("n2")
    csv = "entity_id,event_timestamp,n\n" + entities.enumerated().map { "\($1),2024-05-02T00:00:00Z,\(1_000 + $0)\n" }.joined()
    try Self.ok(
      strata(["ingest", "--group", "g", try dir.file("more.csv", csv)], server: cluster.address("n3"), timeout: Self.timeout), "QUORUM ingest")
    cluster.kill9("n3")
    try cluster.restart("n2")
    let get = ["get", "--entity", entities.joined(separator: ","), "--features", "g:n", "--json"]
    var values: [String] = []
    for _ in 0..<100 {
      values = Self.values(try strata(get, server: cluster.address("n2"), timeout: 10).stdout, entities)
      if values == entities.indices.map({ String(1_000 + $0) }) { break }
      usleep(200_000)
    }
    #expect(values == entities.indices.map { String(1_000 + $0) }, "n2 did not repair itself within 20 s: \(values.prefix(5))")
    // A QUORUM read through n2 also asks n1, so the values can be right before n2's own repair ends:
    // its log line may come a little later.
    func repairLogged() -> Bool {
      cluster.log("n2").contains("repaired with every peer after an unclean stop") || cluster.log("n2").contains("repair after an unclean stop")
    }
    for _ in 0..<100 where !repairLogged() { usleep(200_000) }
    #expect(repairLogged(), "\(cluster.log("n2").suffix(2000))")
  }
}
