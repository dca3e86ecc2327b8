/// Limits a node enforces on every request. Exceeding one is RESOURCE_EXHAUSTED (or INVALID_ARGUMENT
/// for time skew), never a partial write.
public struct StoreLimits: Sendable, Equatable {
  /// Rows in one write batch (one message of the write stream).
  public var maxRowsPerBatch: Int
  /// Entities in one online lookup.
  public var maxEntitiesPerLookup: Int
  /// Feature columns (after `group:*` expansion) in one read.
  public var maxFeaturesPerRequest: Int
  /// Label rows in one message of the historical stream.
  public var maxLabelsPerMessage: Int
  /// How far in the future (server clock) an event or created timestamp may be, in microseconds.
  public var maxClockSkewMicros: Int64
  /// Bytes of one STRING value.
  public var maxStringBytes: Int

  public init(
    maxRowsPerBatch: Int = 10_000,
    maxEntitiesPerLookup: Int = 4_096,
    maxFeaturesPerRequest: Int = 1_024,
    maxLabelsPerMessage: Int = 10_000,
    maxClockSkewMicros: Int64 = 300_000_000,
    maxStringBytes: Int = 65_536
  ) {
    self.maxRowsPerBatch = maxRowsPerBatch
    self.maxEntitiesPerLookup = maxEntitiesPerLookup
    self.maxFeaturesPerRequest = maxFeaturesPerRequest
    self.maxLabelsPerMessage = maxLabelsPerMessage
    self.maxClockSkewMicros = maxClockSkewMicros
    self.maxStringBytes = maxStringBytes
  }

  public static let defaults = StoreLimits()
}
