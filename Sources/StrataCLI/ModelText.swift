internal import StrataCore
internal import StrataGRPC
internal import StrataProto

/// The text the model and training set commands print.
enum ModelText {
  static func status(_ s: Strata_V1_ModelStatus) -> String {
    ModelStatus(proto: s)?.rawValue ?? "?"
  }

  /// The distinct `group@V` of pinned references, in order of first appearance.
  static func groupVersions(_ features: [String]) -> [String] {
    var seen = Set<String>()
    return features.compactMap { f in
      let g = String(f.split(separator: ":", maxSplits: 1)[0])
      return seen.insert(g).inserted ? g : nil
    }
  }

  static func labelRange(_ t: Strata_V1_TrainingSet) -> String {
    guard t.hasFirstLabelMicros, t.hasLastLabelMicros else { return "-" }
    return "\(Timestamp(microseconds: t.firstLabelMicros)) .. \(Timestamp(microseconds: t.lastLabelMicros))"
  }

  static func manifest(_ t: Strata_V1_TrainingSet) -> [String] {
    var out = [
      "training set:  \(t.name)",
      "created:       \(Timestamp(microseconds: t.createdAtMicros))\(t.createdBy.isEmpty ? "" : " by \(t.createdBy)")",
    ]
    if !t.description_p.isEmpty { out.append("description:   \(t.description_p)") }
    out += [
      "label rows:    \(t.labelRows)",
      "label times:   \(labelRange(t))",
      "known_at:      \(t.usedKnownAt ? "used (as-of-known-time export)" : "not used")",
      "checksum:      \(t.labelChecksum)",
      "columns:",
    ]
    out += t.features.map { "  \($0)" }
    return out
  }

  /// `describe-model`: the model, each feature with its group version's status, its history and its
  /// training set's manifest.
  static func describe(_ r: Strata_V1_GetModelResponse, groups: [Strata_V1_FeatureGroup]) -> [String] {
    let m = r.model
    var out = [
      "model:        \(m.name)@\(m.version)  (\(status(m.status)))",
      "registered:   \(Timestamp(microseconds: m.registeredAtMicros))\(m.registeredBy.isEmpty ? "" : " by \(m.registeredBy)")",
    ]
    if !m.description_p.isEmpty { out.append("description:  \(m.description_p)") }
    out.append("training set: \(m.trainingSet.isEmpty ? "(none named)" : m.trainingSet)")
    out.append("")
    out.append("features (served by `strata get --model \(m.name)@\(m.version)`):")
    var statusOf: [String: String] = [:]
    for g in groups { statusOf["\(g.spec.name)@\(g.version)"] = GroupStatus(proto: g.status)?.rawValue ?? "?" }
    var rows = [["FEATURE", "GROUP VERSION STATUS"]]
    for f in m.features {
      let g = String(f.split(separator: ":", maxSplits: 1)[0])
      rows.append([f, statusOf[g] ?? "?"])
    }
    out += Table.render(rows).split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }
    if !m.statusChanges.isEmpty {
      out.append("")
      out.append("status history:")
      for c in m.statusChanges {
        out.append(
          "  \(Timestamp(microseconds: c.atMicros))  \(status(c.from)) -> \(status(c.to))\(c.changedBy.isEmpty ? "" : "  by \(c.changedBy)")\(c.reason.isEmpty ? "" : "  (\(c.reason))")")
      }
    }
    if r.hasTrainingSet {
      out.append("")
      out += manifest(r.trainingSet)
    }
    return out
  }

  /// Models and training sets of a lineage answer (what `strata lineage` and `strata impact` print).
  static func dependents(_ r: Strata_V1_GetLineageResponse) -> [String] {
    var out = ["models (reading it or a version derived from it):"]
    if r.models.isEmpty {
      out.append("  (none)")
    } else {
      var rows = [["MODEL", "STATUS", "READS"]]
      for m in r.models { rows.append(["\(m.name)@\(m.version)", status(m.status), groupVersions(m.features).joined(separator: ", ")]) }
      out += Table.render(rows).split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }
    }
    out.append("")
    out.append("training sets (reading it or a version derived from it):")
    if r.trainingSets.isEmpty {
      out.append("  (none)")
    } else {
      var rows = [["TRAINING SET", "LABELS", "READS", "CREATED"]]
      for t in r.trainingSets {
        rows.append([t.name, "\(t.labelRows)", groupVersions(t.features).joined(separator: ", "), "\(Timestamp(microseconds: t.createdAtMicros))"])
      }
      out += Table.render(rows).split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }
    }
    return out
  }
}
