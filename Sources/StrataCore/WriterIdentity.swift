/// Who wrote a batch: the pipeline and its run (an orchestrator's run id, say). Either may be empty;
/// a batch without an identity is recorded as written by the unnamed writer (both empty).
public struct WriterIdentity: Hashable, Sendable {
  public var pipeline: String
  public var runID: String

  public static let maxBytes = 256
  /// The unnamed writer.
  public static let none = WriterIdentity()

  public init(pipeline: String = "", runID: String = "") {
    self.pipeline = pipeline
    self.runID = runID
  }

  /// Each field at most `maxBytes` bytes of UTF-8; INVALID_ARGUMENT naming the field otherwise.
  public func validate() throws(StrataError) {
    for (field, value) in [("pipeline", pipeline), ("run id", runID)] where value.utf8.count > Self.maxBytes {
      throw .invalidArgument("the batch's writer \(field) is \(value.utf8.count) bytes; at most \(Self.maxBytes) are allowed")
    }
  }
}
