/// A saved point-in-time export: the manifest of the training data it produced, so that a model can be
/// tied to exactly what it was trained on. The data itself stays with the client; the manifest says
/// how to make it again (the same labels against the same versions, with `known_at` where it was used).
public struct TrainingSet: Hashable, Sendable {
  /// Unique in the registry (`RegistryName` rules); saving a name twice is ALREADY_EXISTS.
  public var name: String
  /// The export's columns in order, resolved and pinned: `group@V:feature`.
  public var features: [FeatureRef]
  /// What the label input was (`LabelDigest`).
  public var labels: LabelSummary
  public var createdAt: Timestamp
  /// Who made it, as the client declares it (the CLI's and the SDK's current user by default).
  public var createdBy: String
  public var description: String

  public static let maxDescriptionBytes = 4_096

  public init(
    name: String, features: [FeatureRef], labels: LabelSummary, createdAt: Timestamp, createdBy: String, description: String = ""
  ) {
    self.name = name
    self.features = features
    self.labels = labels
    self.createdAt = createdAt
    self.createdBy = createdBy
    self.description = description
  }

  /// The distinct group versions it reads, as `group@V`, in order of first appearance.
  public var groupVersions: [String] { features.groupVersions }

  /// Whether one of its columns reads `group@version`.
  public func reads(group: String, version: Int) -> Bool {
    features.contains { $0.group == group && $0.version == version }
  }

  /// INVALID_ARGUMENT for a bad name, an over-long description or creator.
  public func validate() throws(StrataError) {
    try RegistryName.check(name, what: "training set")
    guard description.utf8.count <= Self.maxDescriptionBytes else {
      throw .invalidArgument(
        "training set '\(name)': the description is \(description.utf8.count) bytes; at most \(Self.maxDescriptionBytes) are allowed")
    }
    guard createdBy.utf8.count <= StatusNote.maxByBytes else {
      throw .invalidArgument("training set '\(name)': created_by is \(createdBy.utf8.count) bytes; at most \(StatusNote.maxByBytes) are allowed")
    }
  }
}
