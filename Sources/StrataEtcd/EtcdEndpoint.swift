/// One etcd member's client address, `host:port` (no scheme; plaintext HTTP/2).
public struct EtcdEndpoint: Hashable, Sendable, CustomStringConvertible {
  public var host: String
  public var port: Int

  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  /// Parses `host:port` (an `[ipv6]:port` keeps its brackets off `host`). An `http://` prefix is
  /// accepted and dropped, so etcd's own `--advertise-client-urls` values can be pasted.
  public init(parsing text: String) throws(EtcdError) {
    var rest = Substring(text.trimmingWhitespace())
    if rest.hasPrefix("http://") { rest = rest.dropFirst("http://".count) }
    if rest.hasSuffix("/") { rest = rest.dropLast() }
    guard let colon = rest.lastIndex(of: ":"), colon != rest.startIndex,
      let port = Int(rest[rest.index(after: colon)...]), (1...65_535).contains(port)
    else {
      throw EtcdError(.invalidArgument, "etcd endpoint '\(text)' is not host:port (e.g. 127.0.0.1:2379)")
    }
    var host = rest[..<colon]
    if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
    self.init(host: String(host), port: port)
  }

  /// Parses a comma-separated list (`a:2379,b:2379`), in order, without duplicates.
  public static func parseList(_ text: String) throws(EtcdError) -> [EtcdEndpoint] {
    var result: [EtcdEndpoint] = []
    for part in text.split(separator: ",") where !part.trimmingWhitespace().isEmpty {
      let endpoint = try EtcdEndpoint(parsing: String(part))
      if !result.contains(endpoint) { result.append(endpoint) }
    }
    guard !result.isEmpty else {
      throw EtcdError(.invalidArgument, "no etcd endpoint given: expected host:port[,host:port...]")
    }
    return result
  }

  public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

extension StringProtocol {
  func trimmingWhitespace() -> SubSequence {
    let start = firstIndex { !$0.isWhitespace } ?? endIndex
    let end = lastIndex { !$0.isWhitespace }.map(index(after:)) ?? start
    return self[start..<end]
  }
}
