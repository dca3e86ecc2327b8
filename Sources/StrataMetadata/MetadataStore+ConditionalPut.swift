public import StrataEtcd

/// What `MetadataStore.conditionalPut` did.
struct ConditionalPutResult: Sendable, Equatable {
  /// Whether the values were written (false: the guard key had moved, someone else wrote first).
  var succeeded: Bool
  /// The revision of the write when it succeeded.
  var revision: Int64
  /// Whether etcd's answer was lost and the outcome was learnt by reading the keys back.
  var readBack: Bool
}

extension MetadataStore {
  /// Writes `puts` in one transaction on condition that `guardKey` (one of the keys written) is still
  /// at modification revision `revision` (0: absent), and says whether it did.
  ///
  /// A write whose answer is lost (the connection broke or the deadline passed once the request had
  /// left) may or may not have been applied. Instead of handing that doubt to the caller, this reads
  /// the keys back and decides:
  /// - every key holds the value written and the guard key moved: applied (`readBack` true);
  /// - the guard key is still at `revision`: not applied, and the transaction is sent again (it is
  ///   conditional, so it can apply at most once);
  /// - otherwise someone else wrote first: `succeeded` false, as when the comparison fails.
  ///
  /// The lost answer's error is thrown only when etcd stays unreachable for `settleTimeout`.
  /// `lease`: the lease every key written is attached to (nil: none).
  func conditionalPut(
    _ puts: [(key: String, value: [UInt8])], ifRevision revision: Int64, of guardKey: String, lease: Int64? = nil,
    settleTimeout: Duration = .seconds(10)
  ) async throws(EtcdError) -> ConditionalPutResult {
    precondition(puts.contains { $0.key == guardKey }, "the guard key must be one of the keys written")
    let compare: EtcdCompare = revision == 0 ? .missing(guardKey) : .modRevision(guardKey, .equal, revision)
    let operations = puts.map { EtcdOperation.put(key: $0.key, value: $0.value, lease: lease) }
    let clock = ContinuousClock()
    let deadline = clock.now + settleTimeout
    var pause = Duration.milliseconds(50)
    var lost: EtcdError?
    while true {
      if lost == nil {
        do {
          let result = try await transaction(if: [compare], then: operations)
          return ConditionalPutResult(succeeded: result.succeeded, revision: result.revision, readBack: false)
        } catch where Self.mayHaveApplied(error) {
          lost = error
        }
      }
      do {
        let read = try await transaction(if: [], then: puts.map { .get(.key($0.key)) })
        var seen: [String: EtcdKeyValue] = [:]
        for response in read.responses {
          if case .get(let range) = response, let kv = range.first { seen[kv.key] = kv }
        }
        let current = seen[guardKey]
        let unchanged = revision == 0 ? current == nil : current?.modRevision == revision
        if unchanged {
          lost = nil  // not applied: send it again
        } else if puts.allSatisfy({ seen[$0.key]?.value == $0.value }), let current {
          return ConditionalPutResult(succeeded: true, revision: current.modRevision, readBack: true)
        } else {
          return ConditionalPutResult(succeeded: false, revision: 0, readBack: true)
        }
      } catch where Self.mayHaveApplied(error) {
        // etcd still does not answer: wait and read again.
      }
      guard clock.now < deadline else {
        throw lost ?? EtcdError(.unavailable, "etcd did not answer a write of \(guardKey) for \(settleTimeout)")
      }
      do {
        try await clock.sleep(for: pause)
      } catch {
        throw EtcdError(.cancelled, "the write of \(guardKey) was cancelled while its outcome was unknown")
      }
      pause = min(pause * 2, .seconds(1))
    }
  }

  /// Failures after which a write may or may not have been applied.
  static func mayHaveApplied(_ error: EtcdError) -> Bool {
    error.code == .unavailable || error.code == .deadlineExceeded
  }
}
