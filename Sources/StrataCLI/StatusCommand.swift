internal import ArgumentParser
internal import StrataCore
internal import StrataProto
internal import SwiftProtobuf

struct StatusCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "status", abstract: "Show a node's status.")

  @OptionGroup var client: ClientOptions

  func run() async throws {
    let s = try await client.withFeatureStore { try await $0.getStatus(.init()) }
    print("node:           \(s.nodeID)  (strata \(s.version))")
    print("started at:     \(Timestamp(microseconds: s.startedAtMicros))")
    print("storage:        \(s.storageEngine), \(s.dataDirectory)")
    print("feature groups: \(s.featureGroups)")
    print("since start:    \(s.rowsWritten) rows written (\(s.lateRows) late), \(s.onlineLookups) entities looked up online, \(s.historicalRows) label rows joined")
    print("history images: \(s.historyImages) held, \(s.historyImageBytes >> 20) MiB, \(s.historyImageBuilds) built since start")
    if !s.groups.isEmpty {
      var rows = [["GROUP", "ROWS", "LAST WRITE"]]
      for g in s.groups {
        rows.append([
          "\(g.group)@\(g.version)", String(g.rowsTotal),
          g.lastWriteMicros == 0 ? "never" : Timestamp(microseconds: g.lastWriteMicros).description,
        ])
      }
      print("")
      print(Table.render(rows))
    }
  }
}
