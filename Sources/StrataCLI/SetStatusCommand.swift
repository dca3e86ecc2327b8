internal import ArgumentParser
internal import Foundation
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
      references, and refused in new training exports unless they pass --force. RETIRED: reads and
      writes are refused. ACTIVE undoes either. Each change is recorded with who asked (--by, default
      the user running the command), when and why (--reason); `strata describe` shows the history.
      """)

  @Argument(help: "GROUP@VERSION.") var group: String
  @Argument(help: "ACTIVE, DEPRECATED or RETIRED.") var status: String
  @Option(help: ArgumentHelp("Why (recorded with the change; at most 1024 bytes).", valueName: "TEXT")) var reason: String?
  @Option(help: ArgumentHelp("Who asks (recorded with the change; default: the user running the command).", valueName: "NAME"))
  var by: String?
  @OptionGroup var client: ClientOptions

  /// The user running the command, found as Python's `getpass.getuser()` finds it (so the CLI and
  /// the SDK record the same name): $LOGNAME, $USER, $LNAME, $USERNAME, then the password database;
  /// empty when none names one.
  static var userName: String {
    let environment = ProcessInfo.processInfo.environment
    for key in ["LOGNAME", "USER", "LNAME", "USERNAME"] {
      if let name = environment[key], !name.isEmpty { return name }
    }
    guard let entry = getpwuid(getuid()), let name = entry.pointee.pw_name else { return "" }
    return String(cString: name)
  }

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
      $0.reason = reason ?? ""
      $0.changedBy = by ?? Self.userName
    }
    let response = try await client.withFeatureStore { try await $0.setFeatureGroupStatus(request) }
    print("\(response.group.spec.name)@\(response.group.version)\t\(status.rawValue)")
  }
}
