/// One persisted unit of the registry: a group version, a model version or a training set. The
/// registry is stored (on disk, in etcd) and shipped between nodes as entries; none is ever deleted.
public enum RegistryEntry: Hashable, Sendable {
  case group(FeatureGroup)
  case model(RegisteredModel)
  case trainingSet(TrainingSet)

  /// `group@V`, `model NAME@V` or `training set NAME`, for messages.
  public var label: String {
    switch self {
    case .group(let g): g.qualifiedName
    case .model(let m): "model \(m.qualifiedName)"
    case .trainingSet(let t): "training set \(t.name)"
    }
  }
}
