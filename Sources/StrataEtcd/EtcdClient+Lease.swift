internal import EtcdProto
internal import GRPCCore
internal import Logging
internal import Synchronization

extension EtcdClient {
  /// Grants a lease of at least `ttl` (whole seconds, rounded up; etcd may grant more). Keys put with
  /// its id are deleted when it expires: `ttl` after the grant or the last keep-alive.
  public func grantLease(ttl: Duration) async throws(EtcdError) -> EtcdLease {
    var request = Etcdserverpb_LeaseGrantRequest()
    let (seconds, attoseconds) = ttl.components
    request.ttl = max(1, seconds + (attoseconds > 0 ? 1 : 0))
    let response = try await unary("grant a lease of \(request.ttl) s", retry: .ifNotSent) { connection, options in
      try await connection.lease.leaseGrant(request, options: options)
    }
    guard response.error.isEmpty else {
      throw EtcdError(.failedPrecondition, "etcd refused to grant a lease: \(response.error)")
    }
    return EtcdLease(id: response.id, ttl: .seconds(response.ttl))
  }

  /// Revokes the lease at once: its keys are deleted in one revision. `.notFound` if it has expired
  /// or was revoked already.
  public func revokeLease(_ lease: EtcdLease) async throws(EtcdError) {
    var request = Etcdserverpb_LeaseRevokeRequest()
    request.id = lease.id
    let _: Bool = try await unary("revoke lease \(lease.id)", retry: .ifNotSent) { connection, options in
      _ = try await connection.lease.leaseRevoke(request, options: options)
      return true
    }
  }

  /// Keeps `lease` alive until the calling task is cancelled, then returns (the lease then expires
  /// `ttl` later unless revoked). Run it as a long-lived child task next to the work the lease guards.
  ///
  /// Renews every `ttl / 3` on a keep-alive stream; when the stream breaks or an endpoint stops
  /// answering for two periods, it reopens the stream, on the next endpoint. Throws `.leaseExpired`
  /// when etcd reports the lease gone (expired or revoked: its keys are deleted) or when no endpoint
  /// renewed it before its TTL ran out; a caller that holds state under the lease must then assume
  /// others may take it over.
  public func keepAlive(_ lease: EtcdLease) async throws(EtcdError) {
    let clock = ContinuousClock()
    let period = max(lease.ttl / 3, .milliseconds(100))
    // When the lease runs out unless renewed; the grant itself is the last renewal we know of.
    let expiry = LockedValue(clock.now + lease.ttl)
    var index = preferred.withLock { $0 }
    var failures = 0
    while !Task.isCancelled {
      let connection = connections[index]
      var reason = "the keep-alive stream ended"
      do {
        try await keepAliveStream(lease, on: connection, period: period, expiry: expiry, clock: clock)
      } catch let error as EtcdError where error.code == .leaseExpired {
        throw error
      } catch {
        if Task.isCancelled { return }
        if let rpc = error as? RPCError, Self.isRefusal(rpc) {
          throw Self.etcdError(rpc, doing: "keep lease \(lease.id) alive", at: "\(connection.endpoint)", mayHaveApplied: false)
        }
        reason = (error as? RPCError).map(Self.describe) ?? "\(error)"
      }
      failures += 1
      let remaining = expiry.withLock { $0 } - clock.now
      guard remaining > .zero else {
        throw EtcdError(
          .leaseExpired,
          "lease \(lease.id) expired: no etcd endpoint renewed it within its \(lease.ttl) TTL (tried \(endpointList); "
            + "last: \(connection.endpoint): \(reason)); its keys are deleted")
      }
      logger.info(
        "etcd lease keep-alive broke; reopening",
        metadata: [
          "strata.etcd.endpoint": "\(connection.endpoint)", "strata.etcd.lease": "\(lease.id)",
          "strata.etcd.reason": "\(reason)",
        ])
      index = nextIndex(after: index)
      do {
        try await Task.sleep(for: min(retryDelay(failures: failures / connections.count), remaining / 4))
      } catch {
        return  // cancelled
      }
    }
  }

  /// One keep-alive stream: sends a renewal every `period` and records each answer in `expiry`;
  /// returns or throws when the stream ends or an answer is overdue by two periods.
  private func keepAliveStream(
    _ lease: EtcdLease, on connection: Connection, period: Duration, expiry: LockedValue<ContinuousClock.Instant>,
    clock: ContinuousClock
  ) async throws {
    var request = Etcdserverpb_LeaseKeepAliveRequest()
    request.id = lease.id
    let renewal = request
    let (ticks, tick) = AsyncStream.makeStream(of: Void.self)
    let lastAnswer = LockedValue(clock.now)
    let options = streamOptions
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        try await connection.leaseStreams.leaseKeepAlive(
          request: StreamingClientRequest { writer in
            for await _ in ticks { try await writer.write(renewal) }
          },
          options: options
        ) { response in
          // (etcd sends the response headers with its first answer, so this runs only after the first
          // renewal went out: the renewals must not wait for it.)
          defer { tick.finish() }  // the request side must end too, or the call never returns
          for try await answer in response.messages {
            guard answer.ttl > 0 else {
              throw EtcdError(
                .leaseExpired,
                "etcd at \(connection.endpoint) reports lease \(lease.id) expired or revoked; its keys are deleted")
            }
            let now = clock.now
            lastAnswer.withLock { $0 = now }
            expiry.withLock { $0 = now + .seconds(answer.ttl) }
          }
          throw RPCError(code: .unavailable, message: "etcd closed the keep-alive stream")
        }
      }
      group.addTask {
        // The renewal clock, and a watchdog for an endpoint that stopped answering (e.g. paused).
        defer { tick.finish() }
        while true {
          tick.yield()
          try await Task.sleep(for: period)
          let silence = clock.now - lastAnswer.value
          if silence > period * 2 + .milliseconds(500) {
            throw RPCError(code: .unavailable, message: "no keep-alive answer for \(silence)")
          }
        }
      }
      // Both run until one fails: the first failure ends the stream (the other is cancelled).
      try await group.next()
      group.cancelAll()
    }
  }
}

extension EtcdClient {
  /// Grants a lease of `ttl` and runs `body` with it while the lease is kept alive (`keepAlive`).
  /// Returns when `body` returns; throws what `body` throws, or the keep-alive's error when the lease
  /// is lost first (then `body` is cancelled: whatever it holds under the lease may be taken over).
  public func withLease(ttl: Duration, _ body: @escaping @Sendable (EtcdLease) async throws -> Void) async throws {
    let lease = try await grantLease(ttl: ttl)
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await self.keepAlive(lease) }
      group.addTask { try await body(lease) }
      try await group.next()
      group.cancelAll()
    }
  }
}
