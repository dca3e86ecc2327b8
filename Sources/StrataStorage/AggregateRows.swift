public import StrataCore

/// The values of an aggregate group (`GroupSource.aggregates`) at given times, computed from the
/// stream's stored events: one row per probe, shaped like a stored row of the group so that online
/// lookups and point-in-time exports assemble them like any other row (`PointInTime.result`).
///
/// Probe `(entity, T, knownAt)` gets, for each feature, `function(field)` over the entity's events
/// with `T - window < event_time <= T` and, when `knownAt` is set, `created <= knownAt`, by the one
/// windowed read every source shares (`AggregationSource.partial(window:at:knownAt:)`): the value an
/// online lookup returned at time t is bit for bit the value an export gives a label at t. A value
/// is nil (MISSING, or the feature's default: DEFAULTED) when its function has no value over the
/// window (avg, min, max, last of no non-null value) or when a sum does not fit its type.
///
/// The row is never nil (count and sum are 0 over an empty window). Its (event, created, sequence)
/// is the latest event at or before T counted by the probe (known at `knownAt`) within the group's
/// largest window, or all `.min`/0 when there is none: the order key a quorum read compares replicas
/// by (the replica that has seen the latest event wins).
///
/// Cost: one seek per distinct entity of the probes and a scan of its events from the earliest
/// probe's largest window to the latest probe time; each probe then reads its windows' events by
/// binary search. (Not yet O(tiles): stored tiles come next.)
public enum AggregateRows {
  /// One row per probe, in probe order. `stream` must be the version `group` reads.
  public static func rows(_ probes: [AsOfProbe], group: FeatureGroup, stream: FeatureGroup, shard: LocalShard) throws -> [StoredRow?] {
    let plan = try Plan(group: group, stream: stream)
    var out = [StoredRow?](repeating: nil, count: probes.count)
    // Probes of one entity share one scan.
    var byEntity: [String: [Int]] = [:]
    for (i, p) in probes.enumerated() { byEntity[p.entityID, default: []].append(i) }
    for (entity, indices) in byEntity {
      let first = indices.lazy.map { probes[$0].asOf }.min()!
      let last = indices.lazy.map { probes[$0].asOf }.max()!
      let low = first.subtracting(microseconds: plan.largestWindow - 1)
      let events = try shard.events(entityID: entity, stream: stream, eventTimes: low...last)
      for i in indices { out[i] = plan.row(events, at: probes[i].asOf, knownAt: probes[i].knownAt) }
    }
    return out
  }

  /// What each feature reads: its field's index in the stream and its window, the distinct
  /// (field, window) pairs read once per probe.
  struct Plan {
    let features: [(read: Int, function: AggregateFunction)]
    let reads: [(field: Int, window: AggregationWindow)]
    let largestWindow: Int64

    init(group: FeatureGroup, stream: FeatureGroup) throws(StrataError) {
      var reads: [(field: Int, window: AggregationWindow)] = []
      var features: [(read: Int, function: AggregateFunction)] = []
      for feature in group.spec.features {
        guard let a = feature.aggregation, let field = stream.featureIndex(named: a.field),
          AggregateFieldType(stream.spec.features[field].dtype) != nil
        else {
          throw .internalError("\(group.qualifiedName):\(feature.name) does not read a field of \(stream.qualifiedName)")
        }
        if let k = reads.firstIndex(where: { $0.field == field && $0.window == a.window }) {
          features.append((k, a.function))
        } else {
          features.append((reads.count, a.function))
          reads.append((field, a.window))
        }
      }
      self.features = features
      self.reads = reads
      self.largestWindow = reads.map(\.window.microseconds).max() ?? AggregationWindow.minimumMicroseconds
    }

    func row(_ events: StoredEvents, at time: Timestamp, knownAt: Timestamp?) -> StoredRow {
      let partials = reads.map { events.field($0.field).partial(window: $0.window, at: time, knownAt: knownAt) }
      let values = features.map { f -> FeatureValue? in
        if case .present(let v) = partials[f.read].result(f.function) { return v }
        return nil
      }
      // The latest counted event within the largest window (events are in event order).
      var order = StoredRow(eventTime: .min, createdTime: .min, sequence: 0, values: values)
      let floor = time.subtracting(microseconds: largestWindow - 1)
      for row in events.rows.reversed() where row.eventTime <= time {
        if row.eventTime < floor { break }
        if let knownAt, row.createdTime > knownAt { continue }
        order.eventTime = row.eventTime
        order.createdTime = row.createdTime
        order.sequence = row.sequence
        break
      }
      return order
    }
  }
}
