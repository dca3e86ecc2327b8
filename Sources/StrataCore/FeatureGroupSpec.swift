/// The kind of entity a group's rows describe.
public enum EntityType: String, Hashable, Sendable, CaseIterable {
  case user = "USER"
  case item = "ITEM"
  case session = "SESSION"
}

/// One feature of a group definition.
public struct FeatureSpec: Hashable, Sendable {
  public var name: String
  public var dtype: DType
  /// Returned (status DEFAULTED, or EXPIRED) when no value is stored; must conform to `dtype`.
  public var defaultValue: FeatureValue?
  public var description: String
  /// Set exactly for the features of an aggregate group (`GroupSource.aggregates`): how the value is
  /// computed from the stream. `dtype` is then the function's result type over the field (applying
  /// the group sets it: INT for count, FLOAT for avg, the field's type otherwise).
  public var aggregation: FeatureAggregation?

  public init(
    name: String, dtype: DType, defaultValue: FeatureValue? = nil, description: String = "",
    aggregation: FeatureAggregation? = nil
  ) {
    self.name = name
    self.dtype = dtype
    self.defaultValue = defaultValue
    self.description = description
    self.aggregation = aggregation
  }
}

/// A feature group definition as a user writes it (YAML or RPC). Registering a changed definition
/// creates a new version; see `Catalog`.
public struct FeatureGroupSpec: Hashable, Sendable {
  public var name: String
  public var entityType: EntityType
  public var description: String
  public var owner: String
  /// Expected time between refreshes, in seconds; `nil` = not declared.
  public var refreshIntervalSeconds: Int64?
  /// Values with `event < reference - maxAge` are EXPIRED; `nil` = never expire.
  public var maxAgeSeconds: Int64?
  /// In definition order; this order is the column order of `group:*` and of the row encoding.
  public var features: [FeatureSpec]
  /// Rows written to the group (the default), an event stream, or aggregates of a stream.
  public var source: GroupSource
  /// Streams only: events older than this (in event time) are deleted; nil = kept forever. At least
  /// the largest window of every aggregate over the stream (applying an aggregate group checks).
  public var retentionSeconds: Int64?
  /// The longest retention accepted: 100 years (36,500 days). Longer ones would overflow timestamp
  /// arithmetic; a stream that keeps events forever omits its retention.
  public static let maxRetentionSeconds: Int64 = 36_500 * 86_400
  /// Where the values come from (source, transformation, upstream groups, pipeline); empty when not
  /// declared.
  public var lineage: Lineage

  public init(
    name: String,
    entityType: EntityType = .user,
    description: String = "",
    owner: String = "",
    refreshIntervalSeconds: Int64? = nil,
    maxAgeSeconds: Int64? = nil,
    features: [FeatureSpec],
    source: GroupSource = .rows,
    retentionSeconds: Int64? = nil,
    lineage: Lineage = Lineage()
  ) {
    self.name = name
    self.entityType = entityType
    self.description = description
    self.owner = owner
    self.refreshIntervalSeconds = refreshIntervalSeconds
    self.maxAgeSeconds = maxAgeSeconds
    self.features = features
    self.source = source
    self.retentionSeconds = retentionSeconds
    self.lineage = lineage
  }

  public static let maxFeatures = 4_096
  public static let maxNameLength = 63

  /// Whether `name` is a valid group or feature name: a lowercase ASCII letter, then lowercase letters,
  /// digits or `_`, at most 63 characters in all.
  public static func isValidName(_ name: String) -> Bool {
    let u = name.utf8
    guard let first = u.first, u.count <= maxNameLength, first >= 97, first <= 122 else { return false }
    return u.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 }
  }

  /// Checks everything that can be checked without the catalog. Throws INVALID_ARGUMENT with a message
  /// naming the group and the offending field.
  public func validate() throws(StrataError) {
    guard Self.isValidName(name) else {
      throw .invalidArgument(
        "group name '\(name)' is invalid: use a lowercase letter followed by lowercase letters, digits or '_' (at most \(Self.maxNameLength) characters)"
      )
    }
    guard !features.isEmpty else { throw .invalidArgument("group '\(name)' has no features; define at least one") }
    guard features.count <= Self.maxFeatures else {
      throw .invalidArgument("group '\(name)' has \(features.count) features; at most \(Self.maxFeatures) are allowed")
    }
    if let r = refreshIntervalSeconds, r <= 0 {
      throw .invalidArgument("group '\(name)': refresh interval must be positive, got \(r) seconds")
    }
    if let r = retentionSeconds {
      guard source == .events else {
        throw .invalidArgument("group '\(name)': only a stream has a retention (its events are deleted after it); remove 'retention'")
      }
      guard r >= 60 else { throw .invalidArgument("stream '\(name)': retention must be at least 1 minute, got \(r) seconds") }
      guard r <= Self.maxRetentionSeconds else {
        throw .invalidArgument(
          "stream '\(name)': retention must be at most 100 years (\(Self.maxRetentionSeconds) seconds), got \(r) seconds; omit 'retention' to keep events forever")
      }
    }
    try lineage.validate(group: name)
    if let m = maxAgeSeconds, m <= 0 {
      throw .invalidArgument("group '\(name)': max age must be positive (omit it for no expiry), got \(m) seconds")
    }
    var seen = Set<String>()
    for feature in features {
      guard Self.isValidName(feature.name) else {
        throw .invalidArgument(
          "group '\(name)': feature name '\(feature.name)' is invalid: use a lowercase letter followed by lowercase letters, digits or '_' (at most \(Self.maxNameLength) characters)"
        )
      }
      guard seen.insert(feature.name).inserted else {
        throw .invalidArgument("group '\(name)': feature '\(feature.name)' is defined more than once")
      }
      if case .embedding(let d) = feature.dtype, !(1...DType.maxEmbeddingDimension).contains(d) {
        throw .invalidArgument(
          "group '\(name)': feature '\(feature.name)' has embedding dimension \(d); it must be between 1 and \(DType.maxEmbeddingDimension)"
        )
      }
      try validateSource(of: feature)
      if let d = feature.defaultValue {
        switch d.conformance(to: feature.dtype) {
        case .ok: break
        case .typeMismatch:
          throw .invalidArgument(
            "group '\(name)': default of feature '\(feature.name)' is \(d.kindName) but the feature is \(feature.dtype)"
          )
        case .nonFinite:
          throw .invalidArgument("group '\(name)': default of feature '\(feature.name)' is NaN or infinite")
        case .wrongDimension(let got, let expected):
          throw .invalidArgument(
            "group '\(name)': default of feature '\(feature.name)' has \(got) elements; the embedding dimension is \(expected)"
          )
        }
      }
    }
  }

  /// The rules `source` sets for one feature: a stream's fields are FLOAT, INT or STRING without a
  /// default (an event carries its own values); an aggregate group's features each have an
  /// aggregation (and only they do); an aggregate group declares no max age (a window is its age).
  private func validateSource(of feature: FeatureSpec) throws(StrataError) {
    switch source {
    case .rows:
      if feature.aggregation != nil {
        throw .invalidArgument(
          "group '\(name)': feature '\(feature.name)' has an aggregation, but the group reads no stream; set the group's stream")
      }
    case .events:
      if feature.aggregation != nil {
        throw .invalidArgument("stream '\(name)': field '\(feature.name)' has an aggregation; a stream's fields are plain values")
      }
      guard AggregateFieldType(feature.dtype) != nil else {
        throw .invalidArgument("stream '\(name)': field '\(feature.name)' is \(feature.dtype); a stream's fields are FLOAT, INT or STRING")
      }
      if feature.defaultValue != nil {
        throw .invalidArgument("stream '\(name)': field '\(feature.name)' has a default; a stream's fields take none (set defaults on the aggregates)")
      }
    case .aggregates(let stream, _):
      guard feature.aggregation != nil else {
        throw .invalidArgument(
          "group '\(name)': feature '\(feature.name)' has no aggregation; every feature of a group over stream '\(stream)' needs field, function and window")
      }
      if maxAgeSeconds != nil {
        throw .invalidArgument("group '\(name)': an aggregate group takes no max age (each window bounds the events it reads)")
      }
      guard FeatureGroupSpec.isValidName(stream) else {
        throw .invalidArgument("group '\(name)': stream name '\(stream)' is invalid")
      }
    }
  }
}
