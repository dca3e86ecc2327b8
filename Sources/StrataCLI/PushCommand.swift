internal import ArgumentParser
internal import Foundation
internal import GRPCCore
internal import StrataCore
internal import StrataGRPC
internal import StrataProto
internal import SwiftProtobuf
internal import Synchronization

struct PushCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "push",
    abstract: "Push the events of a CSV file into a stream.",
    discussion: """
      Columns: entity_id, event_timestamp (RFC 3339 or epoch seconds/milliseconds), optionally \
      created_timestamp, and any fields of the stream (an empty cell is a null). The events are sent in \
      batches over one call; the node stores each batch atomically and answers it. A bad row stops the \
      push before its batch: the batches before it stay stored, and the error names their lines.

      Every batch carries an idempotency key, PREFIX:N for batch N (from 0). The default prefix is a \
      digest of the stream, its version and the file's bytes, so running the same command again (same \
      file, same --batch-rows) sends the same batches with the same keys: the node answers the ones it \
      already stored as duplicates instead of storing their events twice. The node remembers keys for \
      24 hours, each node its own: resume against the node the first run talked to.
      """)

  @Option(help: "Target stream: STREAM (latest ACTIVE version) or STREAM@VERSION.") var stream: String
  @Argument(help: "The CSV file.") var file: String
  @Option(
    name: [.customLong("batch-rows"), .customLong("batch-size")],
    help: "Events per batch (one idempotency key each); a rerun must use the same value to be recognized.")
  var batchRows = 5_000
  @Option(
    help: ArgumentHelp(
      "On a replicated cluster: how many replicas of each event must store it before a batch is acknowledged: ONE, QUORUM (the default: a majority) or ALL.",
      valueName: "LEVEL"))
  var consistency: String = "QUORUM"
  @Option(
    name: .customLong("idempotency-prefix"),
    help: ArgumentHelp(
      "The prefix of the batches' idempotency keys (default: push- and a digest of the stream and the file). Pass a failed push's prefix to resume it after editing the lines it had not pushed.",
      valueName: "PREFIX"))
  var idempotencyPrefix: String?
  @Flag(name: .customLong("no-idempotency"), help: "Send no idempotency keys: pushing the file again stores its events again.")
  var noIdempotency = false
  @OptionGroup var writerOptions: WriterOptions
  @OptionGroup var client: ClientOptions

  /// Batches sent before waiting for the answer to the oldest of them: the node works on one while the
  /// next ones travel.
  static let maxInFlight = 4

  func validate() throws {
    guard batchRows >= 1 else { throw ValidationError("--batch-rows must be at least 1") }
    _ = try ConsistencyArgument.parse(consistency)
    if let prefix = idempotencyPrefix {
      guard !noIdempotency else { throw ValidationError("--idempotency-prefix and --no-idempotency exclude each other") }
      guard !prefix.isEmpty, prefix.utf8.count <= PushKeys.maxPrefixBytes else {
        throw ValidationError("--idempotency-prefix must be 1 to \(PushKeys.maxPrefixBytes) bytes long")
      }
    }
  }

  func run() async throws {
    let (name, version) = try GroupArgument.parse(stream)
    let level = try ConsistencyArgument.parse(consistency)
    let identity = writerOptions.identity
    let (host, port) = try client.address
    let (file, batchRows, chosenPrefix, useKeys) = (self.file, self.batchRows, idempotencyPrefix, !noIdempotency)
    let started = ContinuousClock.now

    let (group, prefix, tally, inputFailure) = try await client.withFeatureStore { store in
      let group = try FeatureGroup(
        proto: try await store.getFeatureGroup(
          .with {
            $0.name = name
            $0.version = version
          }
        ).group)
      if let problem = PushReport.notAStream(group) { throw CLIError(problem) }
      let plan: IngestPlan
      let prefix: String?
      do throws(StrataError) {
        plan = try IngestPlan(header: try CSVReader(path: file).header, group: group, fileName: file)
        prefix = try Self.keyPrefix(useKeys: useKeys, chosen: chosenPrefix, group: group, file: file)
      } catch {
        throw CLIError(error)
      }
      let tally = PushTally()
      let inputFailure = Mutex<StrataError?>(nil)
      let (acks, ackContinuation) = AsyncStream.makeStream(of: Void.self)
      do {
        try await store.pushEvents(
          requestProducer: { writer in
            let sender = BatchSender(
              writer: writer, plan: plan, file: file, batchRows: batchRows, consistency: level, prefix: prefix, tally: tally,
              identity: identity)
            if let failure = try await sender.run(acknowledgements: acks) {
              inputFailure.withLock { $0 = failure }
            }
          },
          onResponse: { response in
            defer { ackContinuation.finish() }
            for try await message in response.messages {
              try tally.answered(
                key: message.idempotencyKey, eventsWritten: message.eventsWritten, lateEvents: message.lateEvents,
                duplicate: message.duplicate)
              ackContinuation.yield()
            }
          })
      } catch let error as RPCError {
        throw CLIError(
          PushReport.callFailure(
            CLIError(rpc: error, server: "\(host):\(port)").description, failure: Self.failure(error), file: file,
            sent: tally.sent, totals: tally.totals, prefix: prefix))
      } catch let error as StrataError {
        throw CLIError(
          PushReport.callFailure(
            error.description, failure: .failed, file: file, sent: tally.sent, totals: tally.totals, prefix: prefix))
      }
      return (group, prefix, tally, inputFailure.withLock { $0 })
    }
    if let inputFailure {
      throw CLIError(PushReport.inputFailure(inputFailure, sent: tally.sent, totals: tally.totals, prefix: prefix))
    }
    print(
      PushReport.summary(
        stream: group.qualifiedName, totals: tally.totals, batches: tally.sent.count, seconds: Elapsed.seconds(since: started)))
  }

  /// How the call failed: the node's status codes for a refused batch, and the refusal of a key
  /// bound to other events (`IdempotencyLedger`), are told apart from failures of the node or the
  /// connection.
  static func failure(_ error: RPCError) -> PushReport.Failure {
    switch error.code {
    case .unavailable, .deadlineExceeded, .cancelled, .aborted, .unknown, .internalError, .dataLoss: .failed
    case .failedPrecondition where error.message.contains("idempotency key"): .reusedKey
    default: .rejected
    }
  }

  /// The prefix of the batches' keys: none, the chosen one, or the default for the stream and file.
  static func keyPrefix(useKeys: Bool, chosen: String?, group: FeatureGroup, file: String) throws(StrataError) -> String? {
    guard useKeys else { return nil }
    if let chosen { return chosen }
    return try PushKeys.defaultPrefix(stream: group.name, version: group.version, path: file)
  }
}

/// Reads the CSV file and sends its events as batches of `batchRows`, each with its key, at most
/// `PushCommand.maxInFlight` unanswered at a time.
private struct BatchSender {
  let writer: RPCWriter<Strata_V1_PushEventsRequest>
  let plan: IngestPlan
  let file: String
  let batchRows: Int
  let consistency: Strata_V1_Consistency
  let prefix: String?
  let tally: PushTally
  /// Who pushes (every batch carries it), nil when not named.
  let identity: Strata_V1_WriterIdentity?

  /// Sends every batch; `acknowledgements` yields once per answer and ends with the call. Returns the
  /// error of the file's first bad record (the batches before it are sent, its own is not), nil when
  /// the whole file was sent. Throws when a send fails (the call ended: its status says why).
  func run(acknowledgements: AsyncStream<Void>) async throws -> StrataError? {
    let reader: CSVReader
    do {
      reader = try CSVReader(path: file)
    } catch {
      return error
    }
    let progress = ProgressBar(total: reader.totalBytes, label: "push")
    defer { progress.finish() }
    var answers = acknowledgements.makeAsyncIterator()
    var unanswered = 0
    var batch = Strata_V1_PushEventsRequest()
    batch.stream = plan.group.name
    batch.version = UInt32(plan.group.version)
    batch.fields = plan.featureNames
    batch.consistency = consistency
    if let identity { batch.writer = identity }
    var firstLine = 0
    var lastLine = 0
    var sent = 0
    var events = 0

    /// Sends `batch`; false when the call ended while waiting for room.
    func flush() async throws -> Bool {
      while unanswered >= PushCommand.maxInFlight {
        guard await answers.next() != nil else { return false }
        unanswered -= 1
      }
      batch.idempotencyKey = prefix.map { PushKeys.key(prefix: $0, batch: sent) } ?? ""
      tally.sending(.init(key: batch.idempotencyKey, firstLine: firstLine, lastLine: lastLine, events: batch.events.count))
      try await writer.write(batch)
      unanswered += 1
      sent += 1
      events += batch.events.count
      batch.events.removeAll(keepingCapacity: true)
      progress.update(done: reader.bytesRead, rows: events)
      return true
    }

    do {
      while let record = try reader.nextRecord() {
        let r = try plan.row(record, line: reader.lineNumber)
        var event = Strata_V1_WriteRow()
        event.entityID = r.entityID
        event.eventTimestampMicros = r.event.microseconds
        if let c = r.created { event.createdTimestampMicros = c.microseconds }
        event.values = r.values.map(\.proto)
        if batch.events.isEmpty { firstLine = reader.lineNumber }
        lastLine = reader.lineNumber
        batch.events.append(event)
        if batch.events.count >= batchRows {
          guard try await flush() else { return nil }
        }
      }
    } catch let error as StrataError {
      return error
    }
    if !batch.events.isEmpty { _ = try await flush() }
    return nil
  }
}
