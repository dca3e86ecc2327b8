import Foundation
import Synchronization
import Testing

/// `kill -9` right after acknowledged writes loses none of them.
@Suite("Durability", .serialized)
struct DurabilityTests {
  @Test("every ingest that was acknowledged survives kill -9 of the node")
  func killNineAfterAck() throws {
    let dir = try TempDirectory()
    defer { dir.cleanup() }
    let data = dir.path + "/data"
    let server = ServerProcess(dataDirectory: data)
    try server.start()
    let defs = try dir.file(
      "d.yaml", "groups:\n  - name: events\n    features:\n      - name: n\n        dtype: INT\n")
    #expect(try strata(["apply", defs], server: server.address).status == 0)

    // Ingest files of 200 rows each (entity b<k>_<i>, value k*1000+i) one after another; kill the node
    // with SIGKILL while ingests are still running.
    var files: [String] = []
    for k in 0..<40 {
      var text = "entity_id,event_timestamp,n\n"
      for i in 0..<200 { text += "b\(k)_\(i),2024-05-01T00:00:00Z,\(k * 1000 + i)\n" }
      files.append(try dir.file("batch\(k).csv", text))
    }
    let acknowledged = Locked<[Int]>([])
    let address = server.address
    let files_ = files
    let writer = Thread {
      for (k, f) in files_.enumerated() {
        guard let r = try? strata(["ingest", "--group", "events", f], server: address), r.status == 0 else { return }
        acknowledged.withLock { $0.append(k) }
      }
    }
    writer.start()
    // Wait until a few ingests were acknowledged, then kill immediately.
    let deadline = Date().addingTimeInterval(60)
    while acknowledged.withLock({ $0.count }) < 5 && Date() < deadline { usleep(2_000) }
    server.kill9()
    while writer.isExecuting { usleep(10_000) }
    let acked = acknowledged.withLock { $0 }
    #expect(acked.count >= 5, "some ingests must have been acknowledged before the kill")

    // Restart on the same directory and read back every acknowledged row.
    let restarted = ServerProcess(dataDirectory: data)
    try restarted.start()
    var labels = "entity_id,label_timestamp\n"
    for k in acked { for i in 0..<200 { labels += "b\(k)_\(i),2024-06-01T00:00:00Z\n" } }
    let labelsFile = try dir.file("labels.csv", labels)
    let out = dir.path + "/out.csv"
    let r = try strata(["join", "--labels", labelsFile, "--features", "events:n", "--out", out], server: restarted.address)
    #expect(r.status == 0, "\(r.stderr)")
    let rows = csvRows(try String(contentsOfFile: out, encoding: .utf8))
    #expect(rows.count == acked.count * 200)
    var lost = 0
    var index = 0
    for k in acked {
      for i in 0..<200 {
        if rows[index]["events:n"] != String(k * 1000 + i) { lost += 1 }
        index += 1
      }
    }
    #expect(lost == 0, "\(lost) acknowledged rows were lost (acknowledged ingests: \(acked))")
    #expect(restarted.terminate() == 0)
  }

  @Test("kill -9 right after a push: the restarted node adds the events whose tiles were not written yet; every aggregate as before")
  func killNineAfterPush() throws {
    let dir = try TempDirectory()
    defer { dir.cleanup() }
    let data = dir.path + "/data"
    let server = ServerProcess(dataDirectory: data)
    try server.start()
    #expect(try strata(["apply", try dir.file("defs.yaml", PushEndToEndTests.definitions)], server: server.address).status == 0)
    // u1 busy (300 events in the last 50 minutes: every tile width), u2 a few; tiles are written
    // behind their events (at most 5 s later), so the kill finds them unwritten.
    var text = "entity_id,event_timestamp,amount,category\n"
    for i in 0..<300 { text += "u1,\(PushEndToEndTests.ago(3_000 - i * 10)),\(i % 17),c\(i % 3)\n" }
    for i in 0..<5 { text += "u2,\(PushEndToEndTests.ago(600 + i * 3_600)),\(i),\n" }
    var r = try strata(["push", "--stream", "purchases", "--batch-rows", "50", try dir.file("events.csv", text)], server: server.address)
    #expect(r.status == 0, "\(r.stderr)")
    // With the stream's own fields: each entity's latest event (its online row, written behind with
    // the tiles too, and made again from history by the restarted node).
    func aggregates(_ address: String) throws -> String {
      let r = try strata(["get", "--entity", "u1,u2", "--features", "user_spend:*,purchases:*", "--json"], server: address)
      #expect(r.status == 0, "\(r.stderr)")
      return r.stdout
    }
    let before = try aggregates(server.address)
    #expect(before.contains("\"user_spend@1:purchases_1h\":{\"value\":300,"), "\(before)")
    #expect(before.contains("\"purchases@1:category\":{\"value\":\"c2\""), "\(before)")  // u1's latest event (i = 299)
    server.kill9()

    let restarted = ServerProcess(dataDirectory: data)
    try restarted.start()
    #expect(restarted.stderrText.contains("rebuilt the tiles of the days whose journaled events a stopped process had not written to them"), "\(restarted.stderrText)")
    #expect(try aggregates(restarted.address) == before)
    // A clean stop writes the tiles: the next start replays nothing.
    #expect(restarted.terminate() == 0)
    let again = ServerProcess(dataDirectory: data)
    try again.start()
    #expect(!again.stderrText.contains("journaled events"), "\(again.stderrText)")
    #expect(try aggregates(again.address) == before)
    r = try strata(["push", "--stream", "purchases", try dir.file("one.csv", "entity_id,event_timestamp,amount,category\nu2,\(PushEndToEndTests.ago(5)),1,\n")], server: again.address)
    #expect(r.status == 0, "\(r.stderr)")
    // A node that receives no more events writes its tiles once they are 5 s old: killed after that,
    // it has nothing to replay.
    Thread.sleep(forTimeInterval: 7)
    let after = try aggregates(again.address)
    again.kill9()
    let last = ServerProcess(dataDirectory: data)
    try last.start()
    #expect(!last.stderrText.contains("journaled events"), "\(last.stderrText)")
    #expect(try aggregates(last.address) == after)
    #expect(last.terminate() == 0)
  }
}
