public import GRPCCore
internal import NIOCore
internal import NIOPosix
public import StrataProto
internal import SwiftProtobuf
internal import Synchronization

/// The owner's side of the lookup lane: a plain TCP listener on which coordinators send online
/// lookups (`ShardLookup` frames) and get `ShardLookupAnswer` frames back (protocol in
/// `Shard.GetLookupLane`, `Protos/strata/v1/shard.proto`).
///
/// A lookup is answered on the network thread that read it, as soon as it is read: lookups read the
/// in-memory online table, so that takes microseconds, and it avoids the hand-overs between network
/// threads and Swift tasks that a gRPC call makes on each side. Lookups too large to answer inline
/// (see `FeatureStore.onlineInline`) are answered from a task, and their answers may overtake or
/// follow others: the coordinator matches answers to lookups by id.
///
/// - A lookup made with another ring epoch is answered FAILED_PRECONDITION (the stream goes on).
/// - A frame that is not a `ShardLookup` closes the connection.
public final class LookupLaneServer: Sendable {
  /// What the lane answers to one lookup.
  public enum Answer: Sendable {
    /// Answered now, on the network thread.
    case now(Result<[UInt8], RPCError>)
    /// Answered when this finishes (on a task).
    case later(@Sendable () async -> Result<[UInt8], RPCError>)
  }

  /// Answers one lookup: an encoded `GetOnlineFeaturesResponse` without columns, or its error.
  public typealias Answerer = @Sendable (Strata_V1_GetOnlineFeaturesRequest) -> Answer

  let window: EpochWindow
  let answer: Answerer
  private let answeredCount = Atomic<UInt64>(0)
  private struct State {
    var listener: (any Channel)?
    var connections: [ObjectIdentifier: any Channel] = [:]
    var closed = false
  }
  private let state = Mutex(State())

  /// - Parameters:
  ///   - epoch: this node's ring epoch; lookups made with another one are refused.
  ///   - answer: computes the answers (see `answerer(for:)` for a node's own).
  public init(epoch: UInt64, answer: @escaping Answerer) {
    self.window = EpochWindow(epoch: epoch)
    self.answer = answer
  }

  /// - Parameters:
  ///   - window: the ring epochs this node accepts; lookups made with another one are refused.
  public init(window: EpochWindow, answer: @escaping Answerer) {
    self.window = window
    self.answer = answer
  }

  /// This node's lookups, as `GetOnline` answers them (same checks and errors).
  public static func answerer(for service: FeatureStoreService) -> Answerer {
    { request in
      do throws(RPCError) {
        if let bytes = try service.encodedVectorsInline(request) { return .now(.success(bytes)) }
      } catch {
        return .now(.failure(error))
      }
      return .later {
        do throws(RPCError) { return .success(try await service.encodedVectors(request)) } catch { return .failure(error) }
      }
    }
  }

  /// Lookups answered on this lane since it started (refusals and errors included).
  public var answered: UInt64 { answeredCount.load(ordering: .relaxed) }

  /// The address the lane listens on, once `start` returned.
  public var address: (host: String, port: Int)? {
    state.withLock { s in
      guard let a = s.listener?.localAddress, let port = a.port else { return nil }
      return (a.ipAddress ?? "", port)
    }
  }

  /// Starts listening on `host:port` (port 0: any free port) and returns the port.
  @discardableResult
  public func start(host: String, port: Int) async throws -> Int {
    let window = self.window
    let answer: Answerer = { [weak self] request in
      self?.answeredCount.add(1, ordering: .relaxed)
      return self?.answer(request) ?? .now(.failure(RPCError(code: .unavailable, message: "the lookup lane is closed")))
    }
    let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .serverChannelOption(.backlog, value: 256)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
      .childChannelInitializer { [weak self] channel in
        self?.track(channel)
        return channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LookupLaneFrameDecoder()))
          try channel.pipeline.syncOperations.addHandler(LookupLaneServerHandler(window: window, answer: answer))
        }
      }
      .bind(host: host, port: port).get()
    let stillOpen = state.withLock { s in
      guard !s.closed else { return false }
      s.listener = listener
      return true
    }
    guard stillOpen else {
      try? await listener.close()
      throw RPCError(code: .unavailable, message: "the lookup lane was closed while starting")
    }
    return listener.localAddress?.port ?? port
  }

  /// Stops listening and closes every connection (the coordinators then fail their waiting lookups
  /// and use gRPC until the lane is back).
  public func close() async {
    let (listener, connections) = state.withLock { s in
      s.closed = true
      defer {
        s.listener = nil
        s.connections = [:]
      }
      return (s.listener, Array(s.connections.values))
    }
    try? await listener?.close()
    for c in connections { try? await c.close() }
  }

  private func track(_ channel: any Channel) {
    let key = ObjectIdentifier(channel)
    let accepted = state.withLock { s in
      guard !s.closed else { return false }
      s.connections[key] = channel
      return true
    }
    guard accepted else {
      channel.close(promise: nil)
      return
    }
    channel.closeFuture.whenComplete { [weak self] _ in
      _ = self?.state.withLock { $0.connections.removeValue(forKey: key) }
    }
  }
}

/// Answers the lookups of one lane connection.
final class LookupLaneServerHandler: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  let window: EpochWindow
  let answer: LookupLaneServer.Answerer

  init(window: EpochWindow, answer: @escaping LookupLaneServer.Answerer) {
    self.window = window
    self.answer = answer
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let frame = unwrapInboundIn(data)
    let lookup: Strata_V1_ShardLookup
    do {
      lookup = try Strata_V1_ShardLookup(serializedBytes: Array(frame.readableBytesView))
    } catch {
      context.close(promise: nil)  // not the lane's protocol
      return
    }
    let id = lookup.id
    guard window.accepts(lookup.ringEpoch) else {
      let refused = RingEpochInterceptor.mismatch(caller: lookup.ringEpoch, node: window)
      context.write(wrapOutboundOut(Self.answerFrame(id: id, .failure(refused), allocator: context.channel.allocator)), promise: nil)
      return
    }
    switch answer(lookup.request) {
    case .now(let result):
      context.write(wrapOutboundOut(Self.answerFrame(id: id, result, allocator: context.channel.allocator)), promise: nil)
    case .later(let work):
      Self.answerLater(id: id, work: work, on: context.channel)
    }
  }

  private static func answerLater(
    id: UInt64, work: @escaping @Sendable () async -> Result<[UInt8], RPCError>, on channel: any Channel
  ) {
    Task {
      let result = await work()
      channel.writeAndFlush(answerFrame(id: id, result, allocator: channel.allocator), promise: nil)
    }
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    context.flush()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    context.close(promise: nil)
  }

  /// A `ShardLookupAnswer` frame: `id`, then `response` (the encoded answer) or `code` and `message`.
  static func answerFrame(id: UInt64, _ result: Result<[UInt8], RPCError>, allocator: ByteBufferAllocator) -> ByteBuffer {
    var head = OnlineResponseEncoder.Writer(capacity: 32)
    head.tag(1, wire: 0)
    head.varint(id)
    let body: [UInt8]
    switch result {
    case .success(let response):
      // The response's tag and length go in the head; its bytes are written after it, not copied in.
      head.tag(2, wire: 2)
      head.varint(UInt64(response.count))
      body = response
    case .failure(let error):
      head.tag(3, wire: 0)
      head.varint(UInt64(error.code.rawValue))
      if !error.message.isEmpty { head.string(4, error.message) }
      body = []
    }
    var buffer = allocator.buffer(capacity: 4 + head.bytes.count + body.count)
    buffer.writeInteger(UInt32(head.bytes.count + body.count))
    buffer.writeBytes(head.bytes)
    buffer.writeBytes(body)
    return buffer
  }
}
