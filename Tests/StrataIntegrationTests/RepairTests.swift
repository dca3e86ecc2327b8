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

  @Test("RF 3: a coordinator killed while its writes are on their way to a replica (n3 paused) kept them as write intents: restarted, it hints n3, which gets every row with no repair")
  func writeIntentOfAKilledCoordinator() throws {
    // No repair after the unclean stop: only the intents can bring n3 the rows.
    let cluster = try LocalCluster(replicationFactor: 3, serveArgs: ["--no-repair-after-crash"])
    defer { cluster.shutdown() }
    let dir = cluster.dir
    let defs = "groups:\n  - name: g\n    features:\n      - name: n\n        dtype: INT\n      - name: s\n        dtype: STRING\n"
    try Self.ok(strata(["apply", try dir.file("g.yaml", defs)], server: cluster.address("n1"), timeout: Self.timeout), "apply")
    // About 16 MB: more than n3's HTTP/2 windows and socket buffers hold, so that while n3 is paused
    // the later batches' parts stay in n1's memory (those that reach n3's socket are read by n3 when
    // it resumes, even after n1 is gone).
    let count = 40_000
    let padding = String(repeating: "x", count: 400)
    var csv = "entity_id,event_timestamp,n,s\n"
    csv.reserveCapacity(count * 430)
    for i in 0..<count { csv += "e\(i),2024-05-01T00:00:00Z,\(i),\(padding)\n" }
    cluster.pause("n3")
    let written = try Self.ok(
      strata(["ingest", "--group", "g", try dir.file("rows.csv", csv)], server: cluster.address("n1"), timeout: 120), "QUORUM ingest")
    #expect(written.stdout.contains("at least 2 of 3 replicas"), "\(written.stdout)")
    // n1's calls to n3 still wait for their answers: n1 dies with them.
    cluster.kill9("n1")
    cluster.resume("n3")
    try cluster.restart("n1")
    for _ in 0..<50 where !cluster.log("n1").contains("kept the writes") { usleep(100_000) }
    #expect(cluster.log("n1").contains("kept the writes this node was sending when its process stopped as hints"), "\(cluster.log("n1").suffix(2000))")
    // n3's own copy: a lookup through n3 at ONE (the default) answers from its own replica. Every
    // 500th entity and the last 100 (the batches least likely to have reached n3 before n1 died).
    let sample = Array(stride(from: 0, to: count, by: 500)) + Array((count - 100)..<count)
    let entities = sample.map { "e\($0)" }
    let get = ["get", "--entity", entities.joined(separator: ","), "--features", "g:n", "--json"]
    let want = sample.map { String($0) }
    var values: [String] = []
    for _ in 0..<150 {
      values = Self.values(try strata(get, server: cluster.address("n3"), timeout: 10).stdout, entities)
      if values == want { break }
      usleep(200_000)
    }
    let lacking = zip(entities, values).filter { $0.1 == "?" || $0.1.isEmpty }.count
    #expect(values == want, "n3 lacks \(lacking) of \(entities.count) sampled entities after 30 s; n1: \(cluster.log("n1").suffix(1500))")
  }
}
