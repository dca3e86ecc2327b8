import Foundation
import Testing

/// A real `strata serve` process on loopback, driven by the `strata` CLI the way a user drives it.
@Suite("CLI against a real node", .serialized)
struct CLIEndToEndTests {
  static let definitions = """
    groups:
      - name: user_stats
        entity_type: USER
        owner: tests
        max_age: 10d
        features:
          - name: purchases
            dtype: INT
            default: 0
          - name: spend
            dtype: FLOAT
          - name: segment
            dtype: STRING
      - name: user_vec
        features:
          - name: taste
            dtype: EMBEDDING(2)
    """

  static let rows = """
    entity_id,event_timestamp,created_timestamp,purchases,spend,segment
    u1,2024-05-01T00:00:00Z,2024-05-01T01:00:00Z,1,10.5,gold
    u1,2024-05-03T00:00:00Z,2024-05-03T01:00:00Z,3,30.25,gold
    u1,2024-05-03T00:00:00Z,2024-05-03T09:00:00Z,4,31.0,platinum
    u2,1714608000,,7,,silver
    u1,2024-05-02T00:00:00Z,2024-05-02T01:00:00Z,2,20.0,gold
    """

  @Test("serve + apply + ingest + get + join give the values the semantics demand")
  func endToEnd() throws {
    let (dir, server) = try startNode()
    defer { dir.cleanup() }
    let s = server.address

    let defs = try dir.file("defs.yaml", Self.definitions)
    var r = try strata(["apply", defs], server: s)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("user_stats@1\tcreated"))
    r = try strata(["apply", defs], server: s)
    #expect(r.stdout.contains("user_stats@1\tunchanged"), "re-applying an identical definition is a no-op")

    let csv = try dir.file("rows.csv", Self.rows)
    r = try strata(["ingest", "--group", "user_stats", csv, "--batch-size", "2"], server: s)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("ingested 5 rows"), "\(r.stdout)")
    #expect(r.stdout.contains("in 3 batches"), "\(r.stdout)")
    #expect(r.stdout.contains("1 late rows"), "the 2024-05-02 row arrives after 2024-05-03 was stored: \(r.stdout)")

    // Online: u1's latest is the 05-03 correction written at 09:00 - but max age 10d against now has
    // long expired it, so it comes back EXPIRED with the default; u3 was never written.
    r = try strata(["get", "--entity", "u1,u3", "--features", "user_stats:purchases,user_stats:segment", "--json"], server: s)
    #expect(r.status == 0, "\(r.stderr)")
    let lines = r.stdout.split(separator: "\n")
    #expect(lines.count == 2)
    #expect(lines[0].contains("\"entity_id\":\"u1\""))
    #expect(lines[0].contains("\"user_stats@1:purchases\":{\"value\":0,\"status\":\"EXPIRED\",\"event_timestamp\":\"2024-05-03T00:00:00Z\"}"), "\(lines[0])")
    #expect(lines[1].contains("\"user_stats@1:purchases\":{\"value\":0,\"status\":\"DEFAULTED\",\"event_timestamp\":null}"), "\(lines[1])")
    #expect(lines[1].contains("\"user_stats@1:segment\":{\"value\":null,\"status\":\"MISSING\""), "\(lines[1])")

    // Historical: exact point-in-time values, input order, pass-through columns.
    let labels = try dir.file(
      "labels.csv",
      """
      entity_id,label_timestamp,label
      u1,2024-05-03T00:00:00Z,a
      u1,2024-04-30T23:59:59Z,b
      u2,2024-05-02T00:00:00Z,c
      u1,2024-05-02T12:00:00Z,d
      u1,2024-05-20T00:00:00Z,e
      u9,2024-05-02T00:00:00Z,f
      """)
    let out = dir.path + "/joined.csv"
    r = try strata(
      ["join", "--labels", labels, "--features", "user_stats:*", "--out", out, "--with-status", "--chunk-size", "2"],
      server: s)
    #expect(r.status == 0, "\(r.stderr)")
    let joined = csvRows(try String(contentsOfFile: out, encoding: .utf8))
    #expect(joined.map { $0["label"] } == ["a", "b", "c", "d", "e", "f"], "output order equals input order")
    // a: event == label counts; two rows at 05-03, the later created (09:00) wins.
    #expect(joined[0]["user_stats:purchases"] == "4")
    #expect(joined[0]["user_stats:segment"] == "platinum")
    // b: before the first row: the default, DEFAULTED.
    #expect(joined[1]["user_stats:purchases"] == "0")
    #expect(joined[1]["user_stats:purchases__status"] == "DEFAULTED")
    #expect(joined[1]["user_stats:spend__status"] == "MISSING")
    // c: u2's row at epoch 1714608000 = 2024-05-02T00:00:00Z, spend null in that row.
    #expect(joined[2]["user_stats:purchases"] == "7")
    #expect(joined[2]["user_stats:spend"] == "")
    #expect(joined[2]["user_stats:spend__status"] == "MISSING")
    // d: the late row (05-02) is in history and is the value as of 05-02 12:00.
    #expect(joined[3]["user_stats:purchases"] == "2")
    #expect(joined[3]["user_stats:spend"] == "20.0")
    // e: 17 days after the last row, beyond max age 10d: EXPIRED, default value.
    #expect(joined[4]["user_stats:purchases__status"] == "EXPIRED")
    #expect(joined[4]["user_stats:purchases"] == "0")
    // f: unknown entity.
    #expect(joined[5]["user_stats:segment__status"] == "MISSING")

    r = try strata(["status"], server: s)
    #expect(r.status == 0)
    #expect(r.stdout.contains("5 rows written (1 late)"), "\(r.stdout)")
    #expect(r.stdout.contains("online rows:    2 in memory"), "one per entity written (u1, u2): \(r.stdout)")
    #expect(r.stdout.contains("limits:         10000 rows per write batch, 16 MiB per message"), "the defaults: \(r.stdout)")
    // Started with --port 0 and no --node-id: named by the address it listens on, not "...:0".
    #expect(r.stdout.contains("node:           \(s)  "), "\(r.stdout)")
    #expect(server.terminate() == 0, "SIGTERM shuts the node down gracefully with status 0")
  }

  @Test("bad input exits non-zero with an actionable message and changes nothing")
  func badInput() throws {
    let (dir, server) = try startNode(definitions: Self.definitions)
    defer { dir.cleanup() }
    let s = server.address

    let badYAML = try dir.file("bad.yaml", "groups:\n  - name: Bad-Name\n    features:\n      - name: x\n        dtype: INT\n")
    var r = try strata(["apply", badYAML], server: s)
    #expect(r.status != 0)
    #expect(r.stderr.contains("Bad-Name"), "\(r.stderr)")

    let badRows = try dir.file(
      "bad.csv", "entity_id,event_timestamp,purchases\nu1,2024-05-01T00:00:00Z,1\nu2,2024-05-01T00:00:00Z,1.5\n")
    r = try strata(["ingest", "--group", "user_stats", badRows], server: s)
    #expect(r.status != 0)
    #expect(r.stderr.contains("line 3"), "\(r.stderr)")
    #expect(r.stderr.contains("purchases"), "\(r.stderr)")

    let unknownColumn = try dir.file("unk.csv", "entity_id,event_timestamp,nope\nu1,2024-05-01T00:00:00Z,1\n")
    r = try strata(["ingest", "--group", "user_stats", unknownColumn], server: s)
    #expect(r.status != 0)
    #expect(r.stderr.contains("'nope' is not a feature"), "\(r.stderr)")

    r = try strata(["ingest", "--group", "no_such_group", unknownColumn], server: s)
    #expect(r.stderr.contains("NOT_FOUND"), "\(r.stderr)")

    let future = try dir.file("future.csv", "entity_id,event_timestamp,purchases\nu1,2999-01-01T00:00:00Z,1\n")
    r = try strata(["ingest", "--group", "user_stats", future], server: s)
    #expect(r.stderr.contains("INVALID_ARGUMENT"), "\(r.stderr)")
    #expect(r.stderr.contains("ahead of the server clock"), "\(r.stderr)")

    r = try strata(["get", "--entity", "u1", "--features", "user_stats:nope"], server: s)
    #expect(r.status != 0)
    #expect(r.stderr.contains("NOT_FOUND"), "\(r.stderr)")

    r = try strata(["status"], server: s)
    #expect(r.stdout.contains("0 rows written"), "nothing was written by any rejected input: \(r.stdout)")
  }

  @Test("batches over the row limit and messages over the payload limit are RESOURCE_EXHAUSTED and write nothing")
  func limits() throws {
    let (dir, server) = try startNode(
      extraArgs: ["--max-rows-per-batch", "10", "--max-request-bytes", "262144"], definitions: Self.definitions)
    defer { dir.cleanup() }
    let s = server.address

    var rows = "entity_id,event_timestamp,segment\n"
    for i in 0..<20 { rows += "u\(i),2024-05-01T00:00:00Z,s\(i)\n" }
    let small = try dir.file("small.csv", rows)
    var r = try strata(["ingest", "--group", "user_stats", small, "--batch-size", "20"], server: s)
    #expect(r.status != 0)
    #expect(r.stderr.contains("RESOURCE_EXHAUSTED"), "\(r.stderr)")
    #expect(r.stderr.contains("the limit is 10"), "\(r.stderr)")

    // 10 rows of 60 kB strings: about 600 kB in one message, over the node's 256 kB request limit.
    let big = String(repeating: "x", count: 60_000)
    var bigRows = "entity_id,event_timestamp,segment\n"
    for i in 0..<10 { bigRows += "u\(i),2024-05-01T00:00:00Z,\(big)\n" }
    r = try strata(["ingest", "--group", "user_stats", try dir.file("big.csv", bigRows), "--batch-size", "10"], server: s)
    #expect(r.status != 0)
    #expect(r.stderr.contains("RESOURCE_EXHAUSTED"), "\(r.stderr)")

    r = try strata(["status"], server: s)
    #expect(r.stdout.contains("0 rows written"), "\(r.stdout)")
    r = try strata(["ingest", "--group", "user_stats", small, "--batch-size", "10"], server: s)
    #expect(r.status == 0, "the node still serves after rejecting oversized input: \(r.stderr)")
  }

  @Test("versions: a changed definition is v2, v1 stays readable pinned; deprecate and retire change resolution")
  func versions() throws {
    let (dir, server) = try startNode()
    defer { dir.cleanup() }
    let s = server.address
    let v1 = try dir.file("v1.yaml", "groups:\n  - name: g\n    features:\n      - name: a\n        dtype: INT\n")
    let v2 = try dir.file(
      "v2.yaml", "groups:\n  - name: g\n    features:\n      - name: a\n        dtype: INT\n      - name: b\n        dtype: STRING\n")
    #expect(try strata(["apply", v1], server: s).stdout.contains("g@1\tcreated"))
    let rows = try dir.file("r.csv", "entity_id,event_timestamp,a\nu1,2024-05-01T00:00:00Z,11\n")
    #expect(try strata(["ingest", "--group", "g", rows], server: s).status == 0)
    var r = try strata(["apply", v2], server: s)
    #expect(r.stdout.contains("g@2\tnew version"), "\(r.stdout)")

    // Unpinned reads go to v2 (no data yet); v1 is still readable pinned.
    r = try strata(["get", "--entity", "u1", "--features", "g:a,g@1:a", "--json"], server: s)
    #expect(r.stdout.contains("\"g@2:a\":{\"value\":null,\"status\":\"MISSING\""), "\(r.stdout)")
    #expect(r.stdout.contains("\"g@1:a\":{\"value\":11,\"status\":\"PRESENT\""), "\(r.stdout)")

    // Deprecating v2 makes unpinned references resolve to v1 again.
    #expect(try strata(["set-status", "g@2", "deprecated"], server: s).status == 0)
    r = try strata(["get", "--entity", "u1", "--features", "g:a", "--json"], server: s)
    #expect(r.stdout.contains("\"g@1:a\":{\"value\":11,\"status\":\"PRESENT\""), "\(r.stdout)")

    // Retired versions refuse reads, and the status survives a restart.
    #expect(try strata(["set-status", "g@1", "RETIRED"], server: s).status == 0)
    let status = server.terminate()
    #expect(status == 0, "the node exited with \(status) on SIGTERM; its stderr:\n\(server.stderrText)")
    let restarted = ServerProcess(dataDirectory: dir.path + "/data")
    try restarted.start()
    r = try strata(["get", "--entity", "u1", "--features", "g@1:a"], server: restarted.address)
    #expect(r.status != 0)
    #expect(r.stderr.contains("FAILED_PRECONDITION"), "\(r.stderr)")
    #expect(r.stderr.contains("RETIRED"), "\(r.stderr)")
    r = try strata(["describe", "g"], server: restarted.address)
    #expect(r.stderr.contains("has no ACTIVE version"), "no unpinned version is left: \(r.stderr)")
    r = try strata(["describe", "g@2"], server: restarted.address)
    #expect(r.stdout.contains("versions:     1 (RETIRED), 2 (DEPRECATED)"), "\(r.stdout)")
  }

  @Test("join with a known_at column ignores later corrections; the summary counts statuses per feature")
  func knownAt() throws {
    let (dir, server) = try startNode(definitions: Self.definitions)
    defer { dir.cleanup() }
    let s = server.address
    let rows = try dir.file(
      "rows.csv",
      """
      entity_id,event_timestamp,created_timestamp,purchases
      u1,2024-05-01T00:00:00Z,2024-05-01T01:00:00Z,1
      u1,2024-05-01T00:00:00Z,2024-05-04T00:00:00Z,2
      """)
    #expect(try strata(["ingest", "--group", "user_stats", rows], server: s).status == 0)
    let labels = try dir.file(
      "labels.csv",
      """
      entity_id,label_timestamp,known_at
      u1,2024-05-02T00:00:00Z,2024-05-03T00:00:00Z
      u1,2024-05-02T00:00:00Z,2024-05-04T00:00:00Z
      u1,2024-05-02T00:00:00Z,
      u1,2024-05-02T00:00:00Z,2024-04-01T00:00:00Z
      u2,2024-05-02T00:00:00Z,
      """)
    let r = try strata(["join", "--labels", labels, "--features", "user_stats:purchases", "--with-status"], server: s)
    #expect(r.status == 0, "\(r.stderr)")
    let joined = csvRows(r.stdout)
    #expect(joined.map { $0["user_stats:purchases"] } == ["1", "2", "2", "0", "0"], "\(r.stdout)")
    #expect(joined.map { $0["user_stats:purchases__status"] } == ["PRESENT", "PRESENT", "PRESENT", "DEFAULTED", "DEFAULTED"])
    #expect(r.stderr.contains("joined 5 label rows"), "\(r.stderr)")
    #expect(r.stderr.contains("user_stats:purchases: 3 present, 2 defaulted, 0 missing, 0 expired"), "\(r.stderr)")
  }

  @Test("a second node on the same data directory is refused with a clear error")
  func dataDirectoryLock() throws {
    let dir = try TempDirectory()
    defer { dir.cleanup() }
    let first = ServerProcess(dataDirectory: dir.path + "/data")
    try first.start()
    let second = ServerProcess(dataDirectory: dir.path + "/data")
    #expect(throws: ServerStartError.self) { try second.start() }
    #expect(second.stderrText.lowercased().contains("lock"), "\(second.stderrText)")
  }

  @Test("the CLI says when no node is reachable")
  func unreachable() throws {
    let r = try strata(["groups"], server: "127.0.0.1:1")
    #expect(r.status != 0)
    #expect(r.stderr.contains("cannot reach a strata node at 127.0.0.1:1"), "\(r.stderr)")
  }
}
