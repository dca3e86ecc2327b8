import Foundation
import Logging
import StrataEtcd
import StrataTestSupport
import Testing

/// Every suite that talks to a real etcd nests in this one: `.serialized` keeps one etcd at a time on
/// the 2-core test machines, and the time limit turns a hang into a failure.
@Suite("StrataEtcd against a real etcd", .serialized, .timeLimit(.minutes(2)))
struct EtcdTests {}

/// A logger for clients under test: silent unless STRATA_TEST_ETCD_LOG is set (then stderr).
let testLogger: Logger =
  ProcessInfo.processInfo.environment["STRATA_TEST_ETCD_LOG"] == nil
  ? Logger(label: "strata.etcd.test", factory: { _ in SwiftLogNoOpLogHandler() })
  : Logger(label: "strata.etcd.test", factory: { StreamLogHandler.standardError(label: $0) })

/// Short pauses so tests of broken streams do not wait for the default backoff. The request timeout is
/// longer than the default 5 s: no test waits for it, and the test machines run these tests next to
/// others that keep both cores busy.
let fastRetries = EtcdClient.Configuration(
  requestTimeout: .seconds(15), initialRetryDelay: .milliseconds(50), maxRetryDelay: .milliseconds(500))

/// Runs `body` with a client of `endpoints` (running), then shuts it down.
func withClient<R: Sendable>(
  _ endpoints: String, configuration: EtcdClient.Configuration = fastRetries,
  _ body: (EtcdClient) async throws -> R
) async throws -> R {
  try await EtcdClient.withClient(endpoints: endpoints, configuration: configuration, logger: testLogger, body)
}

/// A fresh etcd and a client of it.
func withEtcdAndClient<R: Sendable>(_ body: (EtcdProcess, EtcdClient) async throws -> R) async throws -> R {
  try await EtcdProcess.with { etcd in
    try await withClient(etcd.endpoint) { client in try await body(etcd, client) }
  }
}

/// Polls `condition` every 50 ms (on the clock, never blocking a thread) until it holds or `timeout`
/// passes; whether it held.
func eventually(
  timeout: Duration = .seconds(10), _ condition: () async throws -> Bool
) async rethrows -> Bool {
  let deadline = ContinuousClock.now + timeout
  while ContinuousClock.now < deadline {
    if try await condition() { return true }
    try? await Task.sleep(for: .milliseconds(50))
  }
  return try await condition()
}

/// Retries `operation` while it fails with a retryable EtcdError (etcd restarting), up to `timeout`.
func retrying<R>(timeout: Duration = .seconds(15), _ operation: () async throws -> R) async throws -> R {
  let deadline = ContinuousClock.now + timeout
  while true {
    do {
      return try await operation()
    } catch let error as EtcdError where error.isRetryable && ContinuousClock.now < deadline {
      try await Task.sleep(for: .milliseconds(100))
    }
  }
}

/// Takes events from `iterator` up to and including the first one for which `isLast` holds. (A test
/// writes a sentinel key after the changes it checks and reads up to it: a watch that loses events fails
/// the comparison, one that loses the sentinel hangs until the suite's time limit.)
func collect(
  from iterator: inout EtcdWatchEvents.AsyncIterator, through isLast: (EtcdEvent) -> Bool
) async throws -> [EtcdEvent] {
  var result: [EtcdEvent] = []
  while let event = try await iterator.next() {
    result.append(event)
    if isLast(event) { break }
  }
  return result
}

/// What a test expects a watch to deliver, comparable with `==`.
struct Change: Hashable, CustomStringConvertible {
  var kind: EtcdEvent.Kind
  var key: String
  var value: String
  var revision: Int64

  init(_ kind: EtcdEvent.Kind, _ key: String, _ value: String, _ revision: Int64) {
    (self.kind, self.key, self.value, self.revision) = (kind, key, value, revision)
  }

  init(_ event: EtcdEvent) {
    self.init(event.kind, event.keyValue.key, event.keyValue.valueString, event.revision)
  }

  var description: String { "\(kind == .put ? "put" : "delete") \(key)=\(value)@\(revision)" }
}
