import Foundation
import StrataCore
import StrataTestSupport
import Testing

/// The deprecation workflow with the CLI against real processes: one node, and three nodes keeping
/// their registry in a real etcd (one of them killed and restarted in the middle). Each step goes
/// through a different node, and what it changed is checked on every node.
@Suite("Models, training sets and deprecations end to end", .serialized)
struct ModelWorkflowTests {
  static let timeout = 30.0
  static let v1 = "groups:\n  - name: g\n    features:\n      - name: n\n        dtype: INT\n      - name: x\n        dtype: FLOAT\n"
  static let v2 = v1 + "      - name: y\n        dtype: STRING\n"

  /// Runs `strata ARGS` against `server`; requires success and returns stdout + stderr.
  @discardableResult
  static func ok(_ args: [String], _ server: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    let r = try strata(args, server: server, timeout: timeout)
    try #require(!r.timedOut && r.status == 0, "strata \(args.joined(separator: " ")) failed (\(r.status)): \(r.stderr)", sourceLocation: sourceLocation)
    return r.stdout + r.stderr
  }

  /// Runs `strata ARGS` against `server`; requires failure mentioning every one of `mentions`.
  static func refused(_ args: [String], _ server: String, _ mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let r = try strata(args, server: server, timeout: timeout)
    #expect(r.status != 0, "strata \(args.joined(separator: " ")) should have failed: \(r.stdout)", sourceLocation: sourceLocation)
    for m in mentions { #expect(r.stderr.contains(m), "'\(m)' not in: \(r.stderr)", sourceLocation: sourceLocation) }
  }

  /// The workflow; `nodes` are the addresses to go through (one for a single node), `between` runs
  /// after the model's second version is registered (a cluster kills and restarts a node there).
  static func workflow(_ nodes: [String], dir: TempDirectory, between: () throws -> Void = {}) throws {
    func node(_ k: Int) -> String { nodes[k % nodes.count] }
    try ok(["apply", try dir.file("v1.yaml", v1)], node(0))
    let csv = "entity_id,event_timestamp,n,x\n" + (0..<20).map { "e\($0),2024-05-01T00:00:00Z,\($0),\(Double($0) / 4)\n" }.joined()
    try ok(["ingest", "--group", "g", try dir.file("g.csv", csv), "--pipeline", "etl", "--run-id", "r1"], node(1))
    let labelTimes = (0..<20).map { "2024-05-0\(2 + $0 % 5)T00:00:00Z" }
    let labels = try dir.file("labels.csv", "entity_id,label_timestamp\n" + (0..<20).map { "e\($0),\(labelTimes[$0])\n" }.joined())
    var digest = LabelDigest()
    for k in 0..<20 { digest.add(entityID: "e\(k)", time: TimestampFormat.parse(labelTimes[k])!, knownAt: nil) }
    let checksum = digest.summary().checksum

    // A named export saves its manifest; the name cannot be taken twice.
    let join = try ok(["join", "--labels", labels, "--features", "g:*", "--training-set", "ts1", "--by", "ann", "--out", dir.path + "/ts1.csv"], node(2))
    #expect(join.contains("saved training set ts1: 20 label rows, \(checksum), 2 columns on g@1"), "\(join)")
    try refused(["join", "--labels", labels, "--features", "g:n", "--training-set", "ts1"], node(0), ["ALREADY_EXISTS", "training set 'ts1' already exists"])
    for k in nodes.indices {
      let manifest = try ok(["training-sets", "ts1"], node(k))
      #expect(manifest.contains(checksum) && manifest.contains("by ann") && manifest.contains("g@1:x"), "\(node(k)): \(manifest)")
    }

    // A model from the training set, served by name on every node.
    #expect(try ok(["models", "register", "churn", "--training-set", "ts1"], node(1)).contains("churn@1\tregistered"))
    for k in nodes.indices {
      let served = try ok(["get", "--entity", "e7", "--model", "churn@1", "--json"], node(k))
      #expect(served.contains("\"g@1:n\":{\"value\":7"), "\(node(k)): \(served)")
    }

    // v2; v1 deprecated: exports refused naming the model, serving by model goes on, retiring refused.
    try ok(["apply", try dir.file("v2.yaml", v2)], node(2))
    try ok(["set-status", "g@1", "DEPRECATED", "--reason", "v2 adds y"], node(0))
    try refused(
      ["join", "--labels", labels, "--features", "g@1:n"], node(1),
      ["FAILED_PRECONDITION", "g@1 is DEPRECATED (still used by model churn@1)", "export g@2"])
    #expect(try ok(["get", "--entity", "e3", "--model", "churn", "--json"], node(2)).contains("\"g@1:n\":{\"value\":3"))
    try refused(["set-status", "g@1", "RETIRED"], node(0), ["FAILED_PRECONDITION", "model churn@1 still uses it", "strata models archive churn@1"])
    let impact = try ok(["impact", "g@1"], node(1))
    #expect(impact.contains("churn@1  ACTIVE") && impact.contains("ts1") && impact.contains("cannot be retired"), "\(impact)")

    // The model's next version on v2; the old one archived; v1 retired.
    #expect(try ok(["models", "register", "churn", "--features", "g:n,g:x"], node(2)).contains("churn@2\tregistered"))
    try between()
    try ok(["models", "archive", "churn@1", "--reason", "replaced by churn@2", "--by", "bob"], node(0))
    try ok(["set-status", "g@1", "RETIRED", "--reason", "no readers left"], node(1))
    for k in nodes.indices {
      let described = try ok(["describe-model", "churn@1"], node(k))
      #expect(described.contains("churn@1  (ARCHIVED)") && described.contains("by bob  (replaced by churn@2)"), "\(node(k)): \(described)")
      #expect(described.contains("g@1:n") && described.contains("RETIRED"), "\(node(k)): \(described)")
      try refused(["get", "--entity", "e1", "--model", "churn@1"], node(k), ["FAILED_PRECONDITION", "churn@1 is ARCHIVED", "serve churn@2"])
      #expect(try ok(["get", "--entity", "e1", "--model", "churn", "--json"], node(k)).contains("\"g@2:n\""))
      // GetLineage asks every node for its write log: a peer's channel to a node that just restarted
      // may still be in its reconnect backoff for a few seconds (UNAVAILABLE naming that node).
      var answer = try strata(["lineage", "g@1"], server: node(k), timeout: timeout)
      for _ in 0..<50 where answer.status != 0 && answer.stderr.contains("UNAVAILABLE") {
        Thread.sleep(forTimeInterval: 0.2)
        answer = try strata(["lineage", "g@1"], server: node(k), timeout: timeout)
      }
      try #require(answer.status == 0, "\(answer.stderr)")
      let lineage = answer.stdout
      #expect(lineage.contains("churn@1  ARCHIVED") && lineage.contains("ts1") && lineage.contains("etl"), "\(node(k)): \(lineage)")
      let models = try ok(["models"], node(k))
      #expect(models.contains("churn@1  ARCHIVED") && models.contains("churn@2  ACTIVE"), "\(node(k)): \(models)")
    }
  }

  @Test("one node: training set, model, serving by model, deprecation, refused retirement, next version, archive, retirement")
  func singleNode() throws {
    let (dir, server) = try startNode()
    defer {
      server.kill9()
      dir.cleanup()
    }
    try Self.workflow([server.address], dir: dir)
  }

  @Test("three nodes from a cluster file (registry leader n1): the workflow through n2 and n3 first, so every refusal is the leader's, forwarded intact")
  func leaderCluster() throws {
    let cluster = try LocalCluster(replicationFactor: 3)
    defer { cluster.shutdown() }
    try Self.workflow(["n2", "n3", "n1"].map { cluster.address($0) }, dir: cluster.dir)
  }

  @Test("three nodes with their registry in etcd: the same workflow through every node; a node killed meanwhile serves the archived model's state when back")
  func etcdCluster() async throws {
    try await EtcdProcess.with { etcd in
      let cluster = try LocalCluster(replicationFactor: 3, etcd: etcd.endpoint)
      defer { cluster.shutdown() }
      try Self.workflow(cluster.ids.map { cluster.address($0) }, dir: cluster.dir) {
        cluster.kill9("n3")
        // Changes while n3 is down (archive, retire) reach it when it restarts: before the checks.
        try Self.ok(["models", "register", "other", "--features", "g:n"], cluster.address("n1"))
        try cluster.restart("n3")
        #expect(try Self.ok(["models", "other"], cluster.address("n3")).contains("other@1  ACTIVE"))
      }
    }
  }
}
