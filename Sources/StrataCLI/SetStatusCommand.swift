internal import ArgumentParser
internal import StrataCore
internal import StrataGRPC
internal import StrataProto
internal import SwiftProtobuf

struct SetStatusCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "set-status",
    abstract: "Change the lifecycle status of one group version: ACTIVE, DEPRECATED or RETIRED.",
    discussion: """
      DEPRECATED: still readable and writable when pinned (group@N:feature), never chosen by unpinned
      references. RETIRED: reads and writes are refused. ACTIVE undoes either.
      """)

  @Argument(help: "GROUP@VERSION.") var group: String
  @Argument(help: "ACTIVE, DEPRECATED or RETIRED.") var status: String
  @OptionGroup var client: ClientOptions

  func run() async throws {
    let (name, version) = try GroupArgument.parse(group)
    guard version >= 1 else { throw ValidationError("name the version: \(group)@N") }
    guard let status = GroupStatus(rawValue: status.uppercased()) else {
      throw ValidationError("status must be ACTIVE, DEPRECATED or RETIRED, got '\(status)'")
    }
    let request = Strata_V1_SetFeatureGroupStatusRequest.with {
      $0.name = name
      $0.version = version
      $0.status = status.proto
    }
    let response = try await client.withFeatureStore { try await $0.setFeatureGroupStatus(request) }
    print("\(response.group.spec.name)@\(response.group.version)\t\(status.rawValue)")
  }
}
