/// What a client asks to register as a model version (`Catalog.registerModel`).
public struct ModelRegistration: Hashable, Sendable {
  public var name: String
  /// nil: one more than the newest registered version (1 for a new model).
  public var version: Int?
  /// The model's inputs, in the forms `FeatureRef` takes; unpinned references are pinned to the version
  /// they resolve to now. Empty: the training set's columns (a training set is then required).
  public var features: [FeatureRef]
  /// A saved training set the model was trained on; empty for none.
  public var trainingSet: String
  public var description: String
  public var registeredBy: String
  /// Allows pinning a DEPRECATED version (refused otherwise, as for new training exports).
  public var force: Bool

  public static let maxDescriptionBytes = 4_096

  public init(
    name: String, version: Int? = nil, features: [FeatureRef] = [], trainingSet: String = "", description: String = "",
    registeredBy: String = "", force: Bool = false
  ) {
    self.name = name
    self.version = version
    self.features = features
    self.trainingSet = trainingSet
    self.description = description
    self.registeredBy = registeredBy
    self.force = force
  }

  /// INVALID_ARGUMENT for what can be checked without the registry.
  public func validate() throws(StrataError) {
    try RegistryName.check(name, what: "model")
    if let version, version < 1 {
      throw .invalidArgument("model '\(name)': version \(version) is not valid; versions are 1, 2, 3, ... (or unset for the next one)")
    }
    guard description.utf8.count <= Self.maxDescriptionBytes else {
      throw .invalidArgument(
        "model '\(name)': the description is \(description.utf8.count) bytes; at most \(Self.maxDescriptionBytes) are allowed")
    }
    guard registeredBy.utf8.count <= StatusNote.maxByBytes else {
      throw .invalidArgument("model '\(name)': registered_by is \(registeredBy.utf8.count) bytes; at most \(StatusNote.maxByBytes) are allowed")
    }
    guard !features.isEmpty || !trainingSet.isEmpty else {
      throw .invalidArgument(
        "model '\(name)': name its features (group@V:feature, group:*) or the training set it was trained on (its columns are then the model's)")
    }
    guard features.count <= FeatureGroupSpec.maxFeatures else {
      throw .invalidArgument("model '\(name)' names \(features.count) features; at most \(FeatureGroupSpec.maxFeatures) are allowed")
    }
  }
}
