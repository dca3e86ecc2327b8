/// Limits a node enforces on every request, never by a partial write. Exceeding a per-request
/// quantity (rows per batch, entities per lookup, feature columns, labels per message) is
/// RESOURCE_EXHAUSTED; a single malformed value (a string over `maxStringBytes`, a timestamp beyond
/// the clock skew) is INVALID_ARGUMENT, like an over-long entity id.
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
    maxLabelsPerMessage: Int = 250_000,
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
