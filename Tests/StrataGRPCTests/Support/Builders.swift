import StrataCore
import StrataProto
import SwiftProtobuf

// Short constructors for the wire messages the tests send, and the standard test group.

extension Strata_V1_Value {
  static func float(_ v: Double) -> Self { .with { $0.floatValue = v } }
  static func int(_ v: Int64) -> Self { .with { $0.intValue = v } }
  static func string(_ v: String) -> Self { .with { $0.stringValue = v } }
  static func embedding(_ v: [Float]) -> Self { .with { $0.embeddingValue = .with { $0.values = v } } }
  /// An unset Value: a null.
  static var null: Self { Self() }
}

func featureSpec(
  _ name: String, _ dtype: Strata_V1_DType, dim: UInt32 = 0, default value: Strata_V1_Value? = nil
) -> Strata_V1_FeatureSpec {
  .with {
    $0.name = name
    $0.dtype = dtype
    $0.embeddingDim = dim
    if let value { $0.defaultValue = value }
    $0.description_p = "feature \(name)"
  }
}

func groupSpec(
  _ name: String, maxAgeSeconds: Int64 = 0, entityType: Strata_V1_EntityType = .user,
  _ features: [Strata_V1_FeatureSpec]
) -> Strata_V1_FeatureGroupSpec {
  .with {
    $0.name = name
    $0.entityType = entityType
    $0.description_p = "group \(name)"
    $0.owner = "tests"
    $0.maxAgeSeconds = maxAgeSeconds
    $0.features = features
  }
}

/// `user_stats`: score FLOAT, clicks INT (default 0), country STRING, emb EMBEDDING(3).
func userStatsSpec(maxAgeSeconds: Int64 = 0) -> Strata_V1_FeatureGroupSpec {
  groupSpec(
    "user_stats", maxAgeSeconds: maxAgeSeconds,
    [
      featureSpec("score", .float),
      featureSpec("clicks", .int, default: .int(0)),
      featureSpec("country", .string),
      featureSpec("emb", .embedding, dim: 3),
    ])
}

func writeRow(
  _ entityID: String, _ event: Timestamp, created: Timestamp? = nil, _ values: [Strata_V1_Value]
) -> Strata_V1_WriteRow {
  .with {
    $0.entityID = entityID
    $0.eventTimestampMicros = event.microseconds
    if let created { $0.createdTimestampMicros = created.microseconds }
    $0.values = values
  }
}

func writeBatch(
  _ group: String, version: UInt32 = 0, features: [String], rows: [Strata_V1_WriteRow]
) -> Strata_V1_WriteFeaturesRequest {
  .with {
    $0.group = group
    $0.version = version
    $0.features = features
    $0.rows = rows
  }
}

func label(_ entityID: String, _ time: Timestamp) -> Strata_V1_LabelRow {
  .with {
    $0.entityID = entityID
    $0.labelTimestampMicros = time.microseconds
  }
}

func historicalRequest(features: [String] = [], labels: [Strata_V1_LabelRow]) -> Strata_V1_GetHistoricalFeaturesRequest {
  .with {
    $0.features = features
    $0.labels = labels
  }
}

/// A wire result, for comparing whole results at once.
func result(_ value: Strata_V1_Value?, _ status: Strata_V1_ValueStatus, event: Timestamp?) -> Strata_V1_FeatureResult {
  .with {
    if let value { $0.value = value }
    $0.status = status
    $0.eventTimestampMicros = event?.microseconds ?? 0
  }
}

extension Timestamp {
  /// `TestClock.start` shifted by `seconds` (negative = in the past).
  static func t0(_ seconds: Int64, micros: Int64 = 0) -> Timestamp {
    TestClock.start.adding(microseconds: seconds * 1_000_000 + micros)
  }
}

/// `read` again (every 10 ms, up to `timeout`) until `done` holds for its result; returns the last
/// result. For what a node finishes after the call that caused it returned (an owner's commit racing
/// a coordinator's timeout), where a loaded 2-core machine may take seconds.
func settled<T>(
  timeout: Duration = .seconds(15), _ read: () async throws -> T, until done: (T) -> Bool
) async throws -> T {
  let deadline = ContinuousClock.now + timeout
  var value = try await read()
  while !done(value), ContinuousClock.now < deadline {
    try await Task.sleep(for: .milliseconds(10))
    value = try await read()
  }
  return value
}
