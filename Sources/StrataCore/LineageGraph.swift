/// The versions one group version is derived from and the versions derived from it, transitively,
/// from the registry alone (definitions, not data).
///
/// Version `g` is directly derived from: each entry of its lineage's `upstream` (`NAME@V` that
/// version; `NAME` the newest ACTIVE version of NAME, or its newest version when none is ACTIVE), and,
/// for an aggregate group, the stream version it reads. Upstream nodes are found by following those
/// edges from the version asked about, downstream nodes by following them backwards; each node's
/// `depth` is its distance in edges (1 = direct), and each appears once (cycles, possible through
/// unpinned references, end where a version was already reached).
public struct LineageGraph: Sendable, Equatable {
  public struct Node: Sendable, Equatable {
    public var group: FeatureGroup
    public var depth: Int
    /// The versions `group` is directly derived from, as NAME@VERSION, in its definition's order
    /// (an aggregate group's stream first).
    public var derivedFrom: [String]
  }

  public var upstream: [Node]
  public var downstream: [Node]
  /// The model versions (any status) that read the version asked about or one derived from it, by name
  /// then version.
  public var models: [RegisteredModel]
  /// The saved training sets that read the version asked about or one derived from it, by name.
  public var trainingSets: [TrainingSet]

  public init(of version: FeatureGroup, in catalog: Catalog) {
    var children: [String: [FeatureGroup]] = [:]
    for g in catalog.allVersions {
      for p in Self.parents(of: g, in: catalog) { children[p.qualifiedName, default: []].append(g) }
    }
    upstream = Self.walk(from: version, catalog: catalog) { Self.parents(of: $0, in: catalog) }
    downstream = Self.walk(from: version, catalog: catalog) { children[$0.qualifiedName] ?? [] }
    let affected = [version] + downstream.map(\.group)
    models = catalog.allModels.filter { m in affected.contains { m.reads(group: $0.name, version: $0.version) } }
    trainingSets = catalog.allTrainingSets.filter { t in affected.contains { t.reads(group: $0.name, version: $0.version) } }
  }

  /// Breadth first from `start` (left out), ordered by depth, then name, then version.
  private static func walk(from start: FeatureGroup, catalog: Catalog, next: (FeatureGroup) -> [FeatureGroup]) -> [Node] {
    var seen: Set<String> = [start.qualifiedName]
    var out: [Node] = []
    var frontier = [start]
    var depth = 0
    while !frontier.isEmpty {
      depth += 1
      var level: [FeatureGroup] = []
      for g in frontier {
        for n in next(g) where seen.insert(n.qualifiedName).inserted { level.append(n) }
      }
      level.sort { ($0.name, $0.version) < ($1.name, $1.version) }
      out += level.map { Node(group: $0, depth: depth, derivedFrom: parents(of: $0, in: catalog).map(\.qualifiedName)) }
      frontier = level
    }
    return out
  }

  /// The versions `g` is directly derived from (see the type's documentation); references to
  /// versions that are not registered are left out.
  public static func parents(of g: FeatureGroup, in catalog: Catalog) -> [FeatureGroup] {
    var out: [FeatureGroup] = []
    if case .aggregates(let stream, let version) = g.spec.source, let s = try? catalog.group(named: stream, version: version) {
      out.append(s)
    }
    for text in g.spec.lineage.upstream {
      guard let reference = Lineage.Reference(text), let versions = catalog.groups[reference.name], let newest = versions.last else { continue }
      let resolved: FeatureGroup?
      if let v = reference.version {
        resolved = versions.first { $0.version == v }
      } else {
        resolved = versions.last { $0.status == .active } ?? newest
      }
      if let resolved, !out.contains(where: { $0.qualifiedName == resolved.qualifiedName }) { out.append(resolved) }
    }
    return out
  }
}
