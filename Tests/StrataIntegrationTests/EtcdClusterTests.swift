import Foundation
import StrataCore
import StrataTestSupport
import Testing

/// Three real nodes that keep their metadata in a real etcd (`strata serve --etcd`).
@Suite("Cluster with its metadata in etcd", .serialized)
struct EtcdClusterTests {
  static let timeout = 30.0
  static let defs = "groups:\n  - name: g\n    features:\n      - name: n\n        dtype: INT\n"

  static func ok(_ r: TimedResult, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    try #require(!r.timedOut && r.status == 0, "\(what) failed (status \(r.status)): \(r.stderr)", sourceLocation: sourceLocation)
  }

  @Test("three nodes form a cluster in etcd; an apply through any node is served by every node when it returns; a restarted node catches up")
  func formAndApply() async throws {
    try await EtcdProcess.with { etcd in
      let cluster = try LocalCluster(replicationFactor: 3, etcd: etcd.endpoint)
      defer { cluster.shutdown() }
      let dir = cluster.dir
      var r = try strata(["status"], server: cluster.address("n1"), timeout: Self.timeout)
      #expect(r.stdout.contains("replication factor 3"), "\(r.stdout)")
      #expect(clusterTable(r.stdout).keys.sorted() == ["n1", "n2", "n3"], "\(r.stdout)")
      // Atomic for the whole cluster: no waiting between the apply and the reads through other nodes.
      for k in 0..<5 {
        let via = cluster.ids[k % 3]
        let spec = "groups:\n  - name: g\(k)\n    features:\n      - name: n\n        dtype: INT\n"
        try Self.ok(strata(["apply", try dir.file("g\(k).yaml", spec)], server: cluster.address(via), timeout: Self.timeout), "apply g\(k)")
        for id in cluster.ids {
          r = try strata(["groups"], server: cluster.address(id), timeout: Self.timeout)
          #expect(r.stdout.contains("g\(k) "), "g\(k) applied through \(via) is not listed by \(id) right after: \(r.stdout)")
        }
      }
      // A node that was down while the registry changed serves the change when it is back.
      cluster.kill9("n3")
      try Self.ok(strata(["apply", try dir.file("late.yaml", "groups:\n  - name: late\n    features:\n      - name: n\n        dtype: INT\n")], server: cluster.address("n1"), timeout: Self.timeout), "apply late")
      try cluster.restart("n3")
      r = try strata(["groups"], server: cluster.address("n3"), timeout: Self.timeout)
      #expect(r.stdout.contains("late "), "\(r.stdout)")
      // Writes through n3 to the new group reach every replica.
      try Self.ok(
        strata(["ingest", "--group", "late", try dir.file("late.csv", "entity_id,event_timestamp,n\ne1,2024-05-01T00:00:00Z,7\n")],
          server: cluster.address("n3"), timeout: Self.timeout), "ingest")
      r = try strata(["get", "--entity", "e1", "--features", "late:n", "--json"], server: cluster.address("n2"), timeout: Self.timeout)
      #expect(r.stdout.contains("\"value\":7"), "\(r.stdout) \(r.stderr)")
    }
  }

  @Test("with etcd stopped, reads and writes go on with the last known registry; registry changes fail UNAVAILABLE naming etcd; once etcd is back, applies work again")
  func etcdDown() async throws {
    try await EtcdProcess.with { etcd in
      let cluster = try LocalCluster(replicationFactor: 3, etcd: etcd.endpoint)
      defer { cluster.shutdown() }
      let dir = cluster.dir
      try Self.ok(strata(["apply", try dir.file("g.yaml", Self.defs)], server: cluster.address("n1"), timeout: Self.timeout), "apply")
      await etcd.stop()
      let csv = "entity_id,event_timestamp,n\n" + (0..<30).map { "e\($0),2024-05-01T00:00:00Z,\($0)\n" }.joined()
      try Self.ok(strata(["ingest", "--group", "g", try dir.file("d.csv", csv)], server: cluster.address("n2"), timeout: 10), "ingest with etcd down")
      var r = try strata(["get", "--entity", "e3,e29", "--features", "g:n", "--json"], server: cluster.address("n3"), timeout: 10)
      #expect(r.status == 0 && r.stdout.contains("\"value\":29"), "\(r.stdout) \(r.stderr)")
      let h = try dir.file("h.yaml", "groups:\n  - name: h\n    features:\n      - name: n\n        dtype: INT\n")
      r = try strata(["apply", h], server: cluster.address("n2"), timeout: 20)
      #expect(r.status != 0 && r.seconds < 15, "\(r.stderr)")
      #expect(r.stderr.contains("UNAVAILABLE") && r.stderr.contains("etcd"), "\(r.stderr)")
      try await etcd.start()
      var applied = false
      for _ in 0..<100 where !applied {
        r = try strata(["apply", h], server: cluster.address("n2"), timeout: 20)
        applied = r.status == 0
        if !applied { try await Task.sleep(for: .milliseconds(100)) }
      }
      #expect(applied, "\(r.stderr)")
      for id in cluster.ids {
        r = try strata(["groups"], server: cluster.address(id), timeout: Self.timeout)
        #expect(r.stdout.contains("h "), "\(id): \(r.stdout)")
      }
    }
  }

  @Test("a node that is not a member of a formed cluster is refused, naming the members; a member restarted with another address is refused")
  func refusals() async throws {
    try await EtcdProcess.with { etcd in
      let cluster = try LocalCluster(size: 1, replicationFactor: 1, etcd: etcd.endpoint)
      defer { cluster.shutdown() }
      let name = URL(fileURLWithPath: cluster.dir.path).lastPathComponent
      let ports = try freeLoopbackPorts(2)
      var r = try strata(
        ["serve", "--etcd", etcd.endpoint, "--node", "n9", "--address", "127.0.0.1:\(ports[0])", "--cluster-name", name,
         "--data-dir", cluster.dir.path + "/n9"], server: nil, timeout: 20)
      #expect(r.status != 0 && r.stderr.contains("node n9 is not a member of this cluster (epoch 1: n1)"), "\(r.stderr)")
      cluster.stop("n1")
      r = try strata(
        ["serve", "--etcd", etcd.endpoint, "--node", "n1", "--address", "127.0.0.1:\(ports[1])", "--cluster-name", name,
         "--data-dir", cluster.dataDirectory(of: "n1")], server: nil, timeout: 20)
      #expect(r.status != 0 && r.stderr.contains("node n1 is a member of this cluster at \(cluster.address("n1"))"), "\(r.stderr)")
    }
  }

  @Test("background repair: a node restarted empty gets its replicas' rows back from the next background repair, with no command")
  func backgroundRepair() async throws {
    try await EtcdProcess.with { etcd in
      let cluster = try LocalCluster(replicationFactor: 3, etcd: etcd.endpoint, serveArgs: ["--repair-interval", "2"])
      defer { cluster.shutdown() }
      let dir = cluster.dir
      try Self.ok(strata(["apply", try dir.file("g.yaml", Self.defs)], server: cluster.address("n1"), timeout: Self.timeout), "apply")
      let csv = "entity_id,event_timestamp,n\n" + (0..<50).map { "e\($0),2024-05-01T00:00:00Z,\($0)\n" }.joined()
      try Self.ok(
        strata(["ingest", "--group", "g", "--consistency", "ALL", try dir.file("d.csv", csv)], server: cluster.address("n1"), timeout: Self.timeout),
        "ingest")
      // n3 loses its data directory (no hint covers that) and comes back empty.
      cluster.kill9("n3")
      try FileManager.default.removeItem(atPath: cluster.dataDirectory(of: "n3"))
      try cluster.restart("n3")
      // n3 answers ONE lookups from its own copy: all 50 values there means the repair brought them.
      let ids = (0..<50).map { "e\($0)" }.joined(separator: ",")
      var present = 0
      for _ in 0..<300 where present < 50 {
        try await Task.sleep(for: .milliseconds(100))
        let r = try strata(["get", "--entity", ids, "--features", "g:n", "--json"], server: cluster.address("n3"), timeout: Self.timeout)
        present = r.stdout.components(separatedBy: "\"status\":\"PRESENT\"").count - 1
      }
      #expect(present == 50, "n3 answers \(present) of the 50 entities from its own copy 30 s after it came back empty")
    }
  }
}
