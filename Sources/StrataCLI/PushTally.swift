internal import StrataCore
internal import Synchronization

/// What one `strata push` call has sent and what the node answered, shared by the task that sends
/// the batches and the one that reads the answers. The node answers batches one by one, in the
/// order they were sent, so the answer to arrive next is always for the oldest unanswered batch.
final class PushTally: Sendable {
  /// One batch as sent: its key (empty without idempotency), the CSV lines where its first and last
  /// records start, and its number of events.
  struct Batch: Sendable, Equatable {
    var key: String
    var firstLine: Int
    var lastLine: Int
    var events: Int
  }

  /// The answers so far. `eventsWritten` and `lateEvents` count what this push stored; batches the
  /// node had applied before (duplicates) are counted apart.
  struct Totals: Sendable, Equatable {
    var answered = 0
    var eventsWritten: UInt64 = 0
    var lateEvents: UInt64 = 0
    var duplicates = 0
    var duplicateEvents: UInt64 = 0
  }

  private let state = Mutex<(sent: [Batch], totals: Totals)>(([], Totals()))

  init() {}

  /// Records a batch about to be sent.
  func sending(_ batch: Batch) {
    state.withLock { $0.sent.append(batch) }
  }

  /// Records the node's answer to the oldest unanswered batch. INTERNAL if there is no such batch
  /// or the answer carries another key (the node answered out of order).
  func answered(key: String, eventsWritten: UInt64, lateEvents: UInt64, duplicate: Bool) throws(StrataError) {
    let result: StrataError? = state.withLock { state in
      let index = state.totals.answered
      guard index < state.sent.count else {
        return StrataError(.internalError, "the node answered batch \(index + 1), which was not sent")
      }
      let batch = state.sent[index]
      guard key == batch.key else {
        return StrataError(
          .internalError, "the node's answer to batch \(index + 1) carries key '\(key)', but the batch had '\(batch.key)'")
      }
      state.totals.answered += 1
      if duplicate {
        state.totals.duplicates += 1
        state.totals.duplicateEvents += eventsWritten
      } else {
        state.totals.eventsWritten += eventsWritten
        state.totals.lateEvents += lateEvents
      }
      return nil
    }
    if let result { throw result }
  }

  var sent: [Batch] { state.withLock { $0.sent } }
  var totals: Totals { state.withLock { $0.totals } }
}
