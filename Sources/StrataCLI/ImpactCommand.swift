internal import ArgumentParser
internal import StrataCore
internal import StrataGRPC
internal import StrataProto
internal import SwiftProtobuf

struct ImpactCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "impact",
    abstract: "What depends on a group or stream version: derived groups, models and training sets.",
    discussion: """
      Run it before deprecating or retiring a version. Derived groups are found transitively through \
      lineage upstream declarations and aggregate groups' streams; models and training sets are listed \
      when they read the version or a version derived from it. RETIRED is refused while an ACTIVE model \
      reads the version itself.
      """)

  @Argument(help: "GROUP@VERSION (or GROUP: its latest ACTIVE version).") var group: String
  @OptionGroup var client: ClientOptions

  func run() async throws {
    let (name, version) = try GroupArgument.parse(group)
    let r = try await client.withFeatureStore {
      try await $0.getLineage(.with {
        $0.group = name
        $0.version = version
      })
    }
    let g = r.group
    print("\(g.spec.name)@\(g.version)  (\(GroupStatus(proto: g.status)?.rawValue ?? "?"))")
    print("")
    print("derived groups and streams:")
    for line in LineageText.table(r.downstream) { print(line) }
    print("")
    for line in ModelText.dependents(r) { print(line) }
    let holding = r.models.filter { m in m.status == .active && m.features.contains { $0.hasPrefix("\(g.spec.name)@\(g.version):") } }
    print("")
    if holding.isEmpty {
      print("no ACTIVE model reads \(g.spec.name)@\(g.version) itself: it can be retired")
    } else {
      print(
        "\(holding.map { "\($0.name)@\($0.version)" }.joined(separator: ", ")) \(holding.count == 1 ? "reads" : "read") \(g.spec.name)@\(g.version): it cannot be retired until \(holding.count == 1 ? "that model is" : "they are") archived")
    }
  }
}
