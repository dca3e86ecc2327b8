internal import GRPCCore
internal import GRPCNIOTransportHTTP2
internal import Synchronization

/// The HTTP/2 connection that unary calls to one etcd endpoint use, replaced by a fresh one before
/// etcd's PINGs make swift-nio-http2 close it.
///
/// Why: etcd's gRPC server (grpc-go) estimates bandwidth by answering the data of a request with a
/// PING whenever none of its PINGs is outstanding, so nearly every request brings one PING back.
/// swift-nio-http2 1.46 counts the PING and SETTINGS frames a connection receives and closes the
/// connection with ENHANCE_YOUR_CALM when more than 200 arrive within 30 s (its
/// `controlFrameRateLimit`; grpc-swift-nio-transport 2.9.2 offers no way to raise it). Every call open
/// on the connection then fails with "Stream unexpectedly closed", which for a write means "it may or
/// may not have been applied". A node sending more than about 6 requests a second to etcd (a membership
/// change's driver, keyed writes) lost its connection every 30 s that way.
///
/// So the calls started on a connection are counted in a sliding 30 s window; at `callsPerWindow` the
/// next call goes to a new connection and the old one is shut down gracefully (its open calls finish
/// on it). Long-lived streams (watches, lease keep-alives) use a separate connection, whose request
/// rate is a few per second at most (a keep-alive renewal every TTL/3 per lease).
final class EtcdCallConnection: Sendable {
  typealias Client = GRPCClient<HTTP2ClientTransport.Posix>

  /// Calls started on one connection within `window` before the next call opens a new connection:
  /// each can bring at most two PINGs back, well under swift-nio-http2's 200.
  static let callsPerWindow = 80
  static let window: Duration = .seconds(30)

  private struct State {
    var current: Client
    /// When the calls on `current` started, oldest first, within the last `window`.
    var starts: [ContinuousClock.Instant] = []
    var replaced = 0
    var shutDown = false
  }

  private let makeClient: @Sendable () throws -> Client
  private let state: Mutex<State>
  /// Every client made, for `run()` to run its connections.
  private let clients: AsyncStream<Client>
  private let newClient: AsyncStream<Client>.Continuation

  init(_ makeClient: @escaping @Sendable () throws -> Client) throws {
    self.makeClient = makeClient
    let first = try makeClient()
    state = Mutex(State(current: first))
    (clients, newClient) = AsyncStream.makeStream(of: Client.self)
    newClient.yield(first)
  }

  /// The client for one unary call starting now (a new connection's when the current one took its
  /// share of calls).
  func client(now: ContinuousClock.Instant = .now) -> Client {
    let (client, retired) = state.withLock { s -> (Client, Client?) in
      while let first = s.starts.first, now - first > Self.window { s.starts.removeFirst() }
      var retired: Client?
      if s.starts.count >= Self.callsPerWindow, !s.shutDown, let fresh = try? makeClient() {
        retired = s.current
        s.current = fresh
        s.starts.removeAll()
        s.replaced += 1
        newClient.yield(fresh)
      }
      s.starts.append(now)
      return (s.current, retired)
    }
    retired?.beginGracefulShutdown()
    return client
  }

  /// How many times the connection was replaced.
  var replacements: Int { state.withLock { $0.replaced } }

  /// Runs the connections of every client made, until `shutdown()` and until their open calls ended.
  func run() async {
    await withDiscardingTaskGroup { group in
      for await client in clients {
        group.addTask { try? await client.runConnections() }
      }
    }
  }

  /// No new connections; the current one closes once its open calls ended.
  func shutdown() {
    let current = state.withLock { s -> Client in
      s.shutDown = true
      return s.current
    }
    newClient.finish()
    current.beginGracefulShutdown()
  }
}
