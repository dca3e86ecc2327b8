internal import Foundation
internal import StrataCore

/// The texts `strata push` prints: the summary line, and errors that say which lines of the file
/// the node stored and how to resume without storing them twice.
enum PushReport {
  /// `pushed N events into S@V in M batches, T s (R events/s), L late events, D batches already
  /// applied (duplicates)`: N and L count what this run stored, D the batches a node had stored before.
  static func summary(stream: String, totals: PushTally.Totals, batches: Int, seconds: Double) -> String {
    let rate = seconds > 0 ? Double(totals.eventsWritten) / seconds : 0
    var text =
      "pushed \(totals.eventsWritten) events into \(stream) in \(batches) batches, \(String(format: "%.2f", seconds))s (\(Int(rate)) events/s), \(totals.lateEvents) late events, \(totals.duplicates) batches already applied (duplicates)"
    if totals.duplicates > 0 { text += ": their \(totals.duplicateEvents) events were not stored again" }
    return text
  }

  /// Why `group` cannot take events, or nil if it is a stream.
  static func notAStream(_ group: FeatureGroup) -> String? {
    switch group.spec.source {
    case .events: nil
    case .rows:
      "\(group.qualifiedName) is a feature group of rows, not a stream: write its rows with `strata ingest --group \(group.name)`"
    case .aggregates(let stream, _):
      "\(group.qualifiedName) aggregates the stream '\(stream)' and stores nothing itself: push the events to '\(stream)'"
    }
  }

  /// A bad record of the file (`error` names its line): the batches before it were sent and answered.
  static func inputFailure(_ error: StrataError, sent: [PushTally.Batch], totals: PushTally.Totals, prefix: String?) -> String {
    guard totals.answered > 0 else { return "\(error.description)\nstopped: nothing was pushed" }
    let last = sent[totals.answered - 1].lastLine
    return "\(error.description)\nstopped: \(stored(sent: sent, totals: totals)); nothing after line \(last) was sent. "
      + resume(prefix: prefix, through: last)
  }

  /// How a push call ended in failure.
  enum Failure: Sendable, Equatable {
    /// The node refused a batch (bad events, an unknown or retired stream, a limit): it applies no
    /// later batch of the call.
    case rejected
    /// The node refused a batch because its key is bound to other events.
    case reusedKey
    /// The node or the connection failed: batches sent may be stored without an answer.
    case failed
  }

  /// The call ended with `status` (`failure` says how).
  static func callFailure(
    _ status: String, failure: Failure, file: String, sent: [PushTally.Batch], totals: PushTally.Totals, prefix: String?
  ) -> String {
    let rejected = failure != .failed
    let failed = totals.answered < sent.count ? sent[totals.answered] : nil
    let outcome = rejected ? "was not stored" : "was not acknowledged"
    var text = failed.map { "batch \(totals.answered + 1) (\(lines($0)) of \(file)) \(outcome): \(status)" } ?? status
    let unanswered = sent.count - totals.answered - 1
    if unanswered > 0 {
      text +=
        rejected
        ? "\nthe \(unanswered) batches sent after it were not applied (the node stops at a rejected batch)"
        : "\nneither were the \(unanswered) batches sent after it: the node may have stored some of them"
    } else if !rejected, failed != nil {
      text += "\nthe node may have stored it"
    }
    text += totals.answered > 0 ? "\nstopped: \(stored(sent: sent, totals: totals)). " : "\nstopped: no batch of this push was acknowledged. "
    guard let failed else { return text + retry(prefix: prefix) }
    if let prefix, failure == .reusedKey {
      return text + reusedKeys(prefix, failed: failed, index: totals.answered)
    }
    guard rejected else { return text + retry(prefix: prefix) }
    var hint = "Once the cause is fixed, push the header line and lines \(failed.firstLine) to the end as a file of their own"
    if totals.answered == 0 { hint = "Once the cause is fixed, push the file again" }
    guard let prefix else { return text + hint + "." }
    return text + hint
      + " with another --idempotency-prefix: the node keeps the key \(prefix):\(totals.answered) of the rejected batch bound to its events for 24 hours, so the same prefix would be refused for changed lines."
  }

  /// `3 batches (15000 events, lines 2-15001) were acknowledged (1 of them already applied before)`.
  static func stored(sent: [PushTally.Batch], totals: PushTally.Totals) -> String {
    let events = sent.prefix(totals.answered).reduce(0) { $0 + $1.events }
    var text = "\(totals.answered) batches (\(events) events, lines \(sent[0].firstLine)-\(sent[totals.answered - 1].lastLine)) were acknowledged"
    if totals.duplicates > 0 { text += " (\(totals.duplicates) of them already applied before)" }
    return text
  }

  /// How to push the rest of a file whose bad record stopped the push before its batch was sent.
  static func resume(prefix: String?, through line: Int) -> String {
    guard let prefix else {
      return "They carry no idempotency keys (--no-idempotency): pushing the whole file again stores them again, so push only the lines after \(line)."
    }
    return "To resume after fixing the file, push it again with --idempotency-prefix \(prefix) and the same --batch-rows: the node answers the batches it stored as duplicates as long as lines up to \(line) are unchanged."
  }

  /// How to resume after the node or the connection failed.
  static func retry(prefix: String?) -> String {
    guard let prefix else {
      return "The batches carry no idempotency keys (--no-idempotency): pushing them again may store events the node stored without answering twice."
    }
    return "Run the same command again to resume (against the same node): the node answers the batches it stored as duplicates, also those it stored without answering (their keys start with \(prefix):)."
  }

  /// The node has keys of this push bound to other events.
  static func reusedKeys(_ prefix: String, failed: PushTally.Batch, index: Int) -> String {
    "The node has the key \(prefix):\(index) bound to other events: either an earlier push used another --batch-rows (a rerun must use the same), or it had batch \(index + 1) rejected and lines \(failed.firstLine)-\(failed.lastLine) changed since (the node keeps a rejected batch's key for 24 hours). To push lines \(failed.firstLine) to the end, put them after the header line in a file of their own and push it with another --idempotency-prefix."
  }

  static func lines(_ batch: PushTally.Batch) -> String {
    batch.firstLine == batch.lastLine ? "line \(batch.firstLine)" : "lines \(batch.firstLine)-\(batch.lastLine)"
  }
}
