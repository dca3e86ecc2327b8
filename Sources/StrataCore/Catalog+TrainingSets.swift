extension Catalog {
  /// Every training set, by name.
  public var allTrainingSets: [TrainingSet] {
    trainingSets.keys.sorted().map { trainingSets[$0]! }
  }

  /// The training set named `name`; NOT_FOUND naming the known ones otherwise.
  public func trainingSet(named name: String) throws(StrataError) -> TrainingSet {
    guard let set = trainingSets[name] else {
      throw .notFound("training set '\(name)' does not exist; `strata training-sets` lists the saved ones")
    }
    return set
  }

  /// Whether a new training set may take `name` (before its export starts): INVALID_ARGUMENT for a
  /// bad name, ALREADY_EXISTS for a taken one.
  public func checkNewTrainingSet(named name: String) throws(StrataError) {
    try RegistryName.check(name, what: "training set")
    if let existing = trainingSets[name] {
      throw .alreadyExists(
        "training set '\(name)' already exists (made \(existing.createdAt)\(existing.createdBy.isEmpty ? "" : " by \(existing.createdBy)")); training sets are never overwritten: pick another name")
    }
  }

  /// Saves a training set's manifest. INVALID_ARGUMENT for a bad manifest; ALREADY_EXISTS when the name
  /// is taken (by anything but this very manifest, which makes a re-sent save a no-op); NOT_FOUND
  /// when a column names a version that is not registered.
  public mutating func saveTrainingSet(_ set: TrainingSet) throws(StrataError) {
    try set.validate()
    if trainingSets[set.name] == set { return }
    try checkNewTrainingSet(named: set.name)
    for f in set.features {
      guard let v = f.version, f.feature != nil else {
        throw .invalidArgument("training set '\(set.name)': column '\(f)' is not one pinned feature (group@V:feature)")
      }
      _ = try group(named: f.group, version: v)
    }
    trainingSets[set.name] = set
  }
}
