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

  public init(name: String, dtype: DType, defaultValue: FeatureValue? = nil, description: String = "") {
    self.name = name
    self.dtype = dtype
    self.defaultValue = defaultValue
    self.description = description
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

  public init(
    name: String,
    entityType: EntityType = .user,
    description: String = "",
    owner: String = "",
    refreshIntervalSeconds: Int64? = nil,
    maxAgeSeconds: Int64? = nil,
    features: [FeatureSpec]
  ) {
    self.name = name
    self.entityType = entityType
    self.description = description
    self.owner = owner
    self.refreshIntervalSeconds = refreshIntervalSeconds
    self.maxAgeSeconds = maxAgeSeconds
    self.features = features
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
}
