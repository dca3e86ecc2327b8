internal import ArgumentParser
internal import StrataCore
internal import StrataGRPC
internal import StrataProto
internal import SwiftProtobuf

/// `strata models`: list, register, archive and re-activate model versions.
struct ModelsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "models",
    abstract: "List, register, archive and re-activate models: the exact feature versions a model was trained on and is served with.",
    discussion: """
      A model version pins its features to group versions (group@V:feature) and names the training set \
      it was trained on. Serve it with `strata get --model NAME@V`. While a model version is ACTIVE, the \
      group versions it reads cannot be RETIRED; archiving it (`strata models archive NAME@V`) releases them.
      """,
    subcommands: [ModelsListCommand.self, ModelsRegisterCommand.self, ModelsArchiveCommand.self, ModelsActivateCommand.self],
    defaultSubcommand: ModelsListCommand.self)
}

struct ModelsListCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "list", abstract: "List model versions (all, or one model's).")

  @Argument(help: "Only this model's versions.") var name: String?
  @OptionGroup var client: ClientOptions

  func run() async throws {
    let response = try await client.withFeatureStore { try await $0.listModels(.with { $0.name = name ?? "" }) }
    guard !response.models.isEmpty else {
      print("(no models registered; `strata models register` registers one)")
      return
    }
    var rows = [["MODEL", "STATUS", "FEATURES", "GROUP VERSIONS", "TRAINING SET", "REGISTERED", "BY"]]
    for m in response.models {
      rows.append([
        "\(m.name)@\(m.version)", ModelText.status(m.status), "\(m.features.count)", ModelText.groupVersions(m.features).joined(separator: ", "),
        m.trainingSet.isEmpty ? "-" : m.trainingSet, "\(Timestamp(microseconds: m.registeredAtMicros))",
        m.registeredBy.isEmpty ? "-" : m.registeredBy,
      ])
    }
    print(Table.render(rows))
  }
}

struct ModelsRegisterCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "register",
    abstract: "Register a model version on pinned feature versions, or on the columns of a saved training set.",
    discussion: """
      Unpinned references (group:feature) are pinned to the version they resolve to now. With \
      --training-set and no --features, the model's features are the training set's columns; with \
      both, every feature must be one of them. Registering the same definition again changes nothing. \
      DEPRECATED versions are refused unless --force.
      """)

  @Argument(help: "NAME, or NAME@VERSION to choose the version (default: the next one).") var model: String
  @Option(help: "Feature references, comma-separated: group:feature, group@2:feature, group:*.") var features: String?
  @Option(name: .customLong("training-set"), help: "The saved training set the model was trained on (`strata join --training-set`).")
  var trainingSet: String?
  @Option(help: ArgumentHelp("A description (at most 4096 bytes).", valueName: "TEXT")) var description: String?
  @Option(help: ArgumentHelp("Who registers it (default: the user running the command).", valueName: "NAME")) var by: String?
  @Flag(help: "Allow pinning DEPRECATED versions.") var force = false
  @OptionGroup var client: ClientOptions

  func run() async throws {
    let (name, version) = try ModelArgument.parse(model, requireVersion: false)
    guard features != nil || trainingSet != nil else {
      throw ValidationError("give --features, --training-set, or both")
    }
    let request = Strata_V1_RegisterModelRequest.with {
      $0.name = name
      $0.version = version
      $0.features = (features ?? "").split(separator: ",").map { String($0).trimmingWhitespace }.filter { !$0.isEmpty }
      $0.trainingSet = trainingSet ?? ""
      $0.description_p = description ?? ""
      $0.registeredBy = by ?? SetStatusCommand.userName
      $0.force = force
    }
    let response = try await client.withFeatureStore { try await $0.registerModel(request) }
    let m = response.model
    print("\(m.name)@\(m.version)\t\(response.created ? "registered" : "unchanged (already registered)")")
    for f in m.features { print("  \(f)") }
  }
}

struct ModelsArchiveCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "archive",
    abstract: "Archive a model version: it is no longer served, and the group versions it reads may be retired.")

  @Argument(help: "NAME@VERSION.") var model: String
  @Option(help: ArgumentHelp("Why (recorded with the change; at most 1024 bytes).", valueName: "TEXT")) var reason: String?
  @Option(help: ArgumentHelp("Who asks (default: the user running the command).", valueName: "NAME")) var by: String?
  @OptionGroup var client: ClientOptions

  func run() async throws {
    try await ModelArgument.setStatus(.archived, model: model, reason: reason, by: by, client: client)
  }
}

struct ModelsActivateCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "activate", abstract: "Make an archived model version ACTIVE again (refused when a version it reads was retired).")

  @Argument(help: "NAME@VERSION.") var model: String
  @Option(help: ArgumentHelp("Why (recorded with the change; at most 1024 bytes).", valueName: "TEXT")) var reason: String?
  @Option(help: ArgumentHelp("Who asks (default: the user running the command).", valueName: "NAME")) var by: String?
  @OptionGroup var client: ClientOptions

  func run() async throws {
    try await ModelArgument.setStatus(.active, model: model, reason: reason, by: by, client: client)
  }
}

/// Parses `NAME` / `NAME@V` and runs model status changes for the CLI.
enum ModelArgument {
  static func parse(_ text: String, requireVersion: Bool) throws -> (String, UInt32) {
    let reference: ModelReference
    do {
      reference = try ModelReference(parsing: text)
    } catch {
      throw ValidationError(error.message)
    }
    if requireVersion, reference.version == nil { throw ValidationError("name the version: \(text)@N") }
    return (reference.name, UInt32(reference.version ?? 0))
  }

  static func setStatus(_ status: ModelStatus, model: String, reason: String?, by: String?, client: ClientOptions) async throws {
    let (name, version) = try parse(model, requireVersion: true)
    let request = Strata_V1_SetModelStatusRequest.with {
      $0.name = name
      $0.version = version
      $0.status = status.proto
      $0.reason = reason ?? ""
      $0.changedBy = by ?? SetStatusCommand.userName
    }
    let response = try await client.withFeatureStore { try await $0.setModelStatus(request) }
    print("\(response.model.name)@\(response.model.version)\t\(ModelText.status(response.model.status))")
  }
}
