internal import ArgumentParser
internal import StrataCore
internal import StrataGRPC
internal import StrataProto
internal import SwiftProtobuf

struct DescribeModelCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "describe-model",
    abstract: "Show one model version: its pinned features, the status of each group version, its training set and history.")

  @Argument(help: "NAME (newest ACTIVE version) or NAME@VERSION.") var model: String
  @OptionGroup var client: ClientOptions

  func run() async throws {
    let (name, version) = try ModelArgument.parse(model, requireVersion: false)
    let (response, groups) = try await client.withFeatureStore { store in
      let r = try await store.getModel(.with {
        $0.name = name
        $0.version = version
      })
      return (r, try await store.listFeatureGroups(.init()))
    }
    for line in ModelText.describe(response, groups: groups.groups) { print(line) }
  }
}

struct TrainingSetsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "training-sets",
    abstract: "List saved training sets (`strata join --training-set NAME`), or show one's manifest.")

  @Argument(help: "Show this training set's manifest.") var name: String?
  @OptionGroup var client: ClientOptions

  func run() async throws {
    let response = try await client.withFeatureStore { try await $0.listTrainingSets(.with { $0.name = name ?? "" }) }
    if name != nil, let set = response.trainingSets.first {
      for line in ModelText.manifest(set) { print(line) }
      return
    }
    guard !response.trainingSets.isEmpty else {
      print("(no training sets saved; `strata join --training-set NAME` saves one)")
      return
    }
    var rows = [["TRAINING SET", "LABELS", "LABEL TIMES", "KNOWN_AT", "COLUMNS", "GROUP VERSIONS", "CREATED", "BY"]]
    for t in response.trainingSets {
      rows.append([
        t.name, "\(t.labelRows)", ModelText.labelRange(t), t.usedKnownAt ? "yes" : "no", "\(t.features.count)",
        ModelText.groupVersions(t.features).joined(separator: ", "), "\(Timestamp(microseconds: t.createdAtMicros))",
        t.createdBy.isEmpty ? "-" : t.createdBy,
      ])
    }
    print(Table.render(rows))
  }
}
