/// Lifecycle status of one registered model version.
public enum ModelStatus: String, Hashable, Sendable {
  /// In use (or about to be): its feature versions cannot be RETIRED, and it can be served by name.
  case active = "ACTIVE"
  /// No longer served: it holds no feature version back, and serving by it is refused.
  case archived = "ARCHIVED"
}

/// One version of a model in the registry: the exact feature columns (pinned group versions) it was
/// trained on and is served with, and the training set it was trained on, if it was saved.
public struct RegisteredModel: Hashable, Sendable {
  public var name: String
  /// 1, 2, 3, ... chosen by the registrant (or the next free number); not necessarily contiguous.
  public var version: Int
  /// The model's inputs in order, each one feature of a pinned version (`group@V:feature`).
  public var features: [FeatureRef]
  /// The training set it was trained on; empty when none was named.
  public var trainingSet: String
  public var description: String
  public var status: ModelStatus
  public var registeredAt: Timestamp
  /// Who registered it, as the client declares it.
  public var registeredBy: String
  /// Every change of `status` since registration, oldest first.
  public var statusChanges: [ModelStatusChange]

  public init(
    name: String, version: Int, features: [FeatureRef], trainingSet: String = "", description: String = "",
    status: ModelStatus = .active, registeredAt: Timestamp, registeredBy: String = "", statusChanges: [ModelStatusChange] = []
  ) {
    self.name = name
    self.version = version
    self.features = features
    self.trainingSet = trainingSet
    self.description = description
    self.status = status
    self.registeredAt = registeredAt
    self.registeredBy = registeredBy
    self.statusChanges = statusChanges
  }

  /// `name@version`.
  public var qualifiedName: String { "\(name)@\(version)" }

  /// Whether one of its features reads `group@version`.
  public func reads(group: String, version: Int) -> Bool {
    features.contains { $0.group == group && $0.version == version }
  }

  /// The distinct group versions it reads, as `group@V`, in order of first appearance.
  public var groupVersions: [String] { features.groupVersions }

  /// Same model definition (what was registered), whatever its status and history.
  func sameDefinition(as other: RegisteredModel) -> Bool {
    name == other.name && version == other.version && features == other.features && trainingSet == other.trainingSet
      && description == other.description
  }
}

/// One recorded change of a model version's status.
public struct ModelStatusChange: Hashable, Sendable {
  public var from: ModelStatus
  public var to: ModelStatus
  public var at: Timestamp
  public var by: String
  public var reason: String

  public init(from: ModelStatus, to: ModelStatus, at: Timestamp, by: String, reason: String) {
    self.from = from
    self.to = to
    self.at = at
    self.by = by
    self.reason = reason
  }
}
