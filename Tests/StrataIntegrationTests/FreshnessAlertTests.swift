import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A real node's freshness monitor: a group that stops receiving writes goes into ALERT once (a
/// webhook POST and `strata freshness`), and out of it once when a write arrives.
@Suite("Freshness alerts against a real node", .serialized)
struct FreshnessAlertTests {
  @Test("ALERT and recovery are each POSTed once as JSON; strata freshness shows the state and --fail-on-alert exits 2")
  func alertAndRecovery() throws {
    let hook = try WebhookReceiver()
    let dir = try TempDirectory()
    defer { dir.cleanup() }
    let server = ServerProcess(
      dataDirectory: dir.path + "/data",
      extraArgs: ["--node-id", "solo", "--alert-webhook", "http://127.0.0.1:\(hook.port)/hooks/strata", "--freshness-check-seconds", "0.2"])
    try server.start()
    defer { _ = server.terminate() }
    let defs = try dir.file(
      "defs.yaml",
      """
      groups:
        - name: clicks
          refresh_interval: 1s
          features:
            - name: n
              dtype: INT
        - name: daily
          refresh_interval: 1d
          features:
            - name: x
              dtype: FLOAT
      """)
    #expect(try strata(["apply", defs], server: server.address).status == 0)
    let rows = try dir.file("rows.csv", "entity_id,event_timestamp,n\nu1,\(Int(Date().timeIntervalSince1970) - 5),1\n")
    #expect(try strata(["ingest", "--group", "clicks", rows], server: server.address).status == 0)

    // 1 s interval: ALERT once the last write is 2 s old (checked every 0.2 s).
    let alert = try #require(hook.waitFor(timeout: 15) { $0["event"] as? String == "freshness_alert" }, "no ALERT posted; node log: \(server.stderrText)")
    #expect(alert["group"] as? String == "clicks" && alert["version"] as? Int == 1 && alert["state"] as? String == "ALERT")
    #expect(alert["tier"] as? String == "STREAMING" && alert["refresh_interval_seconds"] as? Int == 1 && alert["node"] as? String == "solo")
    #expect((alert["age_seconds"] as? Double ?? 0) > 2 && alert["last_write"] is String && ["FRESH", "LATE"].contains(alert["previous_state"] as? String))
    let table = try strata(["freshness"], server: server.address)
    #expect(table.status == 0)
    #expect(table.stdout.contains("clicks@1") && table.stdout.contains("ALERT") && table.stdout.contains("daily@1"), "\(table.stdout)")
    #expect(try strata(["freshness", "--fail-on-alert"], server: server.address).status == 2)

    #expect(try strata(["ingest", "--group", "clicks", rows], server: server.address).status == 0)
    let recovered = try #require(hook.waitFor(timeout: 15) { $0["event"] as? String == "freshness_recovered" }, "no recovery posted")
    #expect(recovered["state"] as? String == "FRESH" && recovered["previous_state"] as? String == "ALERT")
    // Each transition once: exactly one ALERT before the recovery (a later one may follow 2 s
    // after the second write).
    let beforeRecovery = hook.documents.prefix { $0["event"] as? String != "freshness_recovered" }
    #expect(beforeRecovery.filter { $0["event"] as? String == "freshness_alert" }.count == 1)
    #expect(hook.documents.filter { $0["group"] as? String == "daily" }.isEmpty, "the daily group never left FRESH")
    #expect(server.stderrText.contains("feature group is stale (ALERT)"))
  }

  @Test("an https or malformed webhook is refused at start with what to do")
  func badWebhook() throws {
    let dir = try TempDirectory()
    defer { dir.cleanup() }
    let result = try strata(["serve", "--port", "0", "--data-dir", dir.path, "--alert-webhook", "https://example.com/x"])
    #expect(result.status != 0 && result.stderr.contains("must be an http:// URL"), "\(result.stderr)")
  }
}

/// A one-route HTTP server on a free loopback port: keeps every POSTed JSON document, answers 200.
final class WebhookReceiver: @unchecked Sendable {
  let port: Int
  private let fd: Int32
  private let received = Locked<[Data]>([])

  init() throws {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    self.fd = fd
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    guard bound == 0, listen(fd, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    port = Int(UInt16(bigEndian: address.sin_port))
    let thread = Thread { [self] in self.serve() }
    thread.start()
  }

  var documents: [[String: Any]] {
    received.withLock { $0 }.compactMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
  }

  /// Waits until a received document satisfies `matches`; returns it, or nil after `timeout` seconds.
  func waitFor(timeout: Double, _ matches: ([String: Any]) -> Bool) -> [String: Any]? {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if let found = documents.first(where: matches) { return found }
      usleep(50_000)
    }
    return nil
  }

  private func serve() {
    while true {
      let client = accept(fd, nil, nil)
      guard client >= 0 else { return }
      var data: [UInt8] = []
      var buffer = [UInt8](repeating: 0, count: 4096)
      // Headers, then Content-Length bytes of body.
      while true {
        let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { break }
        data += buffer[0..<n]
        let text = String(decoding: data, as: UTF8.self)
        if let headerEnd = text.range(of: "\r\n\r\n") {
          let headers = text[..<headerEnd.lowerBound].lowercased()
          let length = headers.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
          let bodyStart = text.utf8.distance(from: text.startIndex, to: headerEnd.upperBound)
          if data.count - bodyStart >= length {
            let body = Data(data[bodyStart..<(bodyStart + length)])
            received.withLock { $0.append(body) }
            break
          }
        }
      }
      let answer = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
      _ = answer.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
      close(client)
    }
  }
}
