internal import GRPCCore
internal import GRPCNIOTransportHTTP2
internal import StrataProto
internal import ServiceLifecycle
internal import Synchronization

/// The node's internode clients, one per peer, made when a view first names the peer (a node added by
/// a membership change gets one then) and kept until the node shuts down.
final class PeerClients: Sendable {
  typealias Client = GRPCClient<HTTP2ClientTransport.Posix>
  private struct State {
    var clients: [String: (address: String, client: GRPCClient<HTTP2ClientTransport.Posix>)] = [:]
    var tasks: [Task<Void, Never>] = []
    var closed = false
  }
  private let state = Mutex(State())

  /// The client of `node` at `host:internodePort`, made (and connecting) on first use. A node whose
  /// address changed gets a new client.
  func client(for node: String, host: String, internodePort: Int) throws -> Client {
    let address = "\(host):\(internodePort)"
    if let known = state.withLock({ $0.clients[node] }), known.address == address { return known.client }
    let client = GRPCClient(
      transport: try .http2NIOPosix(
        target: .ipv4(address: host, port: internodePort),
        transportSecurity: .plaintext,
        config: .defaults {
          $0.connection.flushCoalescing = nil
          $0.http2.maxFrameSize = 1 << 20
          // Peers on a LAN: after a node comes back, reconnect within about a second (the default
          // backoff grows to two minutes, and calls fail at once until the next attempt).
          $0.backoff = .init(initial: .milliseconds(100), max: .seconds(1), multiplier: 1.6, jitter: 0.2)
        }))
    let task = Task { do { try await client.runConnections() } catch {} }
    let closed = state.withLock { s -> Bool in
      s.clients[node] = (address, client)
      s.tasks.append(task)
      return s.closed
    }
    if closed { client.beginGracefulShutdown() }
    return client
  }

  /// Shuts every client down (node shutdown).
  func close() {
    let clients = state.withLock { s -> [GRPCClient<HTTP2ClientTransport.Posix>] in
      s.closed = true
      return s.clients.values.map(\.client)
    }
    for client in clients { client.beginGracefulShutdown() }
  }
}

/// Closes the peer clients when the node shuts down.
struct PeerClientsService: Service {
  let peers: PeerClients

  func run() async throws {
    try? await gracefulShutdown()
    peers.close()
  }
}
