internal import Logging
internal import StrataCluster

/// Runs anti-entropy repair of this node with its peers every `interval` (±10%, so that nodes
/// started together do not repair at the same time), the first one an interval after the start,
/// until cancelled. A repair that fails (or finds one already running) is logged; the next one
/// comes at the next interval.
struct BackgroundRepair: Sendable {
  let interval: Duration
  let logger: Logger
  let repair: @Sendable () async throws -> RepairReport

  init(interval: Duration, logger: Logger, repair: @escaping @Sendable () async throws -> RepairReport) {
    self.interval = interval
    self.logger = logger
    self.repair = repair
  }

  func run() async {
    while !Task.isCancelled {
      do {
        try await Task.sleep(for: interval * Double.random(in: 0.9...1.1))
      } catch {
        return
      }
      do {
        let report = try await repair()
        logger.info(
          "background repair finished",
          metadata: [
            "strata.peers_repaired": "\(report.peersRepaired)", "strata.buckets_differing": "\(report.bucketsDiffering)",
            "strata.rows_received": "\(report.rowsReceived)", "strata.rows_sent": "\(report.rowsSent)",
            "strata.peers_failed": "\(report.peersFailed.map(\.node))",
          ])
      } catch is CancellationError {
        return
      } catch {
        logger.warning("background repair failed", metadata: ["error": "\(error)"])
      }
    }
  }
}

/// After a crash (the data directory was not shut down cleanly), repairs this node with its peers
/// soon after the start instead of at the next interval: a coordinator killed between storing its own
/// copy of a write and sending it to the other replicas holds rows nobody else has, and no hint exists
/// for them. Retries (every 5 s, at most 20 times) until every peer was repaired with.
struct CrashRecoveryRepair: Sendable {
  let logger: Logger
  let repair: @Sendable () async throws -> RepairReport

  func run() async {
    for attempt in 1...20 {
      do {
        try await Task.sleep(for: .seconds(attempt == 1 ? 2 : 5))
      } catch {
        return
      }
      do {
        let report = try await repair()
        if report.peersFailed.isEmpty {
          logger.info(
            "repaired with every peer after an unclean stop",
            metadata: ["strata.rows_received": "\(report.rowsReceived)", "strata.rows_sent": "\(report.rowsSent)"])
          return
        }
        logger.info("repair after an unclean stop: some peers failed; retrying", metadata: ["strata.peers_failed": "\(report.peersFailed.map(\.node))"])
      } catch is CancellationError {
        return
      } catch {
        logger.info("repair after an unclean stop failed; retrying", metadata: ["error": "\(error)"])
      }
    }
  }
}
