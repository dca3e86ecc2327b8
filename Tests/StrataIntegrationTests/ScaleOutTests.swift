import Foundation
import StrataCore
import StrataTestSupport
import Testing

/// Membership changes of a running cluster (docs/scale-out.md) on real processes with a real etcd,
/// under continuous writes and reads with an operation ledger (`ScaleOutLoad`).
@Suite("Scale-out: add, remove and replace nodes while serving", .serialized)
struct ScaleOutTests {
  static let timeout = 30.0
  static let defs = "groups:\n  - name: g\n    features:\n      - name: n\n        dtype: INT\n"
  /// Old copies are deleted 1 s after the switch; no background repair to blur what moved.
  static let serveArgs = ["--cleanup-grace", "1", "--repair-interval", "0"]

  static func ok(_ r: TimedResult, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    try #require(!r.timedOut && r.status == 0, "\(what) failed (status \(r.status)): \(r.stderr)", sourceLocation: sourceLocation)
  }

  /// Writes `count` entities e0... (value = index) through n1 and returns the ledger.
  static func seed(_ cluster: LocalCluster, count: Int) throws -> [String: Int] {
    try ok(strata(["apply", try cluster.dir.file("g.yaml", defs)], server: cluster.address("n1"), timeout: timeout), "apply")
    let csv = "entity_id,event_timestamp,n\n" + (0..<count).map { "e\($0),2024-05-01T00:00:00Z,\($0)\n" }.joined()
    try ok(strata(["ingest", "--group", "g", try cluster.dir.file("seed.csv", csv)], server: cluster.address("n1"), timeout: timeout), "seed")
    return Dictionary(uniqueKeysWithValues: (0..<count).map { ("e\($0)", $0) })
  }

  /// Waits until no membership change is in progress and the ring is `members`; returns the last
  /// `strata cluster status` output.
  @discardableResult
  static func waitForChange(_ cluster: LocalCluster, via: String, members: [String], timeout: Double = 180) throws -> String {
    let deadline = Date().addingTimeInterval(timeout)
    var last = ""
    while Date() < deadline {
      let r = try strata(["cluster", "status"], server: cluster.address(via), timeout: 10)
      last = r.stdout + r.stderr
      // The first line: "ring epoch E: n1, n2, ..." (members in the order they joined).
      let ring = r.stdout.split(separator: "\n").first.map { $0.split(separator: ":", maxSplits: 1).last ?? "" } ?? ""
      let now = Set(ring.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
      if r.status == 0, r.stdout.contains("no membership change in progress"), now == Set(members) {
        return last
      }
      usleep(200_000)
    }
    Issue.record("the membership change did not finish within \(timeout) s: \(last)")
    return last
  }

  /// Every entity of `ledger` through every node in `via`: PRESENT with its value.
  static func checkAll(_ cluster: LocalCluster, ledger: [String: Int], via: [String]) throws {
    let load = ScaleOutLoad(cluster: cluster, ledger: ledger, via: via)
    let ids = ledger.keys.sorted()
    for node in via {
      var offset = 0
      while offset < ids.count {
        let chunk = Array(ids[offset..<min(ids.count, offset + 2_000)])
        offset += chunk.count
        let r = try strata(["get", "--entity", chunk.joined(separator: ","), "--features", "g:n", "--json"], server: cluster.address(node), timeout: timeout)
        try ok(r, "get through \(node)")
        load.check(r.stdout, expected: ledger, node: node)
      }
    }
    let problems = load.problems.withLock { $0 }
    #expect(problems.isEmpty, "\(problems.count) problems, first: \(problems.prefix(5))")
  }

  /// The history rows each node should hold for `ledger` (one row per entity) with `members`, RF 3.
  static func expectedRows(_ ledger: [String: Int], members: [String]) throws -> [String: Int] {
    let ring = try HashRing(nodes: members, epoch: 1)
    var rows: [String: Int] = [:]
    for id in ledger.keys { for node in ring.owners(of: id, replicas: 3) { rows[node, default: 0] += 1 } }
    return rows
  }

  /// Polls `strata cluster status` through `via` (every 100 ms, 30 s at most) until the change is
  /// streaming and, with `receiving`, that node's transfer shows rows received. Returns whether it
  /// got there and the last status.
  static func waitForStreaming(_ cluster: LocalCluster, via: String, receiving node: String? = nil) throws -> (Bool, String) {
    var status = ""
    for _ in 0..<300 {
      status = try strata(["cluster", "status"], server: cluster.address(via), timeout: 10).stdout
      let line = node.map { n in status.split(separator: "\n").first { $0.hasPrefix("  \(n): ") } ?? "" }
      if status.contains("phase streaming"), line.map({ !$0.isEmpty && !$0.contains(" 0 rows,") }) ?? true { return (true, status) }
      usleep(100_000)
    }
    return (false, status)
  }

  /// The node driving the change in a `strata cluster status` output ("" for none).
  static func driver(in status: String) -> String {
    status.components(separatedBy: "driven by ").dropFirst().first.map { String($0.prefix { $0 != "\n" && $0 != "," }) } ?? ""
  }

  @Test(
    "growing 3 -> 4 nodes (--join) and shrinking back (remove-node) under writes and reads: no entity is ever MISSING, every acknowledged row is readable with its value, and afterwards each node holds exactly the rows of the ranges it owns"
  )
  func growAndShrink() async throws {
    try await EtcdProcess.with { etcd in
      let cluster = try LocalCluster(replicationFactor: 3, etcd: etcd.endpoint, serveArgs: Self.serveArgs)
      defer { cluster.shutdown() }
      let seeded = try Self.seed(cluster, count: 3_000)
      let load = ScaleOutLoad(cluster: cluster, ledger: seeded, via: ["n1", "n2", "n3"])
      load.start()
      usleep(500_000)
      try cluster.startNewNode("n4", join: true)
      load.via.withLock { $0.append("n4") }
      let status = try Self.waitForChange(cluster, via: "n2", members: ["n1", "n2", "n3", "n4"])
      usleep(500_000)
      load.stop()
      let problems = load.problems.withLock { $0 }
      #expect(problems.isEmpty, "\(problems.count) problems during the change, first: \(problems.prefix(5))\n\(cluster.log("n4").suffix(3000))")
      let failed = load.failedWrites.withLock { $0 }
      #expect(failed.isEmpty, "\(failed.count) of \(load.writeBatches.withLock { $0 }) write batches failed during the change: \(failed.prefix(3))")
      #expect(load.readRounds.withLock { $0 } >= 3, "the readers read the whole ledger only \(load.readRounds.withLock { $0 }) times: \(status)")
      let ledger = load.ledger.withLock { $0 }
      try Self.checkAll(cluster, ledger: ledger, via: ["n1", "n2", "n3", "n4"])
      // After the cleanup, each node holds the rows of its ranges, no more and no less.
      let expected = try Self.expectedRows(ledger, members: ["n1", "n2", "n3", "n4"])
      let table = clusterTable(try strata(["status"], server: cluster.address("n1"), timeout: Self.timeout).stdout)
      for node in ["n1", "n2", "n3", "n4"] {
        #expect(table[node]?.rows == expected[node], "\(node) holds \(table[node]?.rows ?? -1) rows, its ranges \(expected[node] ?? -1)")
      }
      // About a quarter of the replicas moved, all of it to n4: 3/4 of the entities.
      let share = Double(expected["n4"] ?? 0) / Double(ledger.count)
      #expect((0.65...0.85).contains(share), "n4 holds \(share) of the entities")
      // The replicas agree: a repair finds nothing to move.
      let repair = try strata(["repair"], server: cluster.address("n1"), timeout: 120)
      try Self.ok(repair, "repair")
      #expect(repair.stdout.contains(" 0 rows received, 0 rows sent"), "\(repair.stdout)")

      // Shrink back: n4's ranges stream to the nodes that own them without it; n4 stops by itself.
      let shrink = ScaleOutLoad(cluster: cluster, ledger: ledger, via: ["n1", "n2", "n3"], prefix: "s")
      shrink.start()
      try Self.ok(strata(["cluster", "remove-node", "n4"], server: cluster.address("n1"), timeout: Self.timeout), "remove-node")
      try Self.waitForChange(cluster, via: "n1", members: ["n1", "n2", "n3"])
      shrink.stop()
      let shrinkProblems = shrink.problems.withLock { $0 }
      #expect(shrinkProblems.isEmpty, "\(shrinkProblems.count) problems while removing n4, first: \(shrinkProblems.prefix(5))")
      #expect(shrink.failedWrites.withLock { $0 }.isEmpty, "\(shrink.failedWrites.withLock { $0 }.prefix(3))")
      var stopped = false
      for _ in 0..<100 where !stopped {
        stopped = !cluster.isRunning("n4")
        if !stopped { usleep(100_000) }
      }
      #expect(stopped, "n4 still runs after it was removed")
      cluster.forget("n4")
      let final = shrink.ledger.withLock { $0 }
      try Self.checkAll(cluster, ledger: final, via: ["n1", "n2", "n3"])
      let after = clusterTable(try strata(["status"], server: cluster.address("n2"), timeout: Self.timeout).stdout)
      #expect(after.keys.sorted() == ["n1", "n2", "n3"], "\(after.keys.sorted())")
      for node in ["n1", "n2", "n3"] {
        #expect(after[node]?.rows == final.count, "\(node) holds \(after[node]?.rows ?? -1) rows of \(final.count)")
      }
    }
  }

  @Test(
    "replacing a dead node (kill -9 n3, replace-node n3 --with n5): n5 receives n3's ranges from the surviving replicas while writes and reads go on; nothing acknowledged is lost"
  )
  func replaceDeadNode() async throws {
    try await EtcdProcess.with { etcd in
      let cluster = try LocalCluster(replicationFactor: 3, etcd: etcd.endpoint, serveArgs: Self.serveArgs)
      defer { cluster.shutdown() }
      let seeded = try Self.seed(cluster, count: 2_000)
      cluster.kill9("n3")
      let load = ScaleOutLoad(cluster: cluster, ledger: seeded, via: ["n1", "n2"])
      load.start()
      try cluster.reservePorts("n5")
      var r = try strata(
        ["cluster", "replace-node", "n3", "--with", "n5", "--address", cluster.address("n5"), "--internode-port", String(cluster.internodePort("n5"))],
        server: cluster.address("n1"), timeout: Self.timeout)
      try Self.ok(r, "replace-node")
      #expect(r.stdout.contains("change: replace n3 with n5"), "\(r.stdout)")
      // A second change is refused while this one runs.
      r = try strata(["cluster", "remove-node", "n2"], server: cluster.address("n2"), timeout: Self.timeout)
      #expect(r.status != 0 && r.stderr.contains("FAILED_PRECONDITION") && r.stderr.contains("replace n3 with n5"), "\(r.stderr)")
      try cluster.startNewNode("n5", join: false)
      try Self.waitForChange(cluster, via: "n1", members: ["n1", "n2", "n5"])
      load.stop()
      let problems = load.problems.withLock { $0 }
      #expect(problems.isEmpty, "\(problems.count) problems during the change, first: \(problems.prefix(5))")
      #expect(load.failedWrites.withLock { $0 }.isEmpty, "\(load.failedWrites.withLock { $0 }.prefix(3))")
      cluster.forget("n3")
      let ledger = load.ledger.withLock { $0 }
      try Self.checkAll(cluster, ledger: ledger, via: ["n1", "n2", "n5"])
      let table = clusterTable(try strata(["status"], server: cluster.address("n5"), timeout: Self.timeout).stdout)
      #expect(table.keys.sorted() == ["n1", "n2", "n5"], "\(table.keys.sorted())")
      #expect(table["n5"]?.rows == ledger.count, "n5 holds \(table["n5"]?.rows ?? -1) rows of \(ledger.count)")
      let repair = try strata(["repair"], server: cluster.address("n5"), timeout: 120)
      try Self.ok(repair, "repair")
      #expect(repair.stdout.contains(" 0 rows received, 0 rows sent"), "\(repair.stdout)")
    }
  }

  @Test(
    "kill -9 of the joining node in the middle of its transfer, of the node driving the change, then of a source: the change resumes (the node restarts and picks up where it stopped; another node takes over driving; the source is retried) and nothing is lost"
  )
  func killsDuringTransfer() async throws {
    try await EtcdProcess.with { etcd in
      // Slow transfers (about 5 kB/s) so that the kills land in the middle of one.
      let cluster = try LocalCluster(replicationFactor: 3, etcd: etcd.endpoint, serveArgs: Self.serveArgs + ["--stream-mb-per-s", "0.005"])
      defer { cluster.shutdown() }
      let ledger = try Self.seed(cluster, count: 6_000)
      try cluster.startNewNode("n4", join: true)
      // Wait until n4 received some rows, then kill it.
      let (streaming, status) = try Self.waitForStreaming(cluster, via: "n1", receiving: "n4")
      try #require(streaming, "n4 never streamed: \(status)")
      cluster.kill9("n4")
      // The driver (whoever it is; not n4 while n4 was killed) dies too.
      let driver = Self.driver(in: status)
      if !driver.isEmpty, driver != "n4", cluster.isRunning(driver) { cluster.kill9(driver) }
      usleep(500_000)
      if !driver.isEmpty, driver != "n4" { try cluster.restart(driver) }
      try cluster.startNewNode("n4", join: false)
      // n4 resumes; then one of its sources (not the driver) dies for a moment.
      let (again, resumed) = try Self.waitForStreaming(cluster, via: "n4", receiving: "n4")
      #expect(again, "n4 did not resume its transfer: \(resumed)")
      let nowDriving = Self.driver(in: resumed)
      if again, let source = ["n1", "n2", "n3"].first(where: { $0 != nowDriving && $0 != driver }) {
        cluster.kill9(source)
        usleep(1_500_000)
        try cluster.restart(source)
      }
      let via = ["n1", "n2", "n3"].first { $0 != driver } ?? "n1"
      try Self.waitForChange(cluster, via: via, members: ["n1", "n2", "n3", "n4"], timeout: 300)
      try Self.checkAll(cluster, ledger: ledger, via: ["n1", "n2", "n3", "n4"])
      let repair = try strata(["repair"], server: cluster.address("n4"), timeout: 120)
      try Self.ok(repair, "repair")
      #expect(repair.stdout.contains(" 0 rows received, 0 rows sent"), "\(repair.stdout)")
    }
  }

  @Test(
    "a single node's data directory becomes the first node of a cluster with its groups and rows, and a second node joins: every entity is readable through both"
  )
  func singleNodeBecomesCluster() async throws {
    try await EtcdProcess.with { etcd in
      let (dir, single) = try startNode(definitions: Self.defs)
      defer { dir.cleanup() }
      let csv = "entity_id,event_timestamp,n\n" + (0..<500).map { "e\($0),2024-05-01T00:00:00Z,\($0)\n" }.joined()
      try Self.ok(strata(["ingest", "--group", "g", try dir.file("seed.csv", csv)], server: single.address, timeout: Self.timeout), "ingest")
      #expect(single.terminate() == 0)
      let ports = try freeLoopbackPorts(4)
      let cluster = ["--etcd", etcd.endpoint, "--cluster-name", "single", "--cleanup-grace", "1", "--repair-interval", "0"]
      let n1 = ServerProcess(
        dataDirectory: dir.path + "/data",
        extraArgs: ["--node", "n1", "--address", "127.0.0.1:\(ports[0])", "--internode-port", String(ports[1])] + cluster)
      try n1.start()
      defer { _ = n1.terminate() }
      let ledger = Dictionary(uniqueKeysWithValues: (0..<500).map { ("e\($0)", $0) })
      var problems: [String] = []
      var r = try strata(["get", "--entity", ledger.keys.sorted().joined(separator: ","), "--features", "g:n", "--json"], server: n1.address, timeout: Self.timeout)
      try Self.ok(r, "get through n1")
      problems += ScaleOutLoad.problems(in: r.stdout, expected: ledger, node: "n1")
      let n2 = ServerProcess(
        dataDirectory: dir.path + "/data2",
        extraArgs: ["--node", "n2", "--address", "127.0.0.1:\(ports[2])", "--internode-port", String(ports[3]), "--join"] + cluster)
      try n2.start()
      defer { _ = n2.terminate() }
      var done = false
      for _ in 0..<600 where !done {
        r = try strata(["cluster", "status"], server: n1.address, timeout: 10)
        done = r.stdout.contains("no membership change in progress") && r.stdout.contains("n2")
        if !done { usleep(100_000) }
      }
      #expect(done, "\(r.stdout)")
      for (name, node) in [("n1", n1), ("n2", n2)] {
        r = try strata(["get", "--entity", ledger.keys.sorted().joined(separator: ","), "--features", "g:n", "--json"], server: node.address, timeout: Self.timeout)
        try Self.ok(r, "get through \(name)")
        problems += ScaleOutLoad.problems(in: r.stdout, expected: ledger, node: name)
      }
      #expect(problems.isEmpty, "\(problems.count) problems, first: \(problems.prefix(5))")
      // Replication factor 1 stays: each entity on one of the two nodes.
      let table = clusterTable(try strata(["status"], server: n2.address, timeout: Self.timeout).stdout)
      #expect((table["n1"]?.rows ?? 0) + (table["n2"]?.rows ?? 0) == 500, "\(table)")
      #expect((table["n2"]?.rows ?? 0) > 100, "\(table)")
    }
  }

  @Test(
    "abort while n4 receives its ranges: the cluster stays on its old ring (epoch 1), n4 stops by itself, every entity stays readable; abort with nothing in progress is FAILED_PRECONDITION"
  )
  func abortWhileStreaming() async throws {
    try await EtcdProcess.with { etcd in
      let cluster = try LocalCluster(replicationFactor: 3, etcd: etcd.endpoint, serveArgs: Self.serveArgs + ["--stream-mb-per-s", "0.005"])
      defer { cluster.shutdown() }
      let ledger = try Self.seed(cluster, count: 6_000)
      try cluster.startNewNode("n4", join: true)
      let (streaming, status) = try Self.waitForStreaming(cluster, via: "n1")
      try #require(streaming, "\(status)")
      try Self.ok(strata(["cluster", "abort"], server: cluster.address("n2"), timeout: Self.timeout), "abort")
      let after = try Self.waitForChange(cluster, via: "n3", members: ["n1", "n2", "n3"])
      #expect(after.hasPrefix("ring epoch 1:"), "\(after)")
      var stopped = false
      for _ in 0..<100 where !stopped {
        stopped = !cluster.isRunning("n4")
        if !stopped { usleep(100_000) }
      }
      #expect(stopped, "n4 still runs after the change that added it was aborted")
      cluster.forget("n4")
      try Self.checkAll(cluster, ledger: ledger, via: ["n1", "n2", "n3"])
      let r = try strata(["cluster", "abort"], server: cluster.address("n1"), timeout: Self.timeout)
      #expect(r.status != 0 && r.stderr.contains("FAILED_PRECONDITION") && r.stderr.contains("nothing to abort"), "\(r.stderr)")
    }
  }
}
