internal import Foundation
public import StrataCore

/// The persisted JSON form of a model version (`RegistryStore`). Field names are part of the on-disk
/// format and of the registry kept in etcd.
struct StoredModel: Codable {
  static let kind = "model"
  var kind: String = Self.kind
  var name: String
  var version: Int
  /// `group@V:feature`, in the model's order.
  var features: [String]
  var trainingSet: String
  var description: String
  var status: String
  var registeredAtMicros: Int64
  var registeredBy: String
  var statusChanges: [StoredStatusChange]

  init(_ m: RegisteredModel) {
    name = m.name
    version = m.version
    features = m.features.map(\.description)
    trainingSet = m.trainingSet
    description = m.description
    status = m.status.rawValue
    registeredAtMicros = m.registeredAt.microseconds
    registeredBy = m.registeredBy
    statusChanges = m.statusChanges.map {
      StoredStatusChange(from: $0.from.rawValue, to: $0.to.rawValue, atMicros: $0.at.microseconds, by: $0.by, reason: $0.reason)
    }
  }

  func model() throws -> RegisteredModel {
    guard let status = ModelStatus(rawValue: status) else {
      throw StrataError.internalError("unknown status '\(status)' in registry entry for model \(name)@\(version)")
    }
    let changes = try statusChanges.map { c throws -> ModelStatusChange in
      guard let from = ModelStatus(rawValue: c.from), let to = ModelStatus(rawValue: c.to) else {
        throw StrataError.internalError("unknown status in the status history of model \(name)@\(version)")
      }
      return ModelStatusChange(from: from, to: to, at: Timestamp(microseconds: c.atMicros), by: c.by, reason: c.reason)
    }
    return RegisteredModel(
      name: name, version: version, features: try features.map { try FeatureRef(parsing: $0) }, trainingSet: trainingSet,
      description: description, status: status, registeredAt: Timestamp(microseconds: registeredAtMicros), registeredBy: registeredBy,
      statusChanges: changes)
  }
}

/// The persisted JSON form of a training set's manifest (`RegistryStore`).
struct StoredTrainingSet: Codable {
  static let kind = "training-set"
  var kind: String = Self.kind
  var name: String
  var features: [String]
  var labelRows: Int
  var labelChecksum: String
  var firstLabelMicros: Int64?
  var lastLabelMicros: Int64?
  var usedKnownAt: Bool
  var createdAtMicros: Int64
  var createdBy: String
  var description: String

  init(_ t: TrainingSet) {
    name = t.name
    features = t.features.map(\.description)
    labelRows = t.labels.rows
    labelChecksum = t.labels.checksum
    firstLabelMicros = t.labels.firstLabelTime?.microseconds
    lastLabelMicros = t.labels.lastLabelTime?.microseconds
    usedKnownAt = t.labels.usedKnownAt
    createdAtMicros = t.createdAt.microseconds
    createdBy = t.createdBy
    description = t.description
  }

  func model() throws -> TrainingSet {
    TrainingSet(
      name: name, features: try features.map { try FeatureRef(parsing: $0) },
      labels: LabelSummary(
        rows: labelRows, checksum: labelChecksum, firstLabelTime: firstLabelMicros.map { Timestamp(microseconds: $0) },
        lastLabelTime: lastLabelMicros.map { Timestamp(microseconds: $0) }, usedKnownAt: usedKnownAt),
      createdAt: Timestamp(microseconds: createdAtMicros), createdBy: createdBy, description: description)
  }
}

/// One recorded status change of a group or model version, as persisted (`from` and `to` are the
/// status names of the entry's kind).
struct StoredStatusChange: Codable {
  var from: String
  var to: String
  var atMicros: Int64
  var by: String
  var reason: String
}
