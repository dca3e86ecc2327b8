internal import NIOCore

/// Framing of the lookup lane (see `Shard.GetLookupLane` in `Protos/strata/v1/shard.proto`): each frame
/// is a 4-byte big-endian length, then that many bytes of one protobuf message.
enum LookupLaneFrames {
  /// Frames larger than this close the connection: the peer is not speaking the lane's protocol (a
  /// lookup of the largest allowed size is a few MiB).
  static let maxFrameBytes = 256 << 20

  /// Appends one frame holding `message` to `buffer`.
  static func write(_ message: some Collection<UInt8>, to buffer: inout ByteBuffer) {
    buffer.writeInteger(UInt32(message.count))
    buffer.writeBytes(message)
  }
}

/// Cuts the byte stream into frames, each passed on as a `ByteBuffer` (the message bytes, length
/// prefix removed). A frame over `maxFrameBytes` is an error, which closes the connection.
struct LookupLaneFrameDecoder: ByteToMessageDecoder {
  typealias InboundOut = ByteBuffer

  struct OversizedFrame: Error, CustomStringConvertible {
    let bytes: Int
    var description: String { "a lookup lane frame of \(bytes) bytes (at most \(LookupLaneFrames.maxFrameBytes))" }
  }

  mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
    guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
    guard Int(length) <= LookupLaneFrames.maxFrameBytes else { throw OversizedFrame(bytes: Int(length)) }
    guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
    buffer.moveReaderIndex(forwardBy: 4)
    let frame = buffer.readSlice(length: Int(length))!
    context.fireChannelRead(Self.wrapInboundOut(frame))
    return .continue
  }

  mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
    while try decode(context: context, buffer: &buffer) == .continue {}
    return .needMoreData
  }
}
