internal import ArgumentParser
internal import StrataProto
internal import SwiftProtobuf

/// `--pipeline` and `--run-id`: who writes, recorded in the group version's write log on the node
/// (`strata lineage`).
struct WriterOptions: ParsableArguments {
  @Option(help: ArgumentHelp("The pipeline writing these rows (recorded in the write log; at most 256 bytes).", valueName: "NAME"))
  var pipeline: String?
  @Option(name: .customLong("run-id"), help: ArgumentHelp("The run of the pipeline (at most 256 bytes).", valueName: "ID"))
  var runID: String?

  func validate() throws {
    for (flag, value) in [("--pipeline", pipeline), ("--run-id", runID)] {
      if let value, value.utf8.count > 256 { throw ValidationError("\(flag) is \(value.utf8.count) bytes; at most 256 are allowed") }
    }
  }

  /// The identity every batch carries; nil when neither option is given.
  var identity: Strata_V1_WriterIdentity? {
    guard pipeline != nil || runID != nil else { return nil }
    return .with {
      $0.pipeline = pipeline ?? ""
      $0.runID = runID ?? ""
    }
  }
}
