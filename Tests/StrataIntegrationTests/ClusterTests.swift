import Foundation
import StrataCore
import Testing

/// The data the cluster tests write: two groups, 300 entities with several rows each (corrections with a
/// later created time written first, exact ties decided by write order, late rows in a later batch,
/// nulls, rows without created time), and labels that exercise every point-in-time rule.
enum ClusterData {
  static let definitions = """
    groups:
      - name: user_stats
        owner: tests
        features:
          - name: purchases
            dtype: INT
            default: 0
          - name: spend
            dtype: FLOAT
          - name: segment
            dtype: STRING
      - name: user_vec
        max_age: 5d
        features:
          - name: taste
            dtype: EMBEDDING(2)
    """

  static let entityCount = 300
  static let day: Int64 = 86_400
  /// 2024-03-01T00:00:00Z.
  static let base: Int64 = 1_709_251_200
  static let batchSize = 128

  struct Row {
    var entity: String
    var event: Int64
    var created: Int64?
    var purchases: Int
    var spend: String
    var segment: String
  }

  static func event(_ i: Int, _ j: Int) -> Int64 { base + Int64(j * 2 + i % 3) * day + Int64(i % 24) * 3_600 }

  /// `user_stats` rows in file order.
  static let statsRows: [Row] = {
    var rounds: [[Row]] = Array(repeating: [], count: 7)
    for i in 0..<entityCount {
      let id = "u\(i)"
      let count = 2 + i % 4
      for j in 0..<count {
        let e = event(i, j)
        // Rows 0 of correction entities always carry a created time, so the correction's later one wins.
        let noCreated = (i + j) % 4 == 0 && !(j == 0 && i % 5 == 0)
        let row = Row(
          entity: id, event: e, created: noCreated ? nil : e + 3_600 + Int64(j) * 60, purchases: i * 10 + j,
          spend: (i + j) % 6 == 0 ? "" : "\(Double(i) + Double(j) * 0.25)",
          segment: (i + j) % 7 == 0 ? "" : ["gold", "silver", "bronze"][(i + j) % 3])
        if j == 0 && i % 5 == 0 {
          // A correction of row 0 (created 2 h after its event, the original 1 h), written before it.
          var correction = row
          correction.created = e + 7_200
          correction.purchases = 9_000 + i
          correction.segment = "corrected"
          rounds[j].append(correction)
        }
        rounds[j].append(row)
        if j == count - 1 && i % 7 == 0 {
          // An exact tie with the last row (same event and created time): the one written last wins.
          var tie = row
          tie.purchases = 7_000 + i
          tie.segment = "tie"
          rounds[j].append(tie)
        }
      }
      if i % 3 == 0 {
        // A late row: before every other row of the entity, written last (in a later batch).
        rounds[6].append(
          Row(entity: id, event: base - 10 * day, created: base, purchases: -i, spend: "0.5", segment: "late"))
      }
    }
    return rounds.flatMap { $0 }
  }()

  static let lateRows = (0..<entityCount).filter { $0 % 3 == 0 }.count

  static var statsCSV: String {
    var text = "entity_id,event_timestamp,created_timestamp,purchases,spend,segment\n"
    for r in statsRows {
      text += "\(r.entity),\(r.event),\(r.created.map(String.init) ?? ""),\(r.purchases),\(r.spend),\(r.segment)\n"
    }
    return text
  }

  /// `user_vec` rows (even entities only; odd ones have no row at all).
  static var vecCSV: String {
    var text = "entity_id,event_timestamp,taste\n"
    for i in stride(from: 0, to: entityCount, by: 2) {
      text += "u\(i),\(base + Int64(i % 10) * day),\"[\(Double(i) / 8), -1.5]\"\n"
      text += "u\(i),\(base + 20 * day),\"[\(Double(i) / 4), 2.25]\"\n"
    }
    return text
  }

  static var vecRowCount: Int { (entityCount + 1) / 2 * 2 }

  /// The online value of `user_stats:purchases` per entity by brute force: the greatest
  /// (event, created, file position), a missing created time counting as later than any given one.
  static var expectedOnlinePurchases: [String: Int] {
    var best: [String: (Int64, Int64, Int, Int)] = [:]
    for (k, r) in statsRows.enumerated() {
      let key = (r.event, r.created ?? .max, k, r.purchases)
      if let b = best[r.entity], (b.0, b.1, b.2) > (key.0, key.1, key.2) { continue }
      best[r.entity] = key
    }
    return best.mapValues(\.3)
  }

  /// Labels: pass-through columns before and after the keys, every entity at a time inside its history,
  /// labels before any row, at an exact event time, absent entities, exact duplicates, and a known_at on
  /// some rows (empty on others).
  static var labelsCSV: String {
    var lines: [String] = []
    for i in 0..<entityCount {
      let id = "u\(i)"
      let known: String
      switch i % 4 {
      case 1: known = "\(event(i, 0) + 5_400)"  // between the original's (1 h) and a correction's (2 h) created time
      case 2: known = "946684800"  // 2000-01-01: nothing was known yet
      default: known = ""
      }
      lines.append("L\(i)a,\(id),\(base + Int64(i % 30) * day + 43_200),\(known),\(i % 2 == 0 ? "1.5" : "")")
      lines.append("L\(i)b,\(id),\(event(i, 0)),\(known),w")  // exactly at row 0's event time
      if i % 10 == 0 { lines.append("L\(i)c,\(id),\(base - 30 * day),,") }  // before every row
      if i % 9 == 0 { lines.append(lines[lines.count - 2]) }  // an exact duplicate
    }
    for k in 0..<20 { lines.insert("X\(k),absent\(k),\(base + Int64(k) * day),,", at: k * 31) }
    return "label,entity_id,label_timestamp,known_at,weight\n" + lines.joined(separator: "\n") + "\n"
  }

  static var labelCount: Int { labelsCSV.split(separator: "\n").count - 1 }

  static let allFeatures = "user_stats:*,user_vec:*"
}

/// Real multi-process clusters on loopback, driven through the CLI; answers are compared with a single
/// node given the same definitions and data.
@Suite("Cluster of real nodes on loopback", .serialized)
struct ClusterTests {
  /// Generous bound for one CLI call (the debug binary); the failure tests use tighter ones.
  static let timeout = 20.0

  /// Fails the test (not just an expectation) when a setup command did not succeed.
  @discardableResult
  static func ok(_ r: TimedResult, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> TimedResult {
    try #require(!r.timedOut && r.status == 0, "\(what) failed (status \(r.status)): \(r.stderr)", sourceLocation: sourceLocation)
    return r
  }

  /// Applies the definitions and ingests both groups through `server`; returns the ingest outputs.
  static func load(_ dir: TempDirectory, server: String) throws -> (stats: String, vec: String) {
    try ok(strata(["apply", try dir.file("defs.yaml", ClusterData.definitions)], server: server, timeout: timeout), "apply")
    return try ingestData(dir, server: server)
  }

  static func ingestData(_ dir: TempDirectory, server: String) throws -> (stats: String, vec: String) {
    let stats = try ok(
      strata(
        ["ingest", "--group", "user_stats", try dir.file("stats.csv", ClusterData.statsCSV), "--batch-size", "\(ClusterData.batchSize)"],
        server: server, timeout: timeout), "ingest user_stats")
    let vec = try ok(
      strata(["ingest", "--group", "user_vec", try dir.file("vec.csv", ClusterData.vecCSV)], server: server, timeout: timeout),
      "ingest user_vec")
    return (stats.stdout, vec.stdout)
  }

  /// "ingested N rows into G in B batches, 0.12s (...), L late rows" without the timing.
  static func ingestSummary(_ stdout: String) -> String {
    guard let comma = stdout.range(of: ", "), let late = stdout.range(of: "rows/s), ") else { return stdout }
    return String(stdout[..<comma.lowerBound]) + " / " + String(stdout[late.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines)
  }

  // MARK: - a. registry, writes, online reads and status across nodes

  @Test("apply through n2 reaches every node; ingest through n1 and get through n3 equal a single node; status shows the ring")
  func applyIngestGetStatus() throws {
    let cluster = try LocalCluster()
    defer { cluster.shutdown() }
    let (single, singleServer) = try startNode()
    defer { single.cleanup() }
    let dir = cluster.dir

    // Registry through a non-leader.
    let applied = try Self.ok(
      strata(["apply", try dir.file("defs.yaml", ClusterData.definitions)], server: cluster.address("n2"), timeout: Self.timeout),
      "apply through n2")
    #expect(applied.stdout.contains("user_stats@1\tcreated"), "\(applied.stdout)")
    #expect(applied.stdout.contains("user_vec@1\tcreated"), "\(applied.stdout)")
    var listings: [String: String] = [:]
    for id in cluster.ids {
      let r = try strata(["groups"], server: cluster.address(id), timeout: Self.timeout)
      #expect(r.status == 0, "groups through \(id): \(r.stderr)")
      #expect(r.stdout.contains("user_stats  1"), "groups through \(id):\n\(r.stdout)")
      #expect(r.stdout.contains("user_vec    1"), "groups through \(id):\n\(r.stdout)")
      listings[id] = r.stdout
    }
    #expect(Set(listings.values).count == 1, "every node lists the same registry: \(listings)")

    // Writes through n1, the same files into a single node.
    let clusterIngest = try Self.ingestData(dir, server: cluster.address("n1"))
    try Self.ok(
      strata(["apply", try single.file("defs.yaml", ClusterData.definitions)], server: singleServer.address, timeout: Self.timeout),
      "apply on the single node")
    let singleIngest = try Self.ingestData(dir, server: singleServer.address)
    let statsRows = ClusterData.statsRows.count
    #expect(clusterIngest.stats.hasPrefix("ingested \(statsRows) rows into user_stats in \(Int((Double(statsRows) / Double(ClusterData.batchSize)).rounded(.up))) batches"), "\(clusterIngest.stats)")
    #expect(clusterIngest.stats.contains(", \(ClusterData.lateRows) late rows"), "\(clusterIngest.stats)")
    #expect(Self.ingestSummary(clusterIngest.stats) == Self.ingestSummary(singleIngest.stats))
    #expect(Self.ingestSummary(clusterIngest.vec) == Self.ingestSummary(singleIngest.vec))

    // n3's lookup lanes are connected once a lookup of another node's entity goes on a lane (they
    // connect within about a second of the peers starting; until then lookups use gRPC).
    let probe = ["get", "--entity", "u1,u2,u3,u4,u5,u6", "--features", "user_stats:purchases"]
    let connectedBy = Date().addingTimeInterval(15)
    while try Self.internodeLookups(cluster, "n3").lanes == 0 && Date() < connectedBy {
      try Self.ok(strata(probe, server: cluster.address("n3"), timeout: Self.timeout), "probe lookup through n3")
      Thread.sleep(forTimeInterval: 0.1)
    }
    let before = try Self.internodeLookups(cluster, "n3")
    #expect(before.lanes > 0, "n3's lookups never went on a lookup lane")

    // Online reads through n3 (entities of all three owners, absent ones, a repeated one) equal the single node's.
    let ids = (0..<ClusterData.entityCount).map { "u\($0)" } + ["absent1", "u7", "absent2"]
    #expect(Set(ids.map(cluster.owner(of:))) == Set(cluster.ids), "the entities span every node")
    let args = ["get", "--entity", ids.joined(separator: ","), "--features", ClusterData.allFeatures, "--json"]
    let got = try Self.ok(strata(args, server: cluster.address("n3"), timeout: Self.timeout), "get through n3")
    let expected = try Self.ok(strata(args, server: singleServer.address, timeout: Self.timeout), "get on the single node")
    let gotLines = got.stdout.split(separator: "\n")
    let expectedLines = expected.stdout.split(separator: "\n")
    #expect(gotLines.count == ids.count)
    #expect(gotLines.count == expectedLines.count)
    var differing: [String] = []
    for (k, (a, b)) in zip(gotLines, expectedLines).enumerated() where a != b { differing.append("\(ids[k]):\n  cluster \(a)\n  single  \(b)") }
    #expect(differing.isEmpty, "\(differing.count) entities differ from the single node, first: \(differing.prefix(3).joined(separator: "\n"))")
    // And both equal the brute-force winner (corrections, ties, late rows), not only each other.
    let oracle = ClusterData.expectedOnlinePurchases
    var wrong: [String] = []
    for (k, line) in gotLines.enumerated() {
      let id = ids[k]
      let want = oracle[id].map { "\"user_stats@1:purchases\":{\"value\":\($0),\"status\":\"PRESENT\"" }
        ?? "\"user_stats@1:purchases\":{\"value\":0,\"status\":\"DEFAULTED\""
      if !line.contains(want) { wrong.append("\(id): want \(want) in \(line)") }
    }
    #expect(wrong.isEmpty, "\(wrong.count) wrong values, first: \(wrong.prefix(3))")
    #expect(gotLines[7].contains("\"value\":7007"), "u7's tie written last wins: \(gotLines[7])")
    // That lookup went to the two other owners on their lanes, one lookup each, none over gRPC.
    let after = try Self.internodeLookups(cluster, "n3")
    #expect(after.lanes == before.lanes + 2 && after.grpc == before.grpc, "before \(before), after \(after)")
    for id in ["n1", "n2"] { #expect(try Self.internodeLookups(cluster, id).answered > 0, "\(id) answered no lane lookup") }

    // Status through every node: three nodes, all answering, shares ~100%, rows where the ring puts them.
    var rowsPerNode: [String: Int] = [:]
    for r in ClusterData.statsRows { rowsPerNode[cluster.owner(of: r.entity), default: 0] += 1 }
    for i in stride(from: 0, to: ClusterData.entityCount, by: 2) { rowsPerNode[cluster.owner(of: "u\(i)"), default: 0] += 2 }
    for id in cluster.ids {
      let r = try strata(["status"], server: cluster.address(id), timeout: Self.timeout)
      #expect(r.status == 0, "status through \(id): \(r.stderr)")
      #expect(r.stdout.contains("node:           \(id)"), "\(r.stdout)")
      #expect(r.stdout.contains("cluster (ring epoch 1, replication factor 1;"), "\(r.stdout)")
      let table = clusterTable(r.stdout)
      #expect(table.keys.sorted() == cluster.ids, "status through \(id):\n\(r.stdout)")
      let shares = table.values.map(\.share)
      #expect(abs(shares.reduce(0, +) - 100) <= 0.2, "shares \(shares) sum to about 100%")
      #expect(shares.allSatisfy { $0 > 20 && $0 < 46 }, "each share near a third: \(shares)")
      for n in cluster.ids {
        #expect(table[n]?.address == cluster.address(n), "status through \(id):\n\(r.stdout)")
        #expect(table[n]?.answers == "yes", "status through \(id):\n\(r.stdout)")
        #expect(table[n]?.rows == rowsPerNode[n], "\(n) holds exactly the rows the ring gives it; status through \(id):\n\(r.stdout)")
        #expect((table[n]?.rows ?? 0) > 0)
        #expect(abs((table[n]?.share ?? 0) - cluster.ring.share(of: n) * 100) <= 0.051)
      }
      #expect(table.values.compactMap(\.rows).reduce(0, +) == statsRows + ClusterData.vecRowCount)
    }
  }

  /// The "internode:" line of `strata status` through `id`: lookups sent on lanes and over gRPC, and
  /// lookups answered on the node's own lane.
  static func internodeLookups(_ cluster: LocalCluster, _ id: String) throws -> (lanes: Int, grpc: Int, answered: Int) {
    let r = try Self.ok(strata(["status"], server: cluster.address(id), timeout: Self.timeout), "status through \(id)")
    guard let line = r.stdout.split(separator: "\n").first(where: { $0.hasPrefix("internode:") }) else {
      Issue.record("no internode line in status:\n\(r.stdout)")
      return (0, 0, 0)
    }
    let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
    guard numbers.count == 3 else {
      Issue.record("unexpected internode line: \(line)")
      return (0, 0, 0)
    }
    return (numbers[0], numbers[1], numbers[2])
  }

  // MARK: - b. point-in-time export

  @Test("join through each node equals the single-node export byte for byte (with status, with 7-label chunks)")
  func exportEqualsSingleNode() throws {
    let cluster = try LocalCluster()
    defer { cluster.shutdown() }
    let (single, singleServer) = try startNode()
    defer { single.cleanup() }
    let dir = cluster.dir
    _ = try Self.load(dir, server: cluster.address("n2"))
    _ = try Self.load(single, server: singleServer.address)
    let labels = try dir.file("labels.csv", ClusterData.labelsCSV)

    func join(_ server: String, _ name: String, _ extra: [String]) throws -> (csv: String, summary: String) {
      let out = dir.path + "/\(name).csv"
      let r = try Self.ok(
        strata(["join", "--labels", labels, "--features", ClusterData.allFeatures, "--out", out] + extra, server: server, timeout: Self.timeout),
        "join \(name)")
      // The summary without its timing line.
      let summary = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("joined ") }.joined(separator: "\n")
      return (try String(contentsOfFile: out, encoding: .utf8), summary)
    }

    for (variant, extra) in [("plain", [String]()), ("status", ["--with-status"]), ("status-chunk7", ["--with-status", "--chunk-size", "7"])] {
      let expected = try join(singleServer.address, "single-\(variant)", extra)
      let rows = Self.quotedCSVRows(expected.csv)
      #expect(rows.count == ClusterData.labelCount)
      if variant != "plain" {
        // The data really exercises every status (so equality is not between two empty answers).
        let statuses = Set(rows.flatMap { [$0["user_stats:purchases__status"], $0["user_vec:taste__status"]] }.compactMap { $0 })
        #expect(statuses == ["PRESENT", "DEFAULTED", "MISSING", "EXPIRED"], "\(statuses)")
        #expect(Set(rows.compactMap { $0["user_stats:segment__status"] }) == ["PRESENT", "MISSING"])
      }
      for id in cluster.ids {
        let got = try join(cluster.address(id), "\(id)-\(variant)", extra)
        #expect(got.csv == expected.csv, "join through \(id) (\(variant)) differs from the single node: \(Self.firstDifference(got.csv, expected.csv))")
        #expect(got.summary == expected.summary, "join through \(id) (\(variant)): \(got.summary) vs \(expected.summary)")
      }
    }

    // Spot checks against the semantics, in the cluster's own output.
    let rows = Self.quotedCSVRows(try String(contentsOfFile: dir.path + "/n1-status-chunk7.csv", encoding: .utf8))
    let byLabel = Dictionary(rows.map { ($0["label"]!, $0) }, uniquingKeysWith: { a, _ in a })
    #expect(rows.map { $0["label"]! } == csvRows(ClusterData.labelsCSV).map { $0["label"]! }, "input order, duplicates kept")
    #expect(byLabel["L0b"]?["user_stats:purchases"] == "9000", "a correction with a later created time wins at row 0's event")
    #expect(byLabel["L5b"]?["user_stats:purchases"] == "50", "known_at before the correction was created: the original")
    #expect(byLabel["L2b"]?["user_stats:purchases__status"] == "DEFAULTED", "known_at 2000: nothing known")
    #expect(byLabel["L10c"]?["user_stats:purchases__status"] == "DEFAULTED", "a label before every row")
    #expect(byLabel["X3"]?["user_stats:segment__status"] == "MISSING", "an absent entity")
    #expect(byLabel["L4a"]?["weight"] == "1.5", "pass-through columns are kept")
    #expect(byLabel["L4a"]?["user_vec:taste"] == "[0.5,-1.5]", "u4's first embedding, half a day old: \(byLabel["L4a"] ?? [:])")
    #expect(byLabel["L4a"]?["user_vec:taste__status"] == "PRESENT")
    #expect(byLabel["L12a"]?["user_vec:taste__status"] == "EXPIRED", "u12's last row is 10.5 days old at L12a, max age 5d")
    #expect(byLabel["L1a"]?["user_vec:taste__status"] == "MISSING", "odd entities have no embedding row")
  }

  /// CSV rows by header name, with RFC 4180 quoting (embeddings are quoted: they contain commas).
  static func quotedCSVRows(_ text: String) -> [[String: String]] {
    var records: [[String]] = []
    var record: [String] = []
    var field = ""
    var quoted = false
    var chars = text.makeIterator()
    var pending: Character? = nil
    while let c = pending ?? chars.next() {
      pending = nil
      if quoted {
        if c == "\"" {
          let next = chars.next()
          if next == "\"" { field.append("\"") } else { quoted = false; pending = next }
        } else {
          field.append(c)
        }
        continue
      }
      switch c {
      case "\"": quoted = true
      case ",": record.append(field); field = ""
      case "\n":
        record.append(field); field = ""
        records.append(record); record = []
      default: field.append(c)
      }
    }
    guard let header = records.first else { return [] }
    return records.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
  }

  static func firstDifference(_ a: String, _ b: String) -> String {
    let la = a.split(separator: "\n", omittingEmptySubsequences: false)
    let lb = b.split(separator: "\n", omittingEmptySubsequences: false)
    for k in 0..<max(la.count, lb.count) where k >= la.count || k >= lb.count || la[k] != lb[k] {
      return "line \(k + 1):\n  cluster \(k < la.count ? String(la[k]) : "<none>")\n  single  \(k < lb.count ? String(lb[k]) : "<none>")"
    }
    return "none"
  }

  // MARK: - c. replication

  @Test("replication factor 3: with any one node killed (-9), every entity stays readable and writable through the live nodes, and exports return every row")
  func replicatedNodeDown() throws {
    let cluster = try LocalCluster(replicationFactor: 3)
    defer { cluster.shutdown() }
    let dir = cluster.dir
    let defs = "groups:\n  - name: g\n    features:\n      - name: n\n        dtype: INT\n"
    try Self.ok(strata(["apply", try dir.file("g.yaml", defs)], server: cluster.address("n1"), timeout: Self.timeout), "apply")
    let entities = (0..<60).map { "e\($0)" }
    // ALL: every replica holds every row before the kill (QUORUM's third copy may still be on its way).
    var csv = "entity_id,event_timestamp,n\n" + entities.enumerated().map { "\($1),2024-05-01T00:00:00Z,\($0)\n" }.joined()
    var r = try strata(
      ["ingest", "--group", "g", "--consistency", "ALL", try dir.file("base.csv", csv)], server: cluster.address("n1"), timeout: Self.timeout)
    try Self.ok(r, "ingest at ALL")
    #expect(r.stdout.contains("at least 3 of 3 replicas"), "\(r.stdout)")
    let victim = "n2"
    cluster.kill9(victim)
    let live = cluster.ids.filter { $0 != victim }
    for via in live {
      r = try strata(["get", "--entity", entities.joined(separator: ","), "--features", "g:n", "--json"], server: cluster.address(via), timeout: 10)
      #expect(r.status == 0 && !r.timedOut && r.seconds < 3, "get of every entity through \(via) with \(victim) killed: \(r.stderr)")
      for (k, e) in entities.enumerated() {
        #expect(r.stdout.contains("{\"entity_id\":\"\(e)\",\"features\":{\"g@1:n\":{\"value\":\(k),\"status\":\"PRESENT\""), "\(e) through \(via)")
      }
    }
    // QUORUM (the default) writes of every entity succeed with 2 of 3 replicas.
    csv = "entity_id,event_timestamp,n\n" + entities.enumerated().map { "\($1),2024-05-02T00:00:00Z,\(1_000 + $0)\n" }.joined()
    r = try strata(["ingest", "--group", "g", try dir.file("more.csv", csv)], server: cluster.address(live[0]), timeout: 10)
    #expect(r.status == 0 && r.seconds < 3, "QUORUM ingest with \(victim) killed: \(r.stderr)")
    #expect(r.stdout.contains("at least 2 of 3 replicas"), "\(r.stdout)")
    r = try strata(["get", "--entity", entities.joined(separator: ","), "--features", "g:n", "--json"], server: cluster.address(live[1]), timeout: 10)
    for (k, e) in entities.enumerated() {
      #expect(r.stdout.contains("{\"entity_id\":\"\(e)\",\"features\":{\"g@1:n\":{\"value\":\(1_000 + k),"), "\(e): \(r.stdout.prefix(300))")
    }
    // A point-in-time export through either live node returns every label's row.
    let labels = try dir.file(
      "labels.csv",
      "entity_id,label_timestamp\n" + entities.map { "\($0),2024-05-01T12:00:00Z\n\($0),2024-05-03T00:00:00Z\n" }.joined())
    for via in live {
      r = try strata(["join", "--labels", labels, "--features", "g:n"], server: cluster.address(via), timeout: 10)
      #expect(r.status == 0, "join through \(via): \(r.stderr)")
      #expect(csvRows(r.stdout).map { $0["g:n"] ?? "?" } == entities.indices.flatMap { [String($0), String(1_000 + $0)] }, "join through \(via)")
    }
  }

  // MARK: - d. a node down (one copy per entity)

  @Test("with n3 killed: its entities fail fast naming it, other entities are served, partial writes are reported exactly")
  func nodeDown() throws {
    let cluster = try LocalCluster()
    defer { cluster.shutdown() }
    let dir = cluster.dir
    let n1 = cluster.address("n1")
    let defs = "groups:\n  - name: g\n    features:\n      - name: n\n        dtype: INT\n"
    try Self.ok(strata(["apply", try dir.file("g.yaml", defs)], server: n1, timeout: Self.timeout), "apply")
    // Entities per owner, in a fixed order.
    var owned: [String: [String]] = [:]
    for k in 0..<400 { owned[cluster.owner(of: "e\(k)"), default: []].append("e\(k)") }
    #expect(cluster.ids.allSatisfy { (owned[$0]?.count ?? 0) >= 40 })
    var base = "entity_id,event_timestamp,n\n"
    for k in 0..<60 { base += "e\(k),2024-05-01T00:00:00Z,\(k)\n" }
    try Self.ok(strata(["ingest", "--group", "g", try dir.file("base.csv", base)], server: n1, timeout: Self.timeout), "ingest")

    cluster.kill9("n3")
    let dead = "n3 (\(cluster.address("n3")))"
    let live = (0..<60).map { "e\($0)" }.filter { cluster.owner(of: $0) != "n3" }
    let gone = (0..<60).map { "e\($0)" }.filter { cluster.owner(of: $0) == "n3" }

    // Reads of live entities still work, through either live node.
    for via in ["n1", "n2"] {
      let r = try strata(["get", "--entity", live.joined(separator: ","), "--features", "g:n", "--json"], server: cluster.address(via), timeout: 10)
      #expect(r.status == 0 && !r.timedOut, "get of live entities through \(via): \(r.stderr)")
      for e in live { #expect(r.stdout.contains("{\"entity_id\":\"\(e)\",\"features\":{\"g@1:n\":{\"value\":\(e.dropFirst()),\"status\":\"PRESENT\"")) }
    }

    // A read touching n3 fails fast, naming it.
    var r = try strata(["get", "--entity", "\(live[0]),\(gone[0])", "--features", "g:n"], server: n1, timeout: 10)
    #expect(!r.timedOut, "get touching the dead node hung")
    #expect(r.status != 0)
    #expect(r.seconds < 3, "get touching the dead node took \(r.seconds) s")
    #expect(r.stderr.contains("UNAVAILABLE: cluster node \(dead) is unavailable"), "\(r.stderr)")
    #expect(!r.stderr.contains("cluster node n1") && !r.stderr.contains("cluster node n2"), "\(r.stderr)")

    // One batch spanning all three owners, round robin n1, n2, n3: n3's rows are 2, 5, 8, ... of the batch.
    let fresh = (0..<8).flatMap { k in ["n1", "n2", "n3"].map { owned[$0]![50 + k] } }
    var csv = "entity_id,event_timestamp,n\n"
    for (k, e) in fresh.enumerated() { csv += "\(e),2024-05-02T00:00:00Z,\(1_000 + k)\n" }
    r = try strata(["ingest", "--group", "g", try dir.file("mixed.csv", csv)], server: n1, timeout: 10)
    #expect(!r.timedOut && r.status != 0, "\(r.stderr)")
    #expect(r.seconds < 3, "ingest touching the dead node took \(r.seconds) s")
    #expect(r.stderr.contains("UNAVAILABLE: cluster node \(dead) is unavailable"), "\(r.stderr)")
    #expect(r.stderr.contains("\(dead): rows 2, 5, 8, 11, 14, 17, 20, 23 not written"), "\(r.stderr)")
    #expect(r.stderr.contains("n1 (\(n1)): 8 rows written"), "\(r.stderr)")
    #expect(r.stderr.contains("n2 (\(cluster.address("n2"))): 8 rows written"), "\(r.stderr)")
    // ... and it is true: the live owners' rows of that batch are there.
    let written = fresh.enumerated().filter { cluster.owner(of: $0.element) != "n3" }
    r = try strata(["get", "--entity", written.map(\.element).joined(separator: ","), "--features", "g:n", "--json"], server: n1, timeout: 10)
    #expect(r.status == 0, "\(r.stderr)")
    for (k, e) in written { #expect(r.stdout.contains("{\"entity_id\":\"\(e)\",\"features\":{\"g@1:n\":{\"value\":\(1_000 + k),"), "\(e): \(r.stdout)") }

    // Two batches of 6: the first only live owners (committed), the second touches n3 at rows 1 and 4.
    let second = [owned["n1"]![60], owned["n3"]![60], owned["n2"]![60], owned["n1"]![61], owned["n3"]![61], owned["n2"]![61]]
    let batches = (0..<3).flatMap { k in [owned["n1"]![70 + k], owned["n2"]![70 + k]] } + second
    csv = "entity_id,event_timestamp,n\n"
    for (k, e) in batches.enumerated() { csv += "\(e),2024-05-02T00:00:00Z,\(2_000 + k)\n" }
    r = try strata(["ingest", "--group", "g", try dir.file("two.csv", csv), "--batch-size", "6"], server: n1, timeout: 10)
    #expect(!r.timedOut && r.status != 0, "\(r.stderr)")
    #expect(r.stderr.contains("batch 2: cluster node \(dead) is unavailable"), "\(r.stderr)")
    #expect(r.stderr.contains("\(dead): rows 1, 4 not written"), "\(r.stderr)")
    #expect(r.stderr.contains("n1 (\(n1)): 2 rows written"), "\(r.stderr)")
    #expect(r.stderr.contains("(the 1 earlier batches of this call, 6 rows, were committed)"), "\(r.stderr)")
    // The CLI's wording: the node that answered is reachable, one of its peers is not.
    #expect(r.stderr.hasPrefix("Error: UNAVAILABLE: batch 2: cluster node \(dead)"), "\(r.stderr)")
    #expect(!r.stderr.contains("cannot reach a strata node at \(n1)"), "\(r.stderr)")
    let liveRows = batches.enumerated().filter { cluster.owner(of: $0.element) != "n3" }
    r = try strata(["get", "--entity", liveRows.map(\.element).joined(separator: ","), "--features", "g:n", "--json"], server: n1, timeout: 10)
    #expect(r.status == 0, "\(r.stderr)")
    for (k, e) in liveRows {
      #expect(r.stdout.contains("{\"entity_id\":\"\(e)\",\"features\":{\"g@1:n\":{\"value\":\(2_000 + k),"), "every live row of both batches is there: \(e): \(r.stdout)")
    }

    // A long file failing in its first batch: the node ends the call while the CLI still sends batches;
    // the user must still see the node's reason (which node, which rows), not the CLI's own failed write.
    csv = "entity_id,event_timestamp,n\n\(owned["n3"]![80]),2024-05-03T00:00:00Z,1\n"
    for k in 0..<20_000 { csv += "\(owned["n1"]![81 + k % 20]),2024-05-03T00:00:00Z,\(k)\n" }
    r = try strata(["ingest", "--group", "g", try dir.file("long.csv", csv), "--batch-size", "100"], server: n1, timeout: 10)
    #expect(!r.timedOut && r.status != 0, "\(r.stderr)")
    #expect(r.seconds < 3, "a failing ingest stops early: \(r.seconds) s")
    #expect(r.stderr.contains("UNAVAILABLE: cluster node \(dead) is unavailable"), "\(r.stderr)")
    #expect(r.stderr.contains("n1 (\(n1)): 99 rows written; \(dead): rows 0 not written"), "\(r.stderr)")
    // What was written: the 99 live rows of batch 1 (the last one per entity wins), nothing after it.
    let tail = (0..<20).map { owned["n1"]![81 + $0] }
    r = try strata(["get", "--entity", tail.joined(separator: ","), "--features", "g:n", "--json"], server: n1, timeout: 10)
    for (j, e) in tail.enumerated() {
      let last = Array(stride(from: j, through: 98, by: 20)).last!
      #expect(r.stdout.contains("{\"entity_id\":\"\(e)\",\"features\":{\"g@1:n\":{\"value\":\(last),"), "\(e): \(r.stdout)\(r.stderr)")
    }

    // Exports: one touching n3 fails fast naming it; one that does not still works.
    let touching = try dir.file("labels-dead.csv", "entity_id,label_timestamp\n\(live[0]),2024-06-01T00:00:00Z\n\(gone[0]),2024-06-01T00:00:00Z\n")
    r = try strata(["join", "--labels", touching, "--features", "g:n"], server: n1, timeout: 10)
    #expect(!r.timedOut, "join touching the dead node hung")
    #expect(r.status != 0)
    #expect(r.seconds < 3, "join touching the dead node took \(r.seconds) s")
    #expect(r.stderr.contains("cluster node \(dead)"), "\(r.stderr)")
    let liveOnly = try dir.file("labels-live.csv", "entity_id,label_timestamp\n" + live.map { "\($0),2024-06-01T00:00:00Z\n" }.joined())
    r = try strata(["join", "--labels", liveOnly, "--features", "g:n", "--chunk-size", "5"], server: cluster.address("n2"), timeout: 10)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(csvRows(r.stdout).map { $0["g:n"] ?? "?" } == live.map { String($0.dropFirst()) })

    // Status still answers and says which node does not.
    r = try strata(["status"], server: n1, timeout: 10)
    #expect(r.status == 0, "\(r.stderr)")
    let table = clusterTable(r.stdout)
    #expect(table["n1"]?.answers == "yes" && table["n2"]?.answers == "yes", "\(r.stdout)")
    #expect(table["n3"]?.rows == nil, "\(r.stdout)")
    #expect(table["n3"]?.answers.hasPrefix("no: cluster node \(dead) is unavailable") == true, "\(r.stdout)")
  }

  // MARK: - d. registry changes while a node is down

  @Test("a node that was down while a definition changed learns the new version when it starts again")
  func registryCatchUp() throws {
    let cluster = try LocalCluster()
    defer { cluster.shutdown() }
    let dir = cluster.dir
    let (n1, n2, n3) = (cluster.address("n1"), cluster.address("n2"), cluster.address("n3"))
    let v1 = try dir.file("v1.yaml", "groups:\n  - name: g\n    features:\n      - name: a\n        dtype: INT\n")
    let v2 = try dir.file(
      "v2.yaml", "groups:\n  - name: g\n    features:\n      - name: a\n        dtype: INT\n      - name: b\n        dtype: STRING\n")
    try Self.ok(strata(["apply", v1], server: n1, timeout: Self.timeout), "apply v1")
    let entities = (0..<30).map { "d\($0)" }
    #expect(Set(entities.map(cluster.owner(of:))) == Set(cluster.ids))
    let rows1 = "entity_id,event_timestamp,a\n" + entities.enumerated().map { "\($1),2024-05-01T00:00:00Z,\($0)\n" }.joined()
    try Self.ok(strata(["ingest", "--group", "g", try dir.file("r1.csv", rows1)], server: n2, timeout: Self.timeout), "ingest v1")

    #expect(cluster.stop("n3") == 0, "SIGTERM stops n3 gracefully")
    var r = try strata(["apply", v2], server: n1, timeout: 10)
    #expect(r.status == 0 && !r.timedOut, "apply with n3 down: \(r.stderr)")
    #expect(r.stdout.contains("g@2\tnew version"), "\(r.stdout)")
    // A refused connection fails at once; 5 s leaves room for a loaded machine (the internode
    // timeout it must not wait for is longer).
    #expect(r.seconds < 5, "apply with a node down took \(r.seconds) s")
    r = try strata(["describe", "g"], server: n2, timeout: 10)
    #expect(r.stdout.contains("group:        g@2"), "n2 got the push: \(r.stdout)\(r.stderr)")

    try cluster.restart("n3")
    var caughtUp = false
    // n3 pulls the registry when it starts and every 2 s: 15 s is that with room for a loaded machine.
    let deadline = Date().addingTimeInterval(15)
    while Date() < deadline {
      r = try strata(["groups"], server: n3, timeout: 10)
      if r.status == 0 && r.stdout.contains("g      2") { caughtUp = true; break }
      usleep(100_000)
    }
    #expect(caughtUp, "n3 lists g@2 within 15 s of starting: \(r.stdout)\(r.stderr)\n\(cluster.log("n3"))")
    r = try strata(["describe", "g"], server: n3, timeout: 10)
    #expect(r.stdout.contains("group:        g@2  (ACTIVE)"), "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("versions:     1 (ACTIVE), 2 (ACTIVE)"), "\(r.stdout)")
    #expect(r.stdout.contains("b        STRING"), "\(r.stdout)")

    // Writes to the new version through n3, to entities of every owner, and reads back. First wait until
    // n3 reaches every node (itself included): its internode clients start connecting while it starts.
    try cluster.waitUntilConnected(through: ["n3"], timeout: 15)
    let rows2 = "entity_id,event_timestamp,a,b\n" + entities.enumerated().map { "\($1),2024-05-02T00:00:00Z,\(100 + $0),s\($0)\n" }.joined()
    r = try strata(["ingest", "--group", "g", try dir.file("r2.csv", rows2)], server: n3, timeout: 10)
    #expect(r.status == 0, "ingest into g@2 through n3: \(r.stderr)")
    #expect(r.stdout.contains("ingested 30 rows into g"), "\(r.stdout)")
    r = try strata(["get", "--entity", entities.joined(separator: ","), "--features", "g:b,g@1:a", "--json"], server: n3, timeout: 10)
    #expect(r.status == 0, "\(r.stderr)")
    for (k, e) in entities.enumerated() {
      #expect(
        r.stdout.contains("{\"entity_id\":\"\(e)\",\"features\":{\"g@2:b\":{\"value\":\"s\(k)\",\"status\":\"PRESENT\",\"event_timestamp\":\"2024-05-02T00:00:00Z\"},\"g@1:a\":{\"value\":\(k),\"status\":\"PRESENT\""),
        "\(e) (owner \(cluster.owner(of: e))): \(r.stdout)")
    }
    // The other nodes reach the restarted n3 again: reads through n1 of n3's entities succeed soon.
    let ofN3 = entities.filter { cluster.owner(of: $0) == "n3" }
    let started = Date()
    var reached = false
    while Date().timeIntervalSince(started) < 15 {
      r = try strata(["get", "--entity", ofN3.joined(separator: ","), "--features", "g:b"], server: n1, timeout: 10)
      if r.status == 0 { reached = true; break }
      usleep(100_000)
    }
    #expect(reached, "n1 reaches the restarted n3 within 15 s: \(r.stderr)")
  }

  /// A node back after a few seconds is reached by the others within about a second (internode clients
  /// retry connecting every 100 ms growing to at most 1 s; without that cap the default backoff grew to
  /// two minutes), and a registry change made right after it returned reaches it (pushed by the leader,
  /// or pulled by the node, at start and every 2 s).
  @Test("a node restarted after a few seconds is reached within about a second, and a change applied just after reaches it")
  func reachAfterRestart() throws {
    let cluster = try LocalCluster()
    defer { cluster.shutdown() }
    let dir = cluster.dir
    let n1 = cluster.address("n1")
    let v1 = try dir.file("v1.yaml", "groups:\n  - name: g\n    features:\n      - name: a\n        dtype: INT\n")
    let v2 = try dir.file(
      "v2.yaml", "groups:\n  - name: g\n    features:\n      - name: a\n        dtype: INT\n      - name: b\n        dtype: STRING\n")
    try Self.ok(strata(["apply", v1], server: n1, timeout: Self.timeout), "apply v1")
    let ofN3 = (0..<40).map { "r\($0)" }.filter { cluster.owner(of: $0) == "n3" }
    let ofN1 = (0..<40).map { "r\($0)" }.first { cluster.owner(of: $0) == "n1" }!
    let rows = "entity_id,event_timestamp,a\n\(ofN1),2024-05-01T00:00:00Z,1\n\(ofN3[0]),2024-05-01T00:00:00Z,3\n"
    try Self.ok(strata(["ingest", "--group", "g", try dir.file("r.csv", rows)], server: n1, timeout: Self.timeout), "ingest into g@1")

    cluster.kill9("n3")
    var r = try strata(["get", "--entity", ofN3[0], "--features", "g:a"], server: n1, timeout: 10)
    #expect(r.status != 0, "n3 is down")
    usleep(3_000_000)
    try cluster.restart("n3")

    r = try strata(["apply", v2], server: n1, timeout: 10)
    #expect(r.status == 0, "\(r.stderr)")
    var read = try strata(["get", "--entity", ofN3.joined(separator: ","), "--features", "g@1:a"], server: n1, timeout: 10)
    let reachBy = Date().addingTimeInterval(3)
    while read.status != 0 && Date() < reachBy {
      usleep(100_000)
      read = try strata(["get", "--entity", ofN3.joined(separator: ","), "--features", "g@1:a"], server: n1, timeout: 10)
    }
    var caughtUp = false
    let deadline = Date().addingTimeInterval(3)
    while Date() < deadline {
      r = try strata(["describe", "g"], server: cluster.address("n3"), timeout: 10)
      if r.stdout.contains("group:        g@2") { caughtUp = true; break }
      usleep(200_000)
    }
    #expect(read.status == 0, "a read through n1 of n3's entities within 3 s of n3 listening again: \(read.stderr)")
    #expect(caughtUp, "n3 learns g@2, applied through the leader right after n3 started: \(r.stdout)\(r.stderr)")

    // While the registries differ, an unpinned reference must still mean one version for every entity of
    // a request: g:a is g@2 (no rows yet) through n1, whichever node owns the entity.
    let reachDeadline = Date().addingTimeInterval(8)
    repeat {
      r = try strata(["get", "--entity", "\(ofN1),\(ofN3[0])", "--features", "g:a", "--json"], server: n1, timeout: 10)
      if r.status == 0 { break }
      usleep(100_000)
    } while Date() < reachDeadline
    #expect(r.status == 0, "n1 reaches n3 within 8 s of its restart: \(r.stderr)")
    let lines = r.stdout.split(separator: "\n")
    #expect(lines.first?.contains("\"g@2:a\":{\"value\":null,\"status\":\"MISSING\"") == true, "\(r.stdout)")
    #expect(lines.last?.contains("\"g@2:a\":{\"value\":null,\"status\":\"MISSING\"") == true, "n3's entity answered from g@1 under g@2's name: \(r.stdout)")
  }

  // MARK: - lookup lane port

  @Test("a node whose --lane-port is taken exits at once with an error naming the lane and the port")
  func lanePortTaken() throws {
    let (busy, busyServer) = try startNode()  // its gRPC port is the taken one
    defer { busy.cleanup() }
    let port = try #require(Int(busyServer.address.split(separator: ":").last ?? ""))
    let free = try freeLoopbackPorts(2)
    let file = try busy.file(
      "cluster.yaml", "epoch: 1\nnodes:\n  - id: n1\n    address: 127.0.0.1:\(free[0])\n    internode_port: \(free[1])\n")
    let r = try strata(
      ["serve", "--cluster", file, "--node", "n1", "--data-dir", busy.path + "/n1", "--lane-port", "\(port)"], server: nil, timeout: 30)
    #expect(!r.timedOut && r.status != 0, "\(r.stderr)")
    #expect(r.stderr.contains("the lookup lane could not listen on 127.0.0.1:\(port) (--lane-port"), "\(r.stderr)")
  }

  @Test("a node whose internode port is taken exits at once with an error naming the service and the port")
  func internodePortTaken() throws {
    let (busy, busyServer) = try startNode()  // its gRPC port is the taken one
    defer { busy.cleanup() }
    let port = try #require(Int(busyServer.address.split(separator: ":").last ?? ""))
    let free = try freeLoopbackPorts(1)[0]
    let file = try busy.file(
      "cluster.yaml", "epoch: 1\nnodes:\n  - id: n1\n    address: 127.0.0.1:\(free)\n    internode_port: \(port)\n")
    let r = try strata(["serve", "--cluster", file, "--node", "n1", "--data-dir", busy.path + "/n1"], server: nil, timeout: 30)
    #expect(!r.timedOut && r.status != 0, "\(r.stderr)")
    #expect(
      r.stderr.contains("the internode service (internode_port of n1 in the cluster file) could not listen on 127.0.0.1:\(port)"),
      "\(r.stderr)")
  }

  // MARK: - e. ring epoch mismatch

  @Test("a node with another ring epoch refuses internode calls: FAILED_PRECONDITION 'ring epoch mismatch'")
  func epochMismatch() throws {
    let cluster = try LocalCluster(epochs: ["n3": 2])
    defer { cluster.shutdown() }
    let dir = cluster.dir
    let n1 = cluster.address("n1")
    try Self.ok(
      strata(["apply", try dir.file("g.yaml", "groups:\n  - name: g\n    features:\n      - name: n\n        dtype: INT\n")], server: n1, timeout: Self.timeout),
      "apply")
    let entities = (0..<60).map { "m\($0)" }
    let ofN1 = entities.filter { cluster.owner(of: $0) == "n1" }
    let ofN3 = entities.filter { cluster.owner(of: $0) == "n3" }
    #expect(!ofN1.isEmpty && !ofN3.isEmpty)
    let rows = "entity_id,event_timestamp,n\n" + ofN1.map { "\($0),2024-05-01T00:00:00Z,\($0.dropFirst())\n" }.joined()
    try Self.ok(strata(["ingest", "--group", "g", try dir.file("n1.csv", rows)], server: n1, timeout: Self.timeout), "ingest of n1's entities")

    var r = try strata(["get", "--entity", ofN3[0], "--features", "g:n"], server: n1, timeout: 10)
    #expect(!r.timedOut && r.status != 0, "\(r.stdout)")
    #expect(r.stderr.contains("FAILED_PRECONDITION"), "\(r.stderr)")
    #expect(r.stderr.contains("ring epoch mismatch"), "\(r.stderr)")
    #expect(r.stderr.contains("caller is at epoch 1, this node at epoch 2"), "\(r.stderr)")
    #expect(r.stderr.contains("n3 (\(cluster.address("n3")))"), "the message names the node: \(r.stderr)")

    r = try strata(["get", "--entity", ofN1.joined(separator: ","), "--features", "g:n", "--json"], server: n1, timeout: 10)
    #expect(r.status == 0, "\(r.stderr)")
    for e in ofN1 { #expect(r.stdout.contains("{\"entity_id\":\"\(e)\",\"features\":{\"g@1:n\":{\"value\":\(e.dropFirst()),\"status\":\"PRESENT\"")) }

    // Writes to n3's entities are refused the same way; nothing is written there.
    let bad = "entity_id,event_timestamp,n\n\(ofN3[0]),2024-05-01T00:00:00Z,1\n"
    r = try strata(["ingest", "--group", "g", try dir.file("n3.csv", bad)], server: n1, timeout: 10)
    #expect(r.status != 0 && r.stderr.contains("FAILED_PRECONDITION") && r.stderr.contains("ring epoch mismatch"), "\(r.stderr)")
  }
}
