public import ArgumentParser
internal import Logging

/// The `strata` command line: one binary that serves a node and talks to one.
public struct StrataCommand: AsyncParsableCommand {
  public static let configuration = CommandConfiguration(
    commandName: "strata",
    abstract: "Strata: a feature store for machine learning.",
    discussion: """
      Start a node with `strata serve` (data in ./strata-data, gRPC on 127.0.0.1:7400), then register \
      feature groups and streams with `strata apply`, load data with `strata ingest` (rows) and \
      `strata push` (events), read it back with `strata get` (online) and `strata join` (point-in-time \
      training data).
      """,
    version: "0.1.0",
    subcommands: [
      ServeCommand.self, ApplyCommand.self, GroupsCommand.self, DescribeCommand.self, SetStatusCommand.self, IngestCommand.self,
      PushCommand.self, GetCommand.self, JoinCommand.self, StatusCommand.self, FreshnessCommand.self, LineageCommand.self, ImpactCommand.self,
      TrainingSetsCommand.self, ModelsCommand.self, DescribeModelCommand.self, RepairCommand.self,
      ClusterCommand.self,
      BenchCommand.self,
    ])

  public init() {}

  /// The process entry point: bootstraps logging (the only place that does) and runs the command.
  public static func runMain() async {
    LoggingSystem.bootstrap { label in
      var handler = StreamLogHandler.standardError(label: label)
      handler.logLevel = .info
      return handler
    }
    await main()
  }
}
