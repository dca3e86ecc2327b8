public import StrataCore
internal import SwiftProtobuf
public import StrataProto

extension ModelStatus {
  public var proto: Strata_V1_ModelStatus {
    switch self {
    case .active: .active
    case .archived: .archived
    }
  }

  /// nil for UNSPECIFIED and unknown values.
  public init?(proto: Strata_V1_ModelStatus) {
    switch proto {
    case .active: self = .active
    case .archived: self = .archived
    default: return nil
    }
  }
}

extension RegisteredModel {
  public var proto: Strata_V1_Model {
    .with {
      $0.name = name
      $0.version = UInt32(version)
      $0.features = features.map(\.description)
      $0.trainingSet = trainingSet
      $0.description_p = description
      $0.status = status.proto
      $0.registeredAtMicros = registeredAt.microseconds
      $0.registeredBy = registeredBy
      $0.statusChanges = statusChanges.map { c in
        .with {
          $0.from = c.from.proto
          $0.to = c.to.proto
          $0.atMicros = c.at.microseconds
          $0.changedBy = c.by
          $0.reason = c.reason
        }
      }
    }
  }

  /// A model version from the wire (a registry snapshot from the leader).
  public init(proto: Strata_V1_Model) throws(StrataError) {
    var features: [FeatureRef] = []
    for f in proto.features { features.append(try FeatureRef(parsing: f)) }
    self.init(
      name: proto.name, version: Int(proto.version), features: features, trainingSet: proto.trainingSet,
      description: proto.description_p, status: ModelStatus(proto: proto.status) ?? .active,
      registeredAt: Timestamp(microseconds: proto.registeredAtMicros), registeredBy: proto.registeredBy,
      statusChanges: proto.statusChanges.map {
        ModelStatusChange(
          from: ModelStatus(proto: $0.from) ?? .active, to: ModelStatus(proto: $0.to) ?? .active,
          at: Timestamp(microseconds: $0.atMicros), by: $0.changedBy, reason: $0.reason)
      })
  }
}

extension TrainingSet {
  public var proto: Strata_V1_TrainingSet {
    .with {
      $0.name = name
      $0.features = features.map(\.description)
      $0.labelRows = UInt64(labels.rows)
      $0.labelChecksum = labels.checksum
      if let t = labels.firstLabelTime { $0.firstLabelMicros = t.microseconds }
      if let t = labels.lastLabelTime { $0.lastLabelMicros = t.microseconds }
      $0.usedKnownAt = labels.usedKnownAt
      $0.createdAtMicros = createdAt.microseconds
      $0.createdBy = createdBy
      $0.description_p = description
    }
  }

  public init(proto: Strata_V1_TrainingSet) throws(StrataError) {
    var features: [FeatureRef] = []
    for f in proto.features { features.append(try FeatureRef(parsing: f)) }
    self.init(
      name: proto.name, features: features,
      labels: LabelSummary(
        rows: Int(proto.labelRows), checksum: proto.labelChecksum,
        firstLabelTime: proto.hasFirstLabelMicros ? Timestamp(microseconds: proto.firstLabelMicros) : nil,
        lastLabelTime: proto.hasLastLabelMicros ? Timestamp(microseconds: proto.lastLabelMicros) : nil,
        usedKnownAt: proto.usedKnownAt),
      createdAt: Timestamp(microseconds: proto.createdAtMicros), createdBy: proto.createdBy, description: proto.description_p)
  }
}

extension ModelRegistration {
  /// INVALID_ARGUMENT for a feature reference that does not parse (the rest is checked by the catalog).
  public init(proto: Strata_V1_RegisterModelRequest) throws(StrataError) {
    var features: [FeatureRef] = []
    for f in proto.features { features.append(try FeatureRef(parsing: f)) }
    self.init(
      name: proto.name, version: proto.version == 0 ? nil : Int(proto.version), features: features,
      trainingSet: proto.trainingSet, description: proto.description_p, registeredBy: proto.registeredBy, force: proto.force)
  }
}
