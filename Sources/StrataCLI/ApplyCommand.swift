internal import ArgumentParser
internal import GRPCCore
internal import StrataCore
internal import StrataGRPC
internal import StrataProto
internal import SwiftProtobuf

struct ApplyCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "apply",
    abstract: "Register the streams and feature groups of a YAML definition file (unchanged ones are a no-op, changed ones get a new version).",
    discussion: """
      Streams are applied before groups, so a group may read a stream defined in the same file. A group \
      over a stream defined elsewhere is checked against that stream's newest ACTIVE version on the node \
      (fields, functions, defaults) before anything is applied.
      """)

  @Argument(help: "The definition file (YAML).") var file: String
  @OptionGroup var client: ClientOptions

  func run() async throws {
    let file = self.file
    let parsed = try Self.load(file, knownStreams: [:])
    let external = DefinitionFile.externalStreams(of: parsed)
    let (response, specs) = try await client.withFeatureStore { store -> (Strata_V1_ApplyFeatureGroupsResponse, [FeatureGroupSpec]) in
      var specs = parsed
      if !external.isEmpty {
        // Parse again knowing the registered streams: field types check the aggregates and their defaults.
        var known: [String: FeatureGroupSpec] = [:]
        for name in external {
          if let stream = try await Self.registeredStream(name, store: store) { known[name] = stream }
        }
        if !known.isEmpty { specs = try Self.load(file, knownStreams: known) }
      }
      let request = Strata_V1_ApplyFeatureGroupsRequest.with { [specs] in $0.groups = specs.map(\.proto) }
      return (try await store.applyFeatureGroups(request), specs)
    }
    let kinds = Dictionary(specs.map { ($0.name, $0.source) }, uniquingKeysWith: { (first: GroupSource, _: GroupSource) in first })
    for r in response.results {
      let what: String
      switch r.outcome {
      case .created: what = "created"
      case .newVersion: what = "new version"
      case .unchanged: what = "unchanged"
      default: what = "?"
      }
      var kind = ""
      switch kinds[r.group] {
      case .events?: kind = "\t(stream)"
      case .aggregates(let stream, _)?: kind = "\t(aggregates of \(stream))"
      case .rows?, nil: break
      }
      print("\(r.group)@\(r.version)\t\(what)\(kind)")
    }
  }

  /// The definition file's specs; its errors as `CLIError`s.
  static func load(_ file: String, knownStreams: [String: FeatureGroupSpec]) throws -> [FeatureGroupSpec] {
    do {
      return try DefinitionFile.load(path: file, knownStreams: knownStreams)
    } catch {
      throw CLIError(error)
    }
  }

  /// The newest ACTIVE version of the stream `name` on the node, or nil if there is none (or `name`
  /// is not a stream): applying then reports it.
  static func registeredStream(
    _ name: String, store: Strata_V1_FeatureStore.Client<some ClientTransport>
  ) async throws -> FeatureGroupSpec? {
    do {
      let response = try await store.getFeatureGroup(.with { $0.name = name })
      let group = try FeatureGroup(proto: response.group)
      return group.spec.source == .events ? group.spec : nil
    } catch let error as RPCError where error.code == .notFound || error.code == .failedPrecondition {
      return nil
    }
  }
}
