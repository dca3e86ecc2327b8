public import StrataCore
public import StrataProto
internal import SwiftProtobuf
internal import Foundation
public import StrataStorage
internal import StrataCluster
internal import GRPCCore

// Conversions between the wire types (StrataProto) and the model (StrataCore). The wire types stop here:
// nothing past StrataGRPC sees them.

extension FeatureValue {
  /// nil for an unset (null) wire value.
  public init?(proto: Strata_V1_Value) {
    switch proto.kind {
    case nil: return nil
    case .floatValue(let v)?: self = .float(v)
    case .intValue(let v)?: self = .int(v)
    case .stringValue(let v)?: self = .string(v)
    case .embeddingValue(let e)?: self = .embedding(e.values)
    }
  }

  public var proto: Strata_V1_Value {
    var v = Strata_V1_Value()
    switch self {
    case .float(let d): v.floatValue = d
    case .int(let i): v.intValue = i
    case .string(let s): v.stringValue = s
    case .embedding(let e): v.embeddingValue = Strata_V1_Embedding.with { $0.values = e }
    }
    return v
  }
}

extension Optional where Wrapped == FeatureValue {
  public var proto: Strata_V1_Value {
    switch self {
    case nil: Strata_V1_Value()
    case .some(let v): v.proto
    }
  }
}

extension DType {
  public init(proto: Strata_V1_DType, embeddingDim: UInt32, feature: String) throws(StrataError) {
    switch proto {
    case .float: self = .float
    case .int: self = .int
    case .string: self = .string
    case .embedding: self = .embedding(dimension: Int(embeddingDim))
    case .unspecified, .UNRECOGNIZED:
      throw .invalidArgument("feature '\(feature)' has no dtype; set FLOAT, INT, STRING or EMBEDDING")
    }
    if case .embedding = self {} else if embeddingDim != 0 {
      throw .invalidArgument("feature '\(feature)' sets embedding_dim \(embeddingDim) but its dtype is \(self)")
    }
  }

  public var proto: (Strata_V1_DType, UInt32) {
    switch self {
    case .float: (.float, 0)
    case .int: (.int, 0)
    case .string: (.string, 0)
    case .embedding(let d): (.embedding, UInt32(clamping: d))
    }
  }
}

extension EntityType {
  /// An unspecified entity type means USER (the definition-file default).
  public init(proto: Strata_V1_EntityType) throws(StrataError) {
    switch proto {
    case .unspecified, .user: self = .user
    case .item: self = .item
    case .session: self = .session
    case .UNRECOGNIZED(let v): throw .invalidArgument("unknown entity type \(v); use USER, ITEM or SESSION")
    }
  }

  public var proto: Strata_V1_EntityType {
    switch self {
    case .user: .user
    case .item: .item
    case .session: .session
    }
  }
}

extension GroupStatus {
  public var proto: Strata_V1_GroupStatus {
    switch self {
    case .active: .active
    case .deprecated: .deprecated
    case .retired: .retired
    }
  }

  public init?(proto: Strata_V1_GroupStatus) {
    switch proto {
    case .active: self = .active
    case .deprecated: self = .deprecated
    case .retired: self = .retired
    default: return nil
    }
  }
}

extension FeatureGroupSpec {
  /// Converts a wire spec; 0 for refresh interval or max age means "not set". Call `validate()` after.
  /// An aggregate feature's dtype is derived when the group is applied: unset on the wire, it reads
  /// as FLOAT until then.
  public init(proto: Strata_V1_FeatureGroupSpec) throws(StrataError) {
    var features: [FeatureSpec] = []
    for f in proto.features {
      let aggregation = f.hasAggregation ? try FeatureAggregation(proto: f.aggregation, feature: f.name) : nil
      let dtype =
        aggregation != nil && f.dtype == .unspecified
        ? DType.float : try DType(proto: f.dtype, embeddingDim: f.embeddingDim, feature: f.name)
      features.append(
        FeatureSpec(
          name: f.name, dtype: dtype, defaultValue: f.hasDefaultValue ? FeatureValue(proto: f.defaultValue) : nil,
          description: f.description_p, aggregation: aggregation))
    }
    let source: GroupSource
    switch proto.kind {
    case .rows: source = .rows
    case .stream: source = .events
    case .aggregates:
      guard !proto.stream.isEmpty else {
        throw .invalidArgument("group '\(proto.name)' is GROUP_KIND_AGGREGATES but names no stream; set `stream`")
      }
      source = .aggregates(stream: proto.stream, streamVersion: Int(proto.streamVersion))
    case .UNRECOGNIZED(let v): throw .invalidArgument("group '\(proto.name)': unknown group kind \(v); use ROWS, STREAM or AGGREGATES")
    }
    self.init(
      name: proto.name,
      entityType: try EntityType(proto: proto.entityType),
      description: proto.description_p,
      owner: proto.owner,
      refreshIntervalSeconds: proto.refreshIntervalSeconds == 0 ? nil : proto.refreshIntervalSeconds,
      maxAgeSeconds: proto.maxAgeSeconds == 0 ? nil : proto.maxAgeSeconds,
      features: features, source: source,
      retentionSeconds: proto.retentionSeconds == 0 ? nil : proto.retentionSeconds,
      lineage: Lineage(
        source: proto.lineage.source, transformation: proto.lineage.transformation, upstream: proto.lineage.upstream,
        pipeline: proto.lineage.pipeline))
  }

  public var proto: Strata_V1_FeatureGroupSpec {
    Strata_V1_FeatureGroupSpec.with { p in
      p.name = name
      p.entityType = entityType.proto
      p.description_p = description
      p.owner = owner
      p.refreshIntervalSeconds = refreshIntervalSeconds ?? 0
      p.maxAgeSeconds = maxAgeSeconds ?? 0
      p.retentionSeconds = retentionSeconds ?? 0
      if !lineage.isEmpty {
        p.lineage = .with {
          $0.source = lineage.source
          $0.transformation = lineage.transformation
          $0.upstream = lineage.upstream
          $0.pipeline = lineage.pipeline
        }
      }
      p.features = features.map { f in
        Strata_V1_FeatureSpec.with { fp in
          fp.name = f.name
          (fp.dtype, fp.embeddingDim) = f.dtype.proto
          if let d = f.defaultValue { fp.defaultValue = d.proto }
          fp.description_p = f.description
          if let a = f.aggregation { fp.aggregation = a.proto }
        }
      }
      switch source {
      case .rows: p.kind = .rows
      case .events: p.kind = .stream
      case .aggregates(let stream, let version):
        p.kind = .aggregates
        p.stream = stream
        p.streamVersion = UInt32(clamping: version)
      }
    }
  }
}

extension FeatureGroup {
  public var proto: Strata_V1_FeatureGroup {
    Strata_V1_FeatureGroup.with {
      $0.spec = spec.proto
      $0.version = UInt32(version)
      $0.status = status.proto
      $0.createdAtMicros = createdAt.microseconds
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

  /// Rebuilds a registered group from the wire (client side; the storage id is not on the wire and is 0).
  public init(proto: Strata_V1_FeatureGroup) throws(StrataError) {
    self.init(
      spec: try FeatureGroupSpec(proto: proto.spec), version: Int(proto.version),
      status: GroupStatus(proto: proto.status) ?? .active,
      createdAt: Timestamp(microseconds: proto.createdAtMicros), storageID: 0,
      statusChanges: proto.statusChanges.map {
        StatusChange(
          from: GroupStatus(proto: $0.from) ?? .active, to: GroupStatus(proto: $0.to) ?? .active,
          at: Timestamp(microseconds: $0.atMicros), by: $0.changedBy, reason: $0.reason)
      })
  }
}

extension ResolvedFeature {
  public var proto: Strata_V1_FeatureColumn {
    Strata_V1_FeatureColumn.with {
      $0.ref = qualifiedName
      $0.group = group.name
      $0.version = UInt32(group.version)
      $0.feature = feature.name
      ($0.dtype, $0.embeddingDim) = feature.dtype.proto
    }
  }
}

extension ValueStatus {
  public var proto: Strata_V1_ValueStatus {
    switch self {
    case .present: .present
    case .defaulted: .defaulted
    case .missing: .missing
    case .expired: .expired
    }
  }

  public init?(proto: Strata_V1_ValueStatus) {
    switch proto {
    case .present: self = .present
    case .defaulted: self = .defaulted
    case .missing: self = .missing
    case .expired: self = .expired
    default: return nil
    }
  }
}

extension FeatureResult {
  public var proto: Strata_V1_FeatureResult {
    var r = Strata_V1_FeatureResult()
    if let value { r.value = value.proto }
    r.status = status.proto
    r.eventTimestampMicros = eventTime?.microseconds ?? 0
    return r
  }

  public init(proto: Strata_V1_FeatureResult) {
    self.init(
      value: proto.hasValue ? FeatureValue(proto: proto.value) : nil,
      status: ValueStatus(proto: proto.status) ?? .missing,
      eventTime: proto.eventTimestampMicros == 0 ? nil : Timestamp(microseconds: proto.eventTimestampMicros))
  }
}

extension RowOrders {
  /// The wire form of entries `range` (every entry when nil): `found` one byte per entry.
  public func proto(_ range: Range<Int>? = nil) -> Strata_V1_JoinedRowOrder {
    let range = range ?? 0..<count
    let whole = range == 0..<count
    var p = Strata_V1_JoinedRowOrder()
    p.found = Data(whole ? found[...] : found[range])
    p.eventTimestampsMicros = whole ? eventTimes : Array(eventTimes[range])
    p.createdTimestampsMicros = whole ? createdTimes : Array(createdTimes[range])
    p.writeIds = whole ? sequences : Array(sequences[range])
    return p
  }

  /// Reads a wire row order; INTERNAL when its arrays differ in length (they come from another
  /// Strata node, so that is a bug, not bad input).
  public init(proto: Strata_V1_JoinedRowOrder) throws(StrataError) {
    let n = proto.found.count
    guard proto.eventTimestampsMicros.count == n, proto.createdTimestampsMicros.count == n, proto.writeIds.count == n else {
      throw .internalError(
        "a row order has \(n) found flags, \(proto.eventTimestampsMicros.count) event times, \(proto.createdTimestampsMicros.count) created times and \(proto.writeIds.count) write ids; they must be equal")
    }
    self.init(
      found: Array(proto.found), eventTimes: proto.eventTimestampsMicros, createdTimes: proto.createdTimestampsMicros,
      sequences: proto.writeIds)
  }
}

extension WriteRequest {
  /// Converts one wire batch (version 0 = newest ACTIVE).
  public init(proto: Strata_V1_WriteFeaturesRequest) {
    self.init(
      group: proto.group,
      version: proto.version == 0 ? nil : Int(proto.version),
      features: proto.features,
      rows: proto.rows.map { r in
        WriteRequest.Row(
          entityID: r.entityID,
          eventTime: Timestamp(microseconds: r.eventTimestampMicros),
          createdTime: r.hasCreatedTimestampMicros ? Timestamp(microseconds: r.createdTimestampMicros) : nil,
          values: r.values.map { FeatureValue(proto: $0) },
          writeID: r.hasWriteID ? WriteID(rawValue: r.writeID) : nil)
      },
      writer: proto.hasWriter ? WriterIdentity(pipeline: proto.writer.pipeline, runID: proto.writer.runID) : nil)
  }
}

extension Array where Element == FeatureRef {
  /// Parses wire feature references; INVALID_ARGUMENT on the first malformed one.
  public init(parsing refs: [String]) throws(StrataError) {
    self = []
    for r in refs { append(try FeatureRef(parsing: r)) }
  }
}

extension Consistency {
  /// The consistency a request asked for (`default` when it left the field unset); INVALID_ARGUMENT for
  /// a number this node does not know.
  init(_ proto: Strata_V1_Consistency, default: Consistency) throws(RPCError) {
    switch proto {
    case .default: self = `default`
    case .one: self = .one
    case .quorum: self = .quorum
    case .all: self = .all
    case .UNRECOGNIZED(let n):
      throw RPCError(code: .invalidArgument, message: "consistency \(n) is not one of ONE (1), QUORUM (2), ALL (3)")
    }
  }
}

extension FeatureAggregation {
  public init(proto: Strata_V1_Aggregation, feature: String) throws(StrataError) {
    let function: AggregateFunction
    switch proto.function {
    case .count: function = .count
    case .sum: function = .sum
    case .avg: function = .avg
    case .min: function = .min
    case .max: function = .max
    case .last: function = .last
    case .unspecified, .UNRECOGNIZED:
      throw .invalidArgument("feature '\(feature)': aggregation function is not set; use COUNT, SUM, AVG, MIN, MAX or LAST")
    }
    guard !proto.field.isEmpty else { throw .invalidArgument("feature '\(feature)': the aggregation names no field") }
    let window: AggregationWindow
    do {
      window = try AggregationWindow(seconds: proto.windowSeconds)
    } catch {
      throw .invalidArgument("feature '\(feature)': window of \(proto.windowSeconds) seconds is out of range: use 60 (1 minute) to 7776000 (90 days)")
    }
    self.init(field: proto.field, function: function, window: window)
  }

  public var proto: Strata_V1_Aggregation {
    .with {
      $0.field = field
      $0.windowSeconds = window.microseconds / 1_000_000
      switch function {
      case .count: $0.function = .count
      case .sum: $0.function = .sum
      case .avg: $0.function = .avg
      case .min: $0.function = .min
      case .max: $0.function = .max
      case .last: $0.function = .last
      }
    }
  }
}
