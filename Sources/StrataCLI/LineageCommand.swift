internal import ArgumentParser
internal import StrataCore
internal import StrataGRPC
internal import StrataProto
internal import SwiftProtobuf

struct LineageCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lineage",
    abstract: "Show where a group or stream version comes from, what is derived from it, and who wrote it.",
    discussion: """
      Upstream: the versions it is derived from (its lineage's upstream, an aggregate group's stream), \
      transitively, nearest first. Downstream: the versions derived from it. Writers: per node, pipeline \
      and run, the batches and rows clients wrote (ingest and push take --pipeline and --run-id), the \
      most recent first.
      """)

  @Argument(help: "GROUP (latest ACTIVE version) or GROUP@VERSION.") var group: String
  @OptionGroup var client: ClientOptions

  func run() async throws {
    let (name, version) = try GroupArgument.parse(group)
    let response = try await client.withFeatureStore {
      try await $0.getLineage(.with {
        $0.group = name
        $0.version = version
      })
    }
    for line in LineageText.lines(response) { print(line) }
  }
}

/// The text `strata lineage` prints.
enum LineageText {
  static func lines(_ r: Strata_V1_GetLineageResponse) -> [String] {
    var out: [String] = []
    let g = r.group
    let status = GroupStatus(proto: g.status)?.rawValue ?? "?"
    out.append("\(g.spec.kind == .stream ? "stream" : "group"):  \(g.spec.name)@\(g.version)  (\(status))")
    if let spec = try? FeatureGroupSpec(proto: g.spec) {
      out += GroupKindText.lineageLines(spec.lineage).map { "  " + $0 }
    }
    out.append("")
    out.append("upstream (what it is derived from):")
    out += table(r.upstream)
    out.append("")
    out.append("downstream (what is derived from it):")
    out += table(r.downstream)
    out.append("")
    out += ModelText.dependents(r)
    out.append("")
    out.append("writers:")
    if r.writers.isEmpty {
      out.append("  (no writes recorded)")
    } else {
      let clustered = r.writers.contains { !$0.nodeID.isEmpty }
      var rows: [[String]] = [(clustered ? ["NODE"] : []) + ["PIPELINE", "RUN", "BATCHES", "ROWS", "FIRST WRITE", "LAST WRITE", "EVENT TIMES"]]
      for w in r.writers {
        let events =
          w.rows == 0
          ? "-" : "\(Timestamp(microseconds: w.minEventMicros)) .. \(Timestamp(microseconds: w.maxEventMicros))"
        rows.append(
          (clustered ? [w.nodeID] : []) + [
            w.pipeline.isEmpty ? "(unnamed)" : w.pipeline, w.runID.isEmpty ? "-" : w.runID, "\(w.batches)", "\(w.rows)",
            "\(Timestamp(microseconds: w.firstWriteMicros))", "\(Timestamp(microseconds: w.lastWriteMicros))", events,
          ])
      }
      out += Table.render(rows).split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }
    }
    return out
  }

  /// One row per node: depth, version, kind, status, what it is derived from, source and pipeline.
  static func table(_ nodes: [Strata_V1_LineageNode]) -> [String] {
    guard !nodes.isEmpty else { return ["  (none)"] }
    var rows: [[String]] = [["DEPTH", "VERSION", "KIND", "STATUS", "DERIVED FROM", "SOURCE", "PIPELINE"]]
    for n in nodes {
      let kind: String
      switch n.kind {
      case .stream: kind = "stream"
      case .aggregates: kind = "aggregates"
      default: kind = "rows"
      }
      rows.append([
        "\(n.depth)", "\(n.group)@\(n.version)", kind, GroupStatus(proto: n.status)?.rawValue ?? "?",
        n.derivedFrom.isEmpty ? "-" : n.derivedFrom.joined(separator: ", "),
        n.lineage.source.isEmpty ? "-" : n.lineage.source, n.lineage.pipeline.isEmpty ? "-" : n.lineage.pipeline,
      ])
    }
    return Table.render(rows).split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }
  }
}
