internal import ArgumentParser
internal import StrataCore
internal import StrataGRPC
internal import StrataProto
internal import SwiftProtobuf

struct GroupsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "groups", abstract: "List every feature group and stream version.")

  @OptionGroup var client: ClientOptions

  func run() async throws {
    let response = try await client.withFeatureStore { try await $0.listFeatureGroups(.init()) }
    var rows = [["GROUP", "VERSION", "STATUS", "KIND", "ENTITY", "FEATURES", "MAX AGE", "REFRESH", "OWNER"]]
    for g in response.groups {
      let group = try FeatureGroup(proto: g)
      rows.append([
        group.name, String(group.version), group.status.rawValue, GroupKindText.kind(group.spec.source), group.spec.entityType.rawValue,
        String(group.spec.features.count), DurationText.format(group.spec.maxAgeSeconds),
        DurationText.format(group.spec.refreshIntervalSeconds), group.spec.owner,
      ])
    }
    if response.groups.isEmpty {
      print("no feature groups registered yet: `strata apply FILE.yaml` registers some")
    } else {
      print(Table.render(rows))
    }
  }
}

struct DescribeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "describe", abstract: "Show one feature group or stream version (GROUP or GROUP@VERSION).")

  @Argument(help: "GROUP (latest ACTIVE version) or GROUP@VERSION.") var group: String
  @OptionGroup var client: ClientOptions

  func run() async throws {
    let (name, version) = try GroupArgument.parse(group)
    let request = Strata_V1_GetFeatureGroupRequest.with {
      $0.name = name
      $0.version = version
    }
    let response = try await client.withFeatureStore { try await $0.getFeatureGroup(request) }
    let g = try FeatureGroup(proto: response.group)
    print("\(g.spec.source == .events ? "stream: " : "group:  ")      \(g.qualifiedName)  (\(g.status.rawValue))")
    print("kind:         \(GroupKindText.kind(g.spec.source))")
    print("entity type:  \(g.spec.entityType.rawValue)")
    if !g.spec.description.isEmpty { print("description:  \(g.spec.description)") }
    if !g.spec.owner.isEmpty { print("owner:        \(g.spec.owner)") }
    print("refresh:      \(DurationText.format(g.spec.refreshIntervalSeconds))")
    if g.spec.source == .events {
      print("retention:    \(g.spec.retentionSeconds.map { DurationText.format($0) } ?? "forever")")
    } else if g.spec.source.stream == nil {
      print("max age:      \(DurationText.format(g.spec.maxAgeSeconds))")
    }
    print("created at:   \(g.createdAt)")
    for line in GroupKindText.lineageLines(g.spec.lineage) { print(line) }
    for c in g.statusChanges {
      let who = c.by.isEmpty ? "" : " by \(c.by)"
      let why = c.reason.isEmpty ? "" : ": \(c.reason)"
      print("status:       \(c.from.rawValue) -> \(c.to.rawValue) at \(c.at)\(who)\(why)")
    }
    print("versions:     " + response.versions.map { "\($0.version) (\(GroupStatus(proto: $0.status)?.rawValue ?? "?"))" }.joined(separator: ", "))
    print("")
    print(Table.render(GroupKindText.featureRows(g.spec)))
  }
}

/// How `groups` and `describe` show a group's source and its features.
enum GroupKindText {
  /// `rows`, `stream`, or `aggregates of purchases@2`.
  static func kind(_ source: GroupSource) -> String {
    switch source {
    case .rows: "rows"
    case .events: "stream"
    case .aggregates(let stream, let version): version == 0 ? "aggregates of \(stream)" : "aggregates of \(stream)@\(version)"
    }
  }

  /// The lineage a definition declares, one line per field set (none when it declares none); a
  /// multi-line transformation is indented under its label (without its trailing blank lines).
  static func lineageLines(_ lineage: Lineage) -> [String] {
    var out: [String] = []
    if !lineage.source.isEmpty { out.append("source:       \(lineage.source)") }
    if !lineage.upstream.isEmpty { out.append("upstream:     \(lineage.upstream.joined(separator: ", "))") }
    if !lineage.pipeline.isEmpty { out.append("pipeline:     \(lineage.pipeline)") }
    if !lineage.transformation.isEmpty {
      var lines = lineage.transformation.split(separator: "\n", omittingEmptySubsequences: false)
      while lines.count > 1, lines.last!.allSatisfy(\.isWhitespace) { lines.removeLast() }
      out.append("transform:    \(lines[0])")
      out += lines.dropFirst().map { "              \($0)" }
    }
    return out
  }

  /// The feature table with its header: name, type, default, description; a stream's fields have no
  /// default; an aggregate also shows what it computes, e.g. `sum(amount) over 5m`.
  static func featureRows(_ spec: FeatureGroupSpec) -> [[String]] {
    func defaultText(_ f: FeatureSpec) -> String { f.defaultValue.map { ValueText.format($0) } ?? "-" }
    switch spec.source {
    case .rows:
      return [["FEATURE", "DTYPE", "DEFAULT", "DESCRIPTION"]]
        + spec.features.map { [$0.name, $0.dtype.description, defaultText($0), $0.description] }
    case .events:
      return [["FIELD", "DTYPE", "DESCRIPTION"]] + spec.features.map { [$0.name, $0.dtype.description, $0.description] }
    case .aggregates:
      return [["FEATURE", "DTYPE", "AGGREGATE", "DEFAULT", "DESCRIPTION"]]
        + spec.features.map {
          [$0.name, $0.dtype.description, $0.aggregation?.description ?? "-", defaultText($0), $0.description]
        }
    }
  }
}

/// Plain-text aligned tables for terminal output.
enum Table {
  static func render(_ rows: [[String]]) -> String {
    guard let first = rows.first else { return "" }
    var widths = [Int](repeating: 0, count: first.count)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
    return rows.map { row in
      row.enumerated().map { i, cell in
        i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
      }.joined(separator: "  ")
    }.joined(separator: "\n")
  }
}

enum DurationText {
  /// `30d`, `1h`, `90s` or `-` for nil.
  static func format(_ seconds: Int64?) -> String {
    guard let s = seconds else { return "-" }
    for (unit, size) in [("w", Int64(604_800)), ("d", 86_400), ("h", 3_600), ("m", 60)] where s % size == 0 {
      return "\(s / size)\(unit)"
    }
    return "\(s)s"
  }
}
