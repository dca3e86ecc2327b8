import Foundation
import Logging
import StrataCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Delivers JSON documents (freshness alerts; OpenLineage events with `what`/`flag` set) to an HTTP
/// endpoint by POST, from a thread of its own: `post`
/// only enqueues, so serving never waits for the endpoint. Each document is retried on failure
/// (connection refused, timeout, a non-2xx answer) after 1, 2, 4, 8 and 16 s, then dropped with a
/// logged error; at most `maxQueued` documents wait (the oldest are dropped first, counted).
///
/// Plain `http://host[:port][/path]` only (no TLS: put a TLS-terminating proxy in front for an
/// `https` endpoint); each attempt is one HTTP/1.1 connection with a 5 s timeout.
final class AlertWebhook: Sendable {
  struct Endpoint: Equatable, Sendable {
    var host: String
    var port: UInt16
    var path: String
  }

  let endpoint: Endpoint
  let url: String
  /// What the documents are, in log lines.
  let what: String
  private let logger: Logger
  private let queue = Mutex<[(body: [UInt8], attempt: Int)]>([])
  private let wake = DispatchSemaphore(value: 0)
  private let counters = Mutex<(delivered: Int, dropped: Int)>((0, 0))
  static let maxQueued = 1_000
  static let retryDelays: [Double] = [1, 2, 4, 8, 16]

  /// Throws INVALID_ARGUMENT for anything but `http://host[:port][/path]`, naming `flag`.
  init(url: String, logger: Logger, flag: String = "--alert-webhook", what: String = "alert webhook") throws(StrataError) {
    self.url = url
    self.endpoint = try Self.parse(url, flag: flag)
    self.what = what
    self.logger = logger
    let thread = Thread { [self] in self.loop() }
    thread.name = "strata-alert-webhook"
    thread.start()
  }

  static func parse(_ url: String, flag: String = "--alert-webhook") throws(StrataError) -> Endpoint {
    guard url.hasPrefix("http://") else {
      throw .invalidArgument(
        "\(flag) '\(url)' must be an http:// URL (https is not supported: put a TLS-terminating proxy in front)")
    }
    let rest = url.dropFirst("http://".count)
    let hostPort = rest.prefix { $0 != "/" }
    let path = rest.dropFirst(hostPort.count)
    var host = String(hostPort)
    var port: UInt16 = 80
    if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]") {
      guard let p = UInt16(hostPort[hostPort.index(after: colon)...]), p > 0 else {
        throw .invalidArgument("\(flag) '\(url)' has an invalid port")
      }
      port = p
      host = String(hostPort[..<colon])
    }
    guard !host.isEmpty else { throw .invalidArgument("\(flag) '\(url)' names no host") }
    return Endpoint(host: host, port: port, path: path.isEmpty ? "/" : String(path))
  }

  /// Documents delivered and dropped so far.
  var delivered: Int { counters.withLock { $0.delivered } }
  var dropped: Int { counters.withLock { $0.dropped } }

  /// Queues `document` for delivery (never blocks).
  func post(_ document: [UInt8]) {
    let overflow = queue.withLock { q -> Bool in
      q.append((document, 0))
      if q.count > Self.maxQueued {
        q.removeFirst()
        return true
      }
      return false
    }
    if overflow {
      counters.withLock { $0.dropped += 1 }
      logger.error("\(what) queue full: dropped the oldest document", metadata: ["strata.webhook": "\(url)"])
    }
    wake.signal()
  }

  private func loop() {
    while true {
      wake.wait()
      while let (body, attempt) = queue.withLock({ q in q.isEmpty ? nil : q.removeFirst() }) {
        do {
          try deliver(body)
          counters.withLock { $0.delivered += 1 }
        } catch {
          if attempt < Self.retryDelays.count {
            logger.warning(
              "\(what) failed; retrying",
              metadata: ["strata.webhook": "\(url)", "strata.error": "\(error)", "strata.retry_in_s": "\(Self.retryDelays[attempt])"])
            Thread.sleep(forTimeInterval: Self.retryDelays[attempt])
            queue.withLock { $0.insert((body, attempt + 1), at: 0) }
          } else {
            counters.withLock { $0.dropped += 1 }
            logger.error("\(what) failed; document dropped", metadata: ["strata.webhook": "\(url)", "strata.error": "\(error)"])
          }
        }
      }
    }
  }

  struct DeliveryError: Error, CustomStringConvertible {
    var description: String
  }

  /// One POST; throws unless the endpoint answers 2xx.
  private func deliver(_ body: [UInt8]) throws {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var info: UnsafeMutablePointer<addrinfo>?
    let host = endpoint.host.hasPrefix("[") ? String(endpoint.host.dropFirst().dropLast()) : endpoint.host
    guard getaddrinfo(host, String(endpoint.port), &hints, &info) == 0, let first = info else {
      throw DeliveryError(description: "cannot resolve \(endpoint.host)")
    }
    defer { freeaddrinfo(info) }
    let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
    guard fd >= 0 else { throw DeliveryError(description: "socket: \(errno)") }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
      throw DeliveryError(description: "connect to \(endpoint.host):\(endpoint.port): \(String(cString: strerror(errno)))")
    }
    let head =
      "POST \(endpoint.path) HTTP/1.1\r\nHost: \(endpoint.host):\(endpoint.port)\r\nContent-Type: application/json\r\n"
      + "Content-Length: \(body.count)\r\nConnection: close\r\nUser-Agent: strata\r\n\r\n"
    let request = Array(head.utf8) + body
    var sent = 0
    while sent < request.count {
      let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
      guard n > 0 else { throw DeliveryError(description: "send: \(String(cString: strerror(errno)))") }
      sent += n
    }
    var answer: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1024)
    while !answer.contains(10) {
      let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      guard n > 0 else { break }
      answer += buffer[0..<n]
    }
    let statusLine = String(decoding: answer.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
    let parts = statusLine.split(separator: " ")
    guard parts.count >= 2, let code = Int(parts[1]) else {
      throw DeliveryError(description: "no HTTP answer from \(url)")
    }
    guard (200..<300).contains(code) else { throw DeliveryError(description: "\(url) answered \(statusLine)") }
  }
}
