internal import ArgumentParser
internal import StrataCore
internal import StrataGRPC
internal import StrataProto
internal import SwiftProtobuf

struct ApplyCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "apply",
    abstract: "Register the feature groups of a YAML definition file (unchanged groups are a no-op, changed ones get a new version).")

  @Argument(help: "The definition file (YAML).") var file: String
  @OptionGroup var client: ClientOptions

  func run() async throws {
    let specs: [FeatureGroupSpec]
    do {
      specs = try DefinitionFile.load(path: file)
    } catch {
      throw CLIError(error)
    }
    let request = Strata_V1_ApplyFeatureGroupsRequest.with { $0.groups = specs.map(\.proto) }
    let response = try await client.withFeatureStore { try await $0.applyFeatureGroups(request) }
    for r in response.results {
      let what: String
      switch r.outcome {
      case .created: what = "created"
      case .newVersion: what = "new version"
      case .unchanged: what = "unchanged"
      default: what = "?"
      }
      print("\(r.group)@\(r.version)\t\(what)")
    }
  }
}
