internal import StrataCore
internal import SwiftProtobuf

/// The node's request message limit, enforced by the service so that callers get RESOURCE_EXHAUSTED
/// with a message, not a reset stream.
///
/// grpc-swift-nio-transport resets the stream (RST_STREAM, no status) when a message exceeds its
/// `maxRequestPayloadSize`, so the node configures the transport with `transportLimit` (4x the limit)
/// and checks the limit here. The exact serialized size is computed only when a cheap lower-bound
/// estimate reaches half the limit, so normal-sized messages cost nothing extra. Messages beyond
/// `transportLimit` are still reset by the transport.
public struct RequestSizeLimit: Sendable {
  public var maxBytes: Int

  public init(maxBytes: Int) {
    self.maxBytes = maxBytes
  }

  public var transportLimit: Int { maxBytes > Int.max / 4 ? Int.max : maxBytes * 4 }

  /// Throws RESOURCE_EXHAUSTED when a message of `size` serialized bytes exceeds `maxBytes`.
  func check(size: Int, what: String) throws(StrataError) {
    guard size <= maxBytes else {
      throw .resourceExhausted(
        "\(what) is \(size) bytes; the node accepts messages of at most \(maxBytes) bytes (--max-request-bytes): send smaller batches")
    }
  }

  /// Throws RESOURCE_EXHAUSTED when `message` serializes to more than `maxBytes`.
  /// `estimate` must not exceed the real serialized size (it decides whether to measure).
  func check(_ message: some SwiftProtobuf.Message, estimate: Int, what: String) throws(StrataError) {
    guard estimate * 2 >= maxBytes else { return }
    try check(size: (try? message.serializedBytes() as [UInt8])?.count ?? estimate, what: what)
  }
}
