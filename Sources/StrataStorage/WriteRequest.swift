public import StrataCore

/// One write batch as a client sends it, before validation.
public struct WriteRequest: Sendable, Equatable {
  public var group: String
  /// nil = the newest ACTIVE version.
  public var version: Int?
  /// The columns of every row's `values`, by feature name.
  public var features: [String]
  public var rows: [Row]
  /// The rows are events pushed to a stream (`PushEvents`): `group` must then be a stream, and a
  /// stream accepts no other client writes (internode copies of its events are ordinary copies).
  public var events: Bool
  /// Who wrote the batch (nil: not named); recorded in the write log of the node that accepts it.
  public var writer: WriterIdentity?

  public struct Row: Sendable, Equatable {
    public var entityID: String
    public var eventTime: Timestamp
    /// nil = the server's clock at commit.
    public var createdTime: Timestamp?
    /// Parallel to `WriteRequest.features`; nil is a null.
    public var values: [FeatureValue?]
    /// Set only on copies of rows another node accepted (internode writes); clients leave it nil.
    public var writeID: WriteID?

    public init(
      entityID: String, eventTime: Timestamp, createdTime: Timestamp? = nil, values: [FeatureValue?], writeID: WriteID? = nil
    ) {
      self.entityID = entityID
      self.eventTime = eventTime
      self.createdTime = createdTime
      self.values = values
      self.writeID = writeID
    }
  }

  public init(group: String, version: Int? = nil, features: [String], rows: [Row], events: Bool = false, writer: WriterIdentity? = nil) {
    self.group = group
    self.version = version
    self.features = features
    self.rows = rows
    self.events = events
    self.writer = writer
  }
}

/// One label row of a historical (point-in-time) read.
public struct LabelRow: Sendable, Equatable {
  public var entityID: String
  public var time: Timestamp
  /// As-of-known-time: ignore rows created after this time. nil = every stored row counts.
  public var knownAt: Timestamp?

  public init(entityID: String, time: Timestamp, knownAt: Timestamp? = nil) {
    self.entityID = entityID
    self.time = time
    self.knownAt = knownAt
  }
}
