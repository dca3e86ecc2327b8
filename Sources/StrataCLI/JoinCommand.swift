internal import ArgumentParser
internal import Foundation
internal import GRPCCore
internal import StrataCore
internal import StrataGRPC
internal import StrataProto
internal import SwiftProtobuf
internal import Synchronization

struct JoinCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "join",
    abstract: "Point-in-time join: add feature values as of each label's timestamp to a CSV of labels.",
    discussion: """
      The labels file needs an entity_id column and a label_timestamp column (or event_timestamp or
      timestamp); an optional known_at column ignores rows created after that time (as-of-known-time);
      every other column (e.g. the label) is passed through. For each row the value of each
      feature is the one with the greatest event_timestamp <= label_timestamp (ties: the greatest
      created_timestamp); output rows are in input order.
      """)

  @Option(help: "CSV of label rows.") var labels: String
  @Option(help: "Feature references, comma-separated: group:feature, group@2:feature, group:*.") var features: String
  @Option(help: "Output CSV file (default: standard output).") var out: String?
  @Flag(name: .customLong("with-status"), help: "Add a <feature>__status column (PRESENT, DEFAULTED, MISSING, EXPIRED) per feature.")
  var withStatus = false
  @Flag(help: "Receive, check and count the joined rows but write no CSV (measures the join without the text formatting).")
  var discard = false
  @Option(name: .customLong("chunk-size"), help: "Label rows per request message. The node answers chunk by chunk, so smaller chunks overlap the node's work with the client's; larger ones save per-message overhead when the node reads history from disk.")
  var chunkSize = 25_000
  @Flag(help: "Export pinned DEPRECATED versions too (refused otherwise: new training data should not be built on a version on its way out).")
  var force = false
  @Option(name: .customLong("training-set"), help: "Save the export as a named training set: its manifest (pinned columns, label count, checksum and time range, known_at use, who and when) is registered when the join completes; `strata training-sets` lists them and `strata models register --training-set` builds on one.")
  var trainingSet: String?
  @Option(help: ArgumentHelp("The training set's description (with --training-set).", valueName: "TEXT")) var description: String?
  @Option(help: ArgumentHelp("Who makes the training set (with --training-set; default: the user running the command).", valueName: "NAME"))
  var by: String?
  @OptionGroup var client: ClientOptions

  func validate() throws {
    guard chunkSize >= 1 else { throw ValidationError("--chunk-size must be at least 1") }
    guard !(discard && (out != nil || withStatus)) else { throw ValidationError("--discard writes nothing: drop --out and --with-status") }
    guard trainingSet != nil || (description == nil && by == nil) else {
      throw ValidationError("--description and --by describe a training set: add --training-set NAME")
    }
  }

  func run() async throws {
    let refs = features.split(separator: ",").map { String($0).trimmingWhitespace }
    let labelsFile = labels
    let header: [String]
    let entityColumn: Int
    let timeColumn: Int
    let knownAtColumn: Int?
    do {
      let reader = try CSVReader(path: labelsFile)
      header = reader.header
      guard let e = header.firstIndex(of: "entity_id") else {
        throw CLIError("\(labelsFile): the header has no 'entity_id' column")
      }
      guard let t = header.firstIndex(of: "label_timestamp") ?? header.firstIndex(of: "event_timestamp") ?? header.firstIndex(of: "timestamp") else {
        throw CLIError("\(labelsFile): the header has no 'label_timestamp' (or 'event_timestamp', 'timestamp') column")
      }
      entityColumn = e
      timeColumn = t
      knownAtColumn = header.firstIndex(of: "known_at")
    } catch let error as StrataError {
      throw CLIError(error)
    }
    let output = try OutputFile(path: discard ? "/dev/null" : out)
    let discard = self.discard
    let pending = PendingLabels()
    let chunkSize = self.chunkSize
    let withStatus = self.withStatus
    let (trainingSet, description, by) = (self.trainingSet, self.description, self.by)
    let started = ContinuousClock.now
    let failure = Mutex<(any Error)?>(nil)
    let summary: JoinSummary
    do {
      summary = try await client.withFeatureStore { store in
        try await store.getHistoricalFeatures(
          requestProducer: { writer in
            do {
              let reader = try CSVReader(path: labelsFile)
              let progress = ProgressBar(total: reader.totalBytes, label: "join")
              var message = Strata_V1_GetHistoricalFeaturesRequest()
              message.features = refs
              message.columnar = true
              message.force = force
              if let trainingSet {
                message.trainingSet = trainingSet
                message.trainingSetDescription = description ?? ""
                message.createdBy = by ?? SetStatusCommand.userName
              }
              var sentRows = 0
              var chunk: [[String]] = []
              while let record = try reader.nextRecord() {
                guard !record[entityColumn].isEmpty else {
                  throw CLIError("\(labelsFile) line \(reader.lineNumber): entity_id is empty")
                }
                guard let t = TimestampFormat.parse(record[timeColumn]) else {
                  throw CLIError(
                    "\(labelsFile) line \(reader.lineNumber), column '\(header[timeColumn])': '\(record[timeColumn])' is not a timestamp; use RFC 3339 (2024-05-01T12:00:00Z) or epoch seconds/milliseconds")
                }
                var knownAt: Timestamp?
                if let k = knownAtColumn, !record[k].isEmpty {
                  guard let parsed = TimestampFormat.parse(record[k]) else {
                    throw CLIError(
                      "\(labelsFile) line \(reader.lineNumber), column 'known_at': '\(record[k])' is not a timestamp; use RFC 3339 or epoch seconds/milliseconds")
                  }
                  knownAt = parsed
                }
                message.labels.append(.with {
                  $0.entityID = record[entityColumn]
                  $0.labelTimestampMicros = t.microseconds
                  if let knownAt { $0.knownAtMicros = knownAt.microseconds }
                })
                chunk.append(record)
                if message.labels.count >= chunkSize {
                  // Bounded memory: wait while the node is more than a few chunks behind.
                  while pending.count > 4 * chunkSize { try await Task.sleep(for: .milliseconds(1)) }
                  pending.push(chunk)
                  chunk.removeAll(keepingCapacity: true)
                  try await writer.write(message)
                  sentRows += message.labels.count
                  message = Strata_V1_GetHistoricalFeaturesRequest()
                  progress.update(done: reader.bytesRead, rows: sentRows)
                }
              }
              if !message.labels.isEmpty || !message.features.isEmpty {
                pending.push(chunk)
                try await writer.write(message)
              }
              progress.finish()
            } catch {
              // Only problems of the input itself; a failed send means the node ended the call, and
              // the node's status (the error of the call) says why.
              if error is StrataError || error is CLIError { failure.withLock { $0 = error } }
              throw error
            }
          },
          onResponse: { response in
            var written = 0
            var names: [String] = []
            var counts: [[Int]] = []
            var dtypes: [DType] = []
            var saved: Strata_V1_TrainingSet?
            for try await message in response.messages {
              if message.hasTrainingSet { saved = message.trainingSet }
              if !message.columns.isEmpty {
                names = JoinCommand.columnNames(message.columns)
                counts = Array(repeating: [0, 0, 0, 0], count: names.count)
                dtypes = try message.columns.map { try DType(proto: $0.dtype, embeddingDim: $0.embeddingDim, feature: $0.feature) }
                var head = header + names
                if withStatus { head += names.map { $0 + "__status" } }
                if !discard { output.write(CSVReader.formatRecord(head) + "\n") }
              }
              if message.hasBatch {
                let batch = message.batch
                let n = Int(batch.rowCount)
                let view = try BatchView(batch, dtypes: dtypes)
                let passThroughRows = pending.pop(n)
                guard passThroughRows.count == n else {
                  throw CLIError("the node returned more rows than were sent (a bug)")
                }
                for c in 0..<dtypes.count {
                  for code in view.statuses[(c * n)..<((c + 1) * n)] where code >= 1 && code <= 4 { counts[c][Int(code) - 1] += 1 }
                }
                written += n
                if discard { continue }
                // Formatting text is the client's main cost: split the batch over the cores.
                let parts = n < 4096 ? 1 : min(4, ProcessInfo.processInfo.activeProcessorCount)
                let texts = Mutex([[UInt8]](repeating: [], count: parts))
                DispatchQueue.concurrentPerform(iterations: parts) { p in
                  let range = (n * p / parts)..<(n * (p + 1) / parts)
                  let text = CSVText.rows(range, passThrough: passThroughRows, batch: view, withStatus: withStatus)
                  texts.withLock { $0[p] = text }
                }
                for text in texts.withLock({ $0 }) { output.write(bytes: text) }
              }
            }
            return JoinSummary(rows: written, names: names, counts: counts, trainingSet: saved)
          })
      }
    } catch {
      let cause = failure.withLock { $0 } ?? error
      throw (cause as? StrataError).map { CLIError($0) } ?? cause
    }
    output.close()
    let seconds = Elapsed.seconds(since: started)
    let rate = seconds > 0 ? Int(Double(summary.rows) / seconds) : 0
    var text = "joined \(summary.rows) label rows in \(String(format: "%.2f", seconds))s (\(rate) rows/s)\(discard ? " (discarded)" : out.map { " -> \($0)" } ?? "")\n"
    for (name, c) in zip(summary.names, summary.counts) {
      text += "  \(name): \(c[0]) present, \(c[1]) defaulted, \(c[2]) missing, \(c[3]) expired\n"
    }
    if let set = summary.trainingSet {
      text += "saved training set \(set.name): \(set.labelRows) label rows, \(set.labelChecksum), \(set.features.count) columns on \(ModelText.groupVersions(set.features).joined(separator: ", "))\n"
    }
    FileHandle.standardError.write(Data(text.utf8))
  }

  /// Indexed by the wire `ValueStatus` number.
  static let statusNames = ["?", "PRESENT", "DEFAULTED", "MISSING", "EXPIRED"]

  /// `group:feature`, or `group@v:feature` where two columns would otherwise share a name.
  static func columnNames(_ columns: [Strata_V1_FeatureColumn]) -> [String] {
    let short = columns.map { "\($0.group):\($0.feature)" }
    var counts: [String: Int] = [:]
    for s in short { counts[s, default: 0] += 1 }
    return zip(columns, short).map { c, s in counts[s]! > 1 ? c.ref : s }
  }
}

/// What a join produced: rows, and per feature the count of each status
/// (present, defaulted, missing, expired).
struct JoinSummary: Sendable {
  var rows: Int
  var names: [String]
  var counts: [[Int]]
  /// The manifest of the training set the join saved, if it named one.
  var trainingSet: Strata_V1_TrainingSet?
}

/// Pass-through label records waiting for their joined row (the node answers in request order).
final class PendingLabels: Sendable {
  private let state = Mutex((rows: [[String]](), head: 0))

  func push(_ rows: [[String]]) {
    state.withLock { $0.rows.append(contentsOf: rows) }
  }

  /// Records sent but not yet answered.
  var count: Int { state.withLock { $0.rows.count - $0.head } }

  /// The next `n` records (fewer if fewer are waiting), in the order they were pushed.
  func pop(_ n: Int) -> [[String]] {
    state.withLock { s in
      let end = min(s.rows.count, s.head + n)
      let out = Array(s.rows[s.head..<end])
      s.head = end
      if s.head > 65_536 {
        s.rows.removeFirst(s.head)
        s.head = 0
      }
      return out
    }
  }

}

/// Buffered output to a file or standard output.
final class OutputFile: Sendable {
  private let handle: FileHandle
  private let buffer = Mutex([UInt8]())

  init(path: String?) throws {
    if let path {
      guard FileManager.default.createFile(atPath: path, contents: nil) else {
        throw CLIError("cannot create output file '\(path)'")
      }
      guard let h = FileHandle(forWritingAtPath: path) else { throw CLIError("cannot open output file '\(path)'") }
      handle = h
    } else {
      handle = FileHandle.standardOutput
    }
  }

  func write(_ text: String) {
    let full: [UInt8]? = buffer.withLock { b in
      b.append(contentsOf: text.utf8)
      guard b.count >= 1 << 16 else { return nil }
      defer { b.removeAll(keepingCapacity: true) }
      return b
    }
    if let full { handle.write(Data(full)) }
  }

  func write(bytes: [UInt8]) {
    let full: [UInt8]? = buffer.withLock { b in
      b.append(contentsOf: bytes)
      guard b.count >= 1 << 16 else { return nil }
      defer { b.removeAll(keepingCapacity: true) }
      return b
    }
    if let full { handle.write(Data(full)) }
  }

  func close() {
    let rest = buffer.withLock { b in
      defer { b.removeAll() }
      return b
    }
    if !rest.isEmpty { handle.write(Data(rest)) }
    if handle !== FileHandle.standardOutput { try? handle.close() }
  }
}

/// CSV output written straight into byte buffers (one per batch of joined rows).
enum CSVText {
  /// Appends `field`, quoted (RFC 4180) only if it contains a comma, quote, CR or LF.
  static func appendField(_ field: String, to out: inout [UInt8]) {
    let utf8 = field.utf8
    if !utf8.contains(where: { $0 == 44 || $0 == 34 || $0 == 13 || $0 == 10 }) {
      out.append(contentsOf: utf8)
      return
    }
    out.append(34)
    for b in utf8 {
      if b == 34 { out.append(34) }
      out.append(b)
    }
    out.append(34)
  }

  /// The CSV lines of rows `range` of a batch: pass-through fields, one field per feature (empty
  /// where null), then one status name per feature when `withStatus`.
  static func rows(_ range: Range<Int>, passThrough: [[String]], batch: BatchView, withStatus: Bool) -> [UInt8] {
    let n = batch.rows
    let kinds = batch.kinds
    let slots = batch.slots
    let dimensions = batch.dimensions
    var out: [UInt8] = []
    out.reserveCapacity(range.count * (32 + 20 * kinds.count))
    batch.masks.withUnsafeBufferPointer { masks in
      batch.floats.withUnsafeBufferPointer { floats in
        batch.ints.withUnsafeBufferPointer { ints in
          batch.strings.withUnsafeBufferPointer { strings in
            for i in range {
              for (k, cell) in passThrough[i].enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                appendField(cell, to: &out)
              }
              for c in 0..<kinds.count {
                out.append(UInt8(ascii: ","))
                guard masks[c * n + i] != 0 else { continue }
                let at = slots[c] * n + i
                switch kinds[c] {
                case .float: appendDouble(floats[at], to: &out)
                case .int: appendInt(ints[at], to: &out)
                case .string: appendField(strings[at], to: &out)
                case .embedding:
                  // "[a,b,...]" contains commas: always quoted.
                  let d = dimensions[c]
                  let values = batch.embeddings[slots[c]]
                  out.append(contentsOf: "\"[".utf8)
                  for k in 0..<d {
                    if k > 0 { out.append(UInt8(ascii: ",")) }
                    var text = String(values[i * d + k])
                    text.withUTF8 { out.append(contentsOf: $0) }
                  }
                  out.append(contentsOf: "]\"".utf8)
                }
              }
              if withStatus {
                for c in 0..<kinds.count {
                  out.append(UInt8(ascii: ","))
                  let code = Int(batch.statuses[c * n + i])
                  out.append(contentsOf: JoinCommand.statusNames[code < JoinCommand.statusNames.count ? code : 0].utf8)
                }
              }
              out.append(UInt8(ascii: "\n"))
            }
          }
        }
      }
    }
    return out
  }

  /// Decimal digits of `v`, without building a `String`.
  @inline(__always)
  static func appendInt(_ v: Int64, to out: inout [UInt8]) {
    if v < 0 { out.append(UInt8(ascii: "-")) }
    var m = v.magnitude
    if m < 10 {
      out.append(UInt8(ascii: "0") + UInt8(m))
      return
    }
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
      var k = 20
      while m > 0 {
        k -= 1
        digits[k] = UInt8(ascii: "0") + UInt8(m % 10)
        m /= 10
      }
      out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[k...]))
    }
  }

  /// The same text as `ValueText.formatDouble` (shortest round-trip form; integral values as "3.0";
  /// negative zero as "-0.0").
  @inline(__always)
  static func appendDouble(_ d: Double, to out: inout [UInt8]) {
    if d == 0, d.sign == .minus {
      out.append(contentsOf: "-0.0".utf8)
      return
    }
    if d == d.rounded(), abs(d) < 1e15 {
      appendInt(Int64(d), to: &out)
      out.append(contentsOf: ".0".utf8)
      return
    }
    var text = d.description
    text.withUTF8 { out.append(contentsOf: $0) }
  }
}

/// The columns of one joined batch unpacked into flat arrays, once per batch: reading a field of the
/// protobuf message (or of an array of column structs) per value would copy or retain it each time.
/// Column `c`'s statuses and masks are at `c * rows + i`; its values at `slots[c] * rows + i` in the
/// array of its kind (embeddings: `embeddings[slots[c]]`).
struct BatchView: Sendable {
  enum Kind: Sendable { case float, int, string, embedding }

  let rows: Int
  let kinds: [Kind]
  let slots: [Int]
  let dimensions: [Int]
  var statuses: [UInt8] = []
  var masks: [UInt8] = []
  var floats: [Double] = []
  var ints: [Int64] = []
  var strings: [String] = []
  var embeddings: [[Float]] = []

  /// Throws if a column's arrays do not have one entry per row (a malformed batch).
  init(_ batch: Strata_V1_JoinedBatch, dtypes: [DType]) throws {
    let n = Int(batch.rowCount)
    rows = n
    var kinds: [Kind] = []
    var slots: [Int] = []
    var dimensions: [Int] = []
    var counts = (float: 0, int: 0, string: 0, embedding: 0)
    guard batch.columns.count == dtypes.count else { throw CLIError("the node sent a batch with the wrong number of columns (a bug)") }
    for (column, dtype) in zip(batch.columns, dtypes) {
      let values =
        switch dtype {
        case .float: column.floatValues.count
        case .int: column.intValues.count
        case .string: column.stringValues.count
        case .embedding(let d): column.embeddingValues.count / max(1, d)
        }
      guard column.statuses.count == n, column.valueMask.count == n, values == n else {
        throw CLIError("the node sent a malformed batch (a bug)")
      }
      statuses.append(contentsOf: column.statuses)
      masks.append(contentsOf: column.valueMask)
      switch dtype {
      case .float:
        kinds.append(.float)
        slots.append(counts.float)
        counts.float += 1
        floats.append(contentsOf: column.floatValues)
      case .int:
        kinds.append(.int)
        slots.append(counts.int)
        counts.int += 1
        ints.append(contentsOf: column.intValues)
      case .string:
        kinds.append(.string)
        slots.append(counts.string)
        counts.string += 1
        strings.append(contentsOf: column.stringValues)
      case .embedding:
        kinds.append(.embedding)
        slots.append(counts.embedding)
        counts.embedding += 1
        embeddings.append(column.embeddingValues)
      }
      if case .embedding(let d) = dtype { dimensions.append(d) } else { dimensions.append(0) }
    }
    self.kinds = kinds
    self.slots = slots
    self.dimensions = dimensions
  }
}
