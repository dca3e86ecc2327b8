/// Where a feature group's values come from.
///
/// - `rows`: rows written to the group (`WriteFeatures`, `strata ingest`); the classic feature group.
/// - `events`: the group is an event stream. Producers push events (`PushEvents`); its features are the
///   events' fields (FLOAT, INT or STRING). Events are stored like rows (append-only history keyed by
///   entity, event time, created time and write id, partitioned and replicated the same way), so a
///   read of the stream itself answers with the entity's latest event.
/// - `aggregates`: every feature is a windowed aggregate (`FeatureAggregation`) of one field of the
///   stream `stream`, version `streamVersion`. Such a group stores nothing: its values are computed
///   at read time from the stream's events, by the same code online and in exports.
///
/// As written by a user, an aggregate group names its stream only (`streamVersion == 0`); applying
/// it resolves the stream's newest ACTIVE version and records it, so a registered version always
/// reads one fixed stream version (a new stream version needs the aggregate group applied again).
public enum GroupSource: Hashable, Sendable, CustomStringConvertible {
  case rows
  case events
  case aggregates(stream: String, streamVersion: Int)

  /// The stream an aggregate group reads, nil for the other sources.
  public var stream: (name: String, version: Int)? {
    if case .aggregates(let name, let version) = self { return (name, version) }
    return nil
  }

  public var description: String {
    switch self {
    case .rows: "rows"
    case .events: "events"
    case .aggregates(let stream, let version): version == 0 ? "aggregates of \(stream)" : "aggregates of \(stream)@\(version)"
    }
  }
}
