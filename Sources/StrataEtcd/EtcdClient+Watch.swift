internal import EtcdProto
internal import Foundation
internal import GRPCCore
internal import Logging
internal import Synchronization

extension EtcdClient {
  /// Watches `range` from `startRevision` and runs `body` with the changes; the watch ends when `body`
  /// returns (or throws), and `watch` returns what `body` returned.
  ///
  /// What a watch guarantees:
  /// - every change to a key in `range` with revision >= `startRevision` is delivered, including changes
  ///   made before the call (a start revision in the past replays history, as long as it is not
  ///   compacted);
  /// - in revision order, each exactly once (the changes of one transaction share a revision and arrive
  ///   together, in etcd's order);
  /// - across connection drops, etcd restarts and endpoint failover: the watch reopens, on the next
  ///   endpoint, from the revision after the last one delivered, pausing `initialRetryDelay` doubling up
  ///   to `maxRetryDelay` while no endpoint answers (it keeps trying until `body` ends);
  /// - if the history it needs was compacted (at the start or while it was reconnecting), iteration throws
  ///   `.compacted` and the watch ends: nothing was silently skipped.
  ///
  /// Events are buffered without bound while `body` is busy; keep `body`'s per-event work short or
  /// hand it on. `startRevision` 0 means "from the next change on".
  ///
  /// ```swift
  /// let snapshot = try await etcd.get(.prefix("/strata/registry/"))
  /// try await etcd.watch(.prefix("/strata/registry/"), fromRevision: snapshot.revision + 1) { events in
  ///   for try await event in events { apply(event) }
  /// }
  /// ```
  public func watch<Result: Sendable>(
    _ range: EtcdKeyRange, fromRevision startRevision: Int64,
    _ body: (EtcdWatchEvents) async throws -> Result
  ) async throws -> Result {
    let (stream, continuation) = AsyncThrowingStream.makeStream(of: EtcdEvent.self)
    return try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
      group.addTask { await self.pumpWatch(range, from: startRevision, into: continuation) }
      defer { group.cancelAll() }
      return try await body(EtcdWatchEvents(stream: stream))
    }
  }

  /// Keeps a watch stream open (reopening it after failures) and forwards its events until cancelled or
  /// the watch fails for good.
  private func pumpWatch(
    _ range: EtcdKeyRange, from startRevision: Int64, into continuation: AsyncThrowingStream<EtcdEvent, any Error>.Continuation
  ) async {
    // The next revision to deliver (0: not known yet, "from now"): never goes back, so nothing is
    // delivered twice when a stream is reopened.
    let next = LockedValue(startRevision)
    var index = preferred.withLock { $0 }
    var failures = 0
    while !Task.isCancelled {
      let connection = connections[index]
      let opened = LockedValue(false)
      var reason = "etcd closed the watch stream"
      do {
        try await watchStream(range, on: connection, index: index, next: next, opened: opened, into: continuation)
      } catch let error as EtcdError {
        continuation.finish(throwing: error)
        return
      } catch {
        if Task.isCancelled { break }
        if let rpc = error as? RPCError, Self.isRefusal(rpc) {
          continuation.finish(
            throwing: Self.etcdError(rpc, doing: "watch \(range)", at: "\(connection.endpoint)", mayHaveApplied: false))
          return
        }
        reason = (error as? RPCError).map(Self.describe) ?? "\(error)"
      }
      if opened.value { failures = 0 }
      failures += 1
      let resume = next.withLock { $0 }
      logger.info(
        "etcd watch broke; reopening",
        metadata: [
          "strata.etcd.endpoint": "\(connection.endpoint)", "strata.etcd.range": "\(range)",
          "strata.etcd.revision": "\(resume)", "strata.etcd.reason": "\(reason)",
        ])
      index = nextIndex(after: index)
      do {
        try await Task.sleep(for: retryDelay(failures: failures / connections.count))
      } catch {
        break
      }
    }
    continuation.finish()
  }

  /// One watch stream on one endpoint, from `next`; advances `next` past every delivered revision.
  private func watchStream(
    _ range: EtcdKeyRange, on connection: Connection, index: Int, next: LockedValue<Int64>, opened: LockedValue<Bool>,
    into continuation: AsyncThrowingStream<EtcdEvent, any Error>.Continuation
  ) async throws {
    var create = Etcdserverpb_WatchCreateRequest()
    create.key = Data(range.key)
    create.rangeEnd = Data(range.rangeEnd)
    create.startRevision = next.withLock { $0 }
    var createRequest = Etcdserverpb_WatchRequest()
    createRequest.createRequest = create
    let request = createRequest
    let (outgoing, outbound) = AsyncStream.makeStream(of: Etcdserverpb_WatchRequest.self)
    let endpoint = connection.endpoint
    try await connection.watch.watch(
      request: StreamingClientRequest { writer in
        try await writer.write(request)
        for await message in outgoing { try await writer.write(message) }
      },
      options: streamOptions
    ) { response in
      // However the answers end, the request side must end too, or the call never returns.
      defer { outbound.finish() }
      for try await message in response.messages {
        if message.compactRevision != 0 {
          throw EtcdError(
            .compacted,
            "the watch on \(range) needs history from revision \(next.withLock { $0 }), but etcd at \(endpoint) "
              + "has compacted it up to revision \(message.compactRevision): re-read the range and watch again from "
              + "the read's revision + 1",
            compactRevision: message.compactRevision)
        }
        if message.canceled {
          throw EtcdError(
            .failedPrecondition,
            "etcd at \(endpoint) cancelled the watch on \(range): \(message.cancelReason.isEmpty ? "no reason given" : message.cancelReason)")
        }
        if message.created {
          opened.withLock { $0 = true }
          self.preferred.withLock { $0 = index }  // it answers: unary calls may start there too
          // Watching "from now": pin the start so that a reopened stream misses nothing in between.
          next.withLock { if $0 == 0 { $0 = message.header.revision + 1 } }
        }
        for wire in message.events {
          let event = EtcdEvent(wire: wire)
          // A reopened stream starts at `next`, so this holds; kept as the guarantee's last line.
          guard event.revision >= next.withLock({ $0 }) else { continue }
          continuation.yield(event)
        }
        if let last = message.events.last {
          next.withLock { $0 = max($0, last.kv.modRevision + 1) }
        }
      }
    }
  }
}
