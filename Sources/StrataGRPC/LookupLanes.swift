internal import GRPCCore
internal import NIOCore
internal import NIOPosix
internal import StrataProto
internal import SwiftProtobuf
internal import Synchronization

/// A coordinator's lookup lanes: one TCP connection to each peer's `LookupLaneServer`, on which online
/// lookups are multiplexed (protocol in `Shard.GetLookupLane`, `Protos/strata/v1/shard.proto`).
///
/// - `run()` keeps a connection open to every peer: it asks the peer for its lane over gRPC
///   (`GetLookupLane`, which also checks the ring epoch), connects, and when the connection ends
///   (the peer went down or restarted) fails every lookup waiting on it with UNAVAILABLE and connects
///   again after a backoff (100 ms, growing to 1 s).
/// - `start` sends a lookup at once and returns a handle to await its answer later, so a coordinator
///   sends to every owner before it waits for any. It returns nil while the lane to that peer is not
///   connected: the caller then makes a gRPC call, which fails at once when the peer is unreachable.
///   So a lookup never waits for a lane to connect.
/// - A lookup fails DEADLINE_EXCEEDED at its deadline (checked every 10 ms), and ends when the task
///   awaiting it is cancelled; a late answer is dropped.
public final class LookupLanes: Sendable {
  /// Where `node`'s lane listens (host empty: use the node's host from the cluster file).
  public typealias Locate = @Sendable (_ node: String) async throws -> (host: String, port: Int)

  let epoch: UInt64
  let hosts: [String: String]
  let locate: Locate
  private let connections: [String: LaneConnection]

  /// - Parameters:
  ///   - epoch: this node's ring epoch, sent with every lookup.
  ///   - hosts: the host of every peer (not this node), from the cluster file.
  ///   - locate: asks a peer where its lane listens.
  public init(epoch: UInt64, hosts: [String: String], locate: @escaping Locate) {
    self.epoch = epoch
    self.hosts = hosts
    self.locate = locate
    self.connections = Dictionary(uniqueKeysWithValues: hosts.keys.map { ($0, LaneConnection(node: $0)) })
  }

  /// Sends `request` to `node` on its lane; nil when that lane is not connected now.
  func start(_ request: Strata_V1_GetOnlineFeaturesRequest, on node: String, deadline: ContinuousClock.Instant) -> PendingLaneLookup? {
    connections[node]?.start(request, epoch: epoch, deadline: deadline)
  }

  /// True when the lane to `node` is connected.
  public func isOpen(_ node: String) -> Bool {
    connections[node]?.isOpen ?? false
  }

  /// Lookups waiting for an answer from `node` (for tests).
  public func pending(on node: String) -> Int {
    connections[node]?.pendingCount ?? 0
  }

  /// Keeps a lane open to every peer until cancelled, and expires lookups past their deadline.
  public func run() async {
    await withDiscardingTaskGroup { group in
      for (node, connection) in connections {
        let host = hosts[node]!
        group.addTask { [locate] in
          var backoff = Duration.milliseconds(100)
          while !Task.isCancelled {
            let opened = await connection.serve(host: host, locate: locate)
            backoff = opened ? .milliseconds(100) : min(backoff * 1.6, .seconds(1))
            try? await Task.sleep(for: backoff)
          }
        }
      }
      group.addTask { [connections] in
        while !Task.isCancelled {
          try? await Task.sleep(for: .milliseconds(10))
          let now = ContinuousClock.now
          for connection in connections.values { connection.expire(now: now) }
        }
      }
    }
  }
}

/// A lookup sent on a lane, whose answer is awaited with `answer()`. Every handle must be awaited or
/// abandoned (`abandon()`), or its answer stays in memory until the lane closes.
struct PendingLaneLookup: Sendable {
  let connection: LaneConnection
  let id: UInt64

  /// The owner's vectors, or its error (`RPCError` with the owner's status; UNAVAILABLE when the lane
  /// closed first; DEADLINE_EXCEEDED past the deadline), or `CancellationError`.
  func answer() async throws -> EncodedVectors {
    try await connection.answer(id)
  }

  /// Forgets the lookup (its answer, if it comes, is dropped).
  func abandon() {
    connection.abandon(id)
  }
}

/// The lane to one peer: the connection while it is open, and the lookups sent on it.
final class LaneConnection: Sendable {
  typealias Outcome = Result<EncodedVectors, RPCError>

  private enum Slot {
    /// Sent; nobody waits yet.
    case sent(deadline: ContinuousClock.Instant)
    /// Sent, and a task waits.
    case awaited(CheckedContinuation<EncodedVectors, any Error>, deadline: ContinuousClock.Instant)
    /// Answered (or failed) before anyone waited.
    case done(Outcome)
  }

  private struct State {
    var channel: (any Channel)?
    var slots: [UInt64: Slot] = [:]
    var nextID: UInt64 = 1
  }

  let node: String
  private let state = Mutex(State())

  init(node: String) {
    self.node = node
  }

  var isOpen: Bool { state.withLock { $0.channel != nil } }
  var pendingCount: Int { state.withLock { $0.slots.count } }

  func start(_ request: Strata_V1_GetOnlineFeaturesRequest, epoch: UInt64, deadline: ContinuousClock.Instant) -> PendingLaneLookup? {
    guard let (id, channel) = state.withLock({ s -> (UInt64, any Channel)? in
      guard let channel = s.channel else { return nil }
      let id = s.nextID
      s.nextID += 1
      s.slots[id] = .sent(deadline: deadline)
      return (id, channel)
    }) else { return nil }
    var lookup = Strata_V1_ShardLookup()
    lookup.id = id
    lookup.request = request
    lookup.ringEpoch = epoch
    do {
      let bytes: [UInt8] = try lookup.serializedBytes()
      var buffer = channel.allocator.buffer(capacity: 4 + bytes.count)
      LookupLaneFrames.write(bytes, to: &buffer)
      // A failed write means the connection is closing: `serve` then fails the lookup.
      channel.writeAndFlush(buffer, promise: nil)
    } catch {
      finish(id, .failure(RPCError(code: .internalError, message: "could not encode a lane lookup: \(error)")))
    }
    return PendingLaneLookup(connection: self, id: id)
  }

  func answer(_ id: UInt64) async throws -> EncodedVectors {
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<EncodedVectors, any Error>) in
        let ready = state.withLock { s -> Outcome?? in
          switch s.slots[id] {
          case .sent(let deadline):
            s.slots[id] = .awaited(continuation, deadline: deadline)
            return .none
          case .done(let outcome):
            s.slots[id] = nil
            return .some(outcome)
          case .awaited:
            preconditionFailure("lane lookup \(id) awaited twice")
          case nil:
            return .some(nil)  // cancelled (or abandoned) before this
          }
        }
        switch ready {
        case .none: break
        case .some(.some(let outcome)): continuation.resume(with: outcome.mapError { $0 })
        case .some(.none): continuation.resume(throwing: CancellationError())
        }
      }
    } onCancel: {
      abandon(id, cancelled: true)
    }
  }

  func abandon(_ id: UInt64) {
    abandon(id, cancelled: false)
  }

  private func abandon(_ id: UInt64, cancelled: Bool) {
    let slot = state.withLock { $0.slots.removeValue(forKey: id) }
    if case .awaited(let continuation, _) = slot { continuation.resume(throwing: CancellationError()) }
  }

  /// Records the outcome of lookup `id` (dropped when nobody expects it any more).
  func finish(_ id: UInt64, _ outcome: Outcome) {
    let waiting = state.withLock { s -> CheckedContinuation<EncodedVectors, any Error>? in
      switch s.slots[id] {
      case .sent:
        s.slots[id] = .done(outcome)
        return nil
      case .awaited(let continuation, _):
        s.slots[id] = nil
        return continuation
      case .done, nil:
        return nil
      }
    }
    waiting?.resume(with: outcome.mapError { $0 })
  }

  /// Fails lookups whose deadline passed.
  func expire(now: ContinuousClock.Instant) {
    let expired = state.withLock { s -> [UInt64] in
      s.slots.compactMap { id, slot in
        switch slot {
        case .sent(let d) where d <= now, .awaited(_, let d) where d <= now: id
        default: nil
        }
      }
    }
    for id in expired {
      finish(id, .failure(RPCError(code: .deadlineExceeded, message: "no answer in time on the lookup lane")))
    }
  }

  /// Connects and serves the lane until it closes (or the task is cancelled); true if it was open.
  func serve(host: String, locate: LookupLanes.Locate) async -> Bool {
    let channel: any Channel
    do {
      let lane = try await locate(node)
      channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelOption(.tcpOption(.tcp_nodelay), value: 1)
        .connectTimeout(.seconds(2))
        .channelInitializer { [self] channel in
          channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LookupLaneFrameDecoder()))
            try channel.pipeline.syncOperations.addHandler(LookupLaneClientHandler(connection: self))
          }
        }
        .connect(host: lane.host.isEmpty ? host : lane.host, port: lane.port).get()
    } catch {
      return false
    }
    state.withLock { $0.channel = channel }
    await withTaskCancellationHandler {
      try? await channel.closeFuture.get()
    } onCancel: {
      channel.close(promise: nil)
    }
    // Closed: no new lookups on it; the sent ones fail (the caller reports the node UNAVAILABLE).
    let sent = state.withLock { s -> [UInt64] in
      s.channel = nil
      return Array(s.slots.keys)
    }
    for id in sent { finish(id, .failure(RPCError(code: .unavailable, message: "the lookup lane to \(node) closed"))) }
    return true
  }
}

/// Reads a lane's answers and hands each to its lookup.
final class LookupLaneClientHandler: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer

  let connection: LaneConnection

  init(connection: LaneConnection) {
    self.connection = connection
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let frame = unwrapInboundIn(data)
    let bytes = Array(frame.readableBytesView)
    do {
      let (id, outcome) = try Self.parse(bytes)
      connection.finish(id, outcome)
    } catch {
      context.close(promise: nil)  // not a lane answer: the lane is broken
    }
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    context.close(promise: nil)
  }

  /// A `ShardLookupAnswer`: its id, and its vectors or its error.
  static func parse(_ bytes: [UInt8]) throws(RPCError) -> (UInt64, LaneConnection.Outcome) {
    var reader = WireReader(bytes, in: bytes.indices)
    var id: UInt64 = 0
    var response: Range<Int>? = nil
    var code: UInt64 = 0
    var message: Range<Int>? = nil
    while !reader.atEnd {
      let (field, wire) = try reader.tag()
      switch (field, wire) {
      case (1, 0): id = try reader.varint()
      case (2, 2): response = try reader.lengthDelimited()
      case (3, 0): code = try reader.varint()
      case (4, 2): message = try reader.lengthDelimited()
      default: try reader.skip(wire: wire)
      }
    }
    guard code == 0 else {
      let status = Status.Code(rawValue: Int(truncatingIfNeeded: code)).flatMap { RPCError.Code($0) } ?? .unknown
      let text = message.map { String(decoding: bytes[$0], as: UTF8.self) } ?? ""
      return (id, .failure(RPCError(code: status, message: text)))
    }
    do {
      return (id, .success(try EncodedVectors(response: bytes, in: response ?? 0..<0)))
    } catch {
      return (id, .failure(error))
    }
  }
}
