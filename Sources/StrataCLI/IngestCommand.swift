internal import ArgumentParser
internal import Foundation
internal import GRPCCore
internal import StrataCore
internal import StrataGRPC
internal import StrataProto
internal import SwiftProtobuf
internal import Synchronization

struct IngestCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ingest",
    abstract: "Write the rows of a CSV file into a feature group.",
    discussion: """
      Columns: entity_id, event_timestamp (RFC 3339 or epoch seconds/milliseconds), optionally \
      created_timestamp, and any features of the group (an empty cell is a null). Rows are streamed in \
      batches; each batch is committed atomically. A bad row stops the ingest at that row: the batches \
      before it stay committed and the summary says how many rows that was.
      """)

  @Option(help: "Target group: GROUP (latest ACTIVE version) or GROUP@VERSION.") var group: String
  @Argument(help: "The CSV file.") var file: String
  @Option(name: .customLong("batch-size"), help: "Rows per write batch.") var batchSize = 5_000
  @Option(
    help: ArgumentHelp(
      "On a replicated cluster: how many replicas of each row must store it before a batch is acknowledged: ONE, QUORUM (the default: a majority) or ALL.",
      valueName: "LEVEL"))
  var consistency: String = "QUORUM"
  @OptionGroup var writerOptions: WriterOptions
  @OptionGroup var client: ClientOptions

  func validate() throws {
    guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
    _ = try level()
  }

  private func level() throws -> Strata_V1_Consistency {
    try ConsistencyArgument.parse(consistency)
  }

  func run() async throws {
    let (name, version) = try GroupArgument.parse(group)
    let file = self.file
    let batchSize = self.batchSize
    let level = try level()
    let identity = writerOptions.identity
    let started = ContinuousClock.now
    let sent = Mutex((rows: 0, batches: 0))
    let failure = Mutex<(any Error)?>(nil)
    let response: Strata_V1_WriteFeaturesResponse
    do {
      response = try await client.withFeatureStore { store in
        let g = try FeatureGroup(
          proto: try await store.getFeatureGroup(
            .with {
              $0.name = name
              $0.version = version
            }
          ).group)
        let reader = try CSVReader(path: file)
        let plan = try IngestPlan(header: reader.header, group: g, fileName: file)
        return try await store.writeFeatures(requestProducer: { writer in
          do {
            let reader = try CSVReader(path: file)
            let progress = ProgressBar(total: reader.totalBytes, label: "ingest")
            var batch = Strata_V1_WriteFeaturesRequest()
            batch.group = g.name
            batch.version = UInt32(g.version)
            batch.features = plan.featureNames
            batch.consistency = level
            if let identity { batch.writer = identity }
            var rows = 0
            func flush() async throws {
              try await writer.write(batch)
              rows += batch.rows.count
              sent.withLock {
                $0.rows += batch.rows.count
                $0.batches += 1
              }
              batch.rows.removeAll(keepingCapacity: true)
              progress.update(done: reader.bytesRead, rows: rows)
            }
            while let record = try reader.nextRecord() {
              let r = try plan.row(record, line: reader.lineNumber)
              var row = Strata_V1_WriteRow()
              row.entityID = r.entityID
              row.eventTimestampMicros = r.event.microseconds
              if let c = r.created { row.createdTimestampMicros = c.microseconds }
              row.values = r.values.map(\.proto)
              batch.rows.append(row)
              if batch.rows.count >= batchSize { try await flush() }
            }
            if !batch.rows.isEmpty { try await flush() }
            progress.finish()
          } catch {
            // Only problems of the input itself; a failed send means the node ended the call, and the
            // node's status (the error of the call) says why.
            if error is StrataError || error is CLIError { failure.withLock { $0 = error } }
            throw error
          }
        })
      }
    } catch {
      let committed = sent.withLock { $0 }
      let cause = failure.withLock { $0 } ?? error
      let text = (cause as? StrataError).map(\.description) ?? String(describing: cause)
      if committed.batches > 0 {
        throw CLIError(
          "\(text)\nstopped: rows before this point were sent in \(committed.batches) batches (\(committed.rows) rows); batches the node acknowledged are committed")
      }
      throw CLIError(text)
    }
    let seconds = Elapsed.seconds(since: started)
    let rate = seconds > 0 ? Double(response.rowsWritten) / seconds : 0
    print(
      "ingested \(response.rowsWritten) rows into \(group) in \(response.batches) batches, \(String(format: "%.2f", seconds))s (\(Int(rate)) rows/s), \(response.lateRows) late rows"
        + (response.replicationFactor > 1
          ? ", every row on at least \(response.replicasAcknowledged) of \(response.replicationFactor) replicas when acknowledged" : "")
    )
  }
}

/// Parses `GROUP` or `GROUP@N` (N >= 1); version 0 on the wire means "latest ACTIVE".
enum GroupArgument {
  static func parse(_ text: String) throws -> (String, UInt32) {
    guard let at = text.firstIndex(of: "@") else { return (text, 0) }
    guard let v = UInt32(text[text.index(after: at)...]), v >= 1 else {
      throw ValidationError("'\(text)' has an invalid version; write GROUP or GROUP@N with N >= 1")
    }
    return (String(text[..<at]), v)
  }
}

/// Parses `--consistency`: ONE, QUORUM or ALL, case-insensitively.
enum ConsistencyArgument {
  static func parse(_ text: String) throws -> Strata_V1_Consistency {
    switch text.uppercased() {
    case "ONE": .one
    case "QUORUM": .quorum
    case "ALL": .all
    default: throw ValidationError("--consistency must be ONE, QUORUM or ALL, got '\(text)'")
    }
  }
}

enum Elapsed {
  static func seconds(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
  }
}
