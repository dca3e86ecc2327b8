import Foundation
import StrataCore
import Testing

@testable import StrataCLI

/// Writes `text` to a fresh temporary file and returns its path.
private func file(_ text: String) throws -> String {
  let path = temporaryPath("events.csv")
  try Data(text.utf8).write(to: URL(fileURLWithPath: path))
  return path
}

private let csv = "entity_id,event_timestamp,amount\nu1,2024-05-01T00:00:00Z,1.5\n"

@Suite("strata push: idempotency keys")
struct PushKeysTests {
  @Test("FNV-1a 64 matches the reference values")
  func fnv() {
    for (text, hex) in [("", "cbf29ce484222325"), ("a", "af63dc4c8601ec8c"), ("foobar", "85944171f73967e8")] {
      var hash = FNV1a64()
      hash.add(Array(text.utf8))
      #expect(hash.hex == hex)
    }
  }

  @Test("the default prefix digests the stream, its version and the file's bytes")
  func defaultPrefix() throws {
    let path = try file(csv)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let prefix = try PushKeys.defaultPrefix(stream: "s", version: 1, path: path)
    #expect(prefix == "push-2869c64857497da1")
    #expect(try PushKeys.defaultPrefix(stream: "s", version: 1, path: path) == prefix)
    #expect(try PushKeys.defaultPrefix(stream: "t", version: 1, path: path) != prefix)
    #expect(try PushKeys.defaultPrefix(stream: "s", version: 2, path: path) != prefix)
    let other = try file(csv.replacingOccurrences(of: "1.5", with: "1.6"))
    defer { try? FileManager.default.removeItem(atPath: other) }
    #expect(try PushKeys.defaultPrefix(stream: "s", version: 1, path: other) != prefix)
    #expect(PushKeys.key(prefix: prefix, batch: 12) == "push-2869c64857497da1:12")
  }

  @Test("the default prefix of a file larger than one read chunk covers every byte")
  func largeFile() throws {
    let body = String(repeating: "u1,2024-05-01T00:00:00Z,1.5\n", count: 50_000)  // 1.4 MB
    let a = try file(csv + body + "u2,2024-05-01T00:00:00Z,1\n")
    let b = try file(csv + body + "u2,2024-05-01T00:00:00Z,2\n")
    defer {
      try? FileManager.default.removeItem(atPath: a)
      try? FileManager.default.removeItem(atPath: b)
    }
    #expect(try PushKeys.defaultPrefix(stream: "s", version: 1, path: a) != PushKeys.defaultPrefix(stream: "s", version: 1, path: b))
  }

  @Test("a missing file is NOT_FOUND")
  func missingFile() {
    let path = temporaryPath("missing.csv")
    #expect(throws: StrataError(.notFound, "\(path) does not exist")) {
      try PushKeys.defaultPrefix(stream: "s", version: 1, path: path)
    }
  }
}

@Suite("strata push: answers and reports")
struct PushReportTests {
  private func batch(_ index: Int, lines: ClosedRange<Int>, prefix: String? = "p") -> PushTally.Batch {
    PushTally.Batch(key: prefix.map { "\($0):\(index)" } ?? "", firstLine: lines.lowerBound, lastLine: lines.upperBound, events: lines.count)
  }

  @Test("answers are matched to the batches in order; duplicates are counted apart")
  func tally() throws {
    let tally = PushTally()
    tally.sending(batch(0, lines: 2...11))
    tally.sending(batch(1, lines: 12...21))
    try tally.answered(key: "p:0", eventsWritten: 10, lateEvents: 2, duplicate: true)
    try tally.answered(key: "p:1", eventsWritten: 10, lateEvents: 1, duplicate: false)
    #expect(tally.totals == PushTally.Totals(answered: 2, eventsWritten: 10, lateEvents: 1, duplicates: 1, duplicateEvents: 10))
  }

  @Test("an answer with another key, or to a batch not sent, is an internal error")
  func tallyMismatch() throws {
    let tally = PushTally()
    tally.sending(batch(0, lines: 2...11))
    #expect(throws: StrataError(.internalError, "the node's answer to batch 1 carries key 'p:7', but the batch had 'p:0'")) {
      try tally.answered(key: "p:7", eventsWritten: 10, lateEvents: 0, duplicate: false)
    }
    try tally.answered(key: "p:0", eventsWritten: 10, lateEvents: 0, duplicate: false)
    #expect(throws: StrataError(.internalError, "the node answered batch 2, which was not sent")) {
      try tally.answered(key: "p:1", eventsWritten: 10, lateEvents: 0, duplicate: false)
    }
  }

  @Test("the summary line counts what this run stored and the duplicates apart")
  func summary() {
    let fresh = PushTally.Totals(answered: 2, eventsWritten: 20_000, lateEvents: 3)
    #expect(
      PushReport.summary(stream: "purchases@1", totals: fresh, batches: 2, seconds: 2)
        == "pushed 20000 events into purchases@1 in 2 batches, 2.00s (10000 events/s), 3 late events, 0 batches already applied (duplicates)")
    let rerun = PushTally.Totals(answered: 2, duplicates: 2, duplicateEvents: 20_000)
    #expect(
      PushReport.summary(stream: "purchases@1", totals: rerun, batches: 2, seconds: 0.5)
        == "pushed 0 events into purchases@1 in 2 batches, 0.50s (0 events/s), 0 late events, 2 batches already applied (duplicates): their 20000 events were not stored again")
  }

  @Test("a bad record names the acknowledged lines and the prefix to resume with")
  func inputFailure() {
    let error = StrataError.invalidArgument("e.csv line 25, column 'amount': 'x' is not a number (the field is FLOAT)")
    let sent = [batch(0, lines: 2...11), batch(1, lines: 12...21)]
    let totals = PushTally.Totals(answered: 2, eventsWritten: 20)
    #expect(
      PushReport.inputFailure(error, sent: sent, totals: totals, prefix: "p")
        == """
        e.csv line 25, column 'amount': 'x' is not a number (the field is FLOAT)
        stopped: 2 batches (20 events, lines 2-21) were acknowledged; nothing after line 21 was sent. To resume after fixing the file, push it again with --idempotency-prefix p and the same --batch-rows: the node answers the batches it stored as duplicates as long as lines up to 21 are unchanged.
        """)
    #expect(PushReport.inputFailure(error, sent: sent, totals: totals, prefix: nil).hasSuffix("so push only the lines after 21."))
    #expect(PushReport.inputFailure(error, sent: [], totals: .init(), prefix: "p").hasSuffix("\nstopped: nothing was pushed"))
  }

  @Test("a rejected batch is named with its lines; the rest is pushed from its first line with another prefix")
  func rejected() {
    let sent = [batch(0, lines: 2...11), batch(1, lines: 12...21), batch(2, lines: 22...31)]
    let text = PushReport.callFailure(
      "INVALID_ARGUMENT: bad", failure: .rejected, file: "e.csv", sent: sent, totals: .init(answered: 1, eventsWritten: 10), prefix: "p")
    #expect(
      text == """
        batch 2 (lines 12-21 of e.csv) was not stored: INVALID_ARGUMENT: bad
        the 1 batches sent after it were not applied (the node stops at a rejected batch)
        stopped: 1 batches (10 events, lines 2-11) were acknowledged. Once the cause is fixed, push the header line and lines 12 to the end as a file of their own with another --idempotency-prefix: the node keeps the key p:1 of the rejected batch bound to its events for 24 hours, so the same prefix would be refused for changed lines.
        """)
  }

  @Test("a failed node or connection says the same command resumes")
  func failed() {
    let sent = [batch(0, lines: 2...11), batch(1, lines: 12...21), batch(2, lines: 22...31)]
    let text = PushReport.callFailure(
      "UNAVAILABLE: gone", failure: .failed, file: "e.csv", sent: sent, totals: .init(answered: 1, eventsWritten: 10), prefix: "p")
    #expect(
      text == """
        batch 2 (lines 12-21 of e.csv) was not acknowledged: UNAVAILABLE: gone
        neither were the 1 batches sent after it: the node may have stored some of them
        stopped: 1 batches (10 events, lines 2-11) were acknowledged. Run the same command again to resume (against the same node): the node answers the batches it stored as duplicates, also those it stored without answering (their keys start with p:).
        """)
    let noKeys = PushReport.callFailure(
      "UNAVAILABLE: gone", failure: .failed, file: "e.csv", sent: sent, totals: .init(answered: 1), prefix: nil)
    #expect(noKeys.hasSuffix("pushing them again may store events the node stored without answering twice."))
  }

  @Test("a key bound to other events names both causes")
  func reusedKey() {
    let sent = [batch(0, lines: 2...11)]
    let text = PushReport.callFailure(
      "FAILED_PRECONDITION: idempotency key 'p:0' was used", failure: .reusedKey, file: "e.csv", sent: sent, totals: .init(), prefix: "p")
    #expect(text.hasPrefix("batch 1 (lines 2-11 of e.csv) was not stored: FAILED_PRECONDITION: idempotency key 'p:0' was used\nstopped: no batch of this push was acknowledged. "))
    #expect(text.contains("The node has the key p:0 bound to other events: either an earlier push used another --batch-rows"))
    #expect(text.hasSuffix("push it with another --idempotency-prefix."))
  }

  @Test("only streams take events")
  func notAStream() throws {
    let stream = FeatureGroup(
      spec: FeatureGroupSpec(name: "s", features: [FeatureSpec(name: "a", dtype: .int)], source: .events), version: 1, status: .active,
      createdAt: Timestamp(microseconds: 0), storageID: 1)
    #expect(PushReport.notAStream(stream) == nil)
    var rows = stream
    rows.spec.source = .rows
    #expect(PushReport.notAStream(rows) == "s@1 is a feature group of rows, not a stream: write its rows with `strata ingest --group s`")
    var aggregates = stream
    aggregates.spec.source = .aggregates(stream: "p", streamVersion: 2)
    #expect(PushReport.notAStream(aggregates) == "s@1 aggregates the stream 'p' and stores nothing itself: push the events to 'p'")
  }
}
