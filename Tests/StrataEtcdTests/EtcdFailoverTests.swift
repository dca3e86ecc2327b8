import StrataEtcd
import StrataTestSupport
import Testing

extension EtcdTests {
  @Suite("endpoint failover")
  struct Failover {
    @Test("with a dead endpoint listed first, reads, writes, transactions, leases and watches use the live one")
    func deadEndpointFirst() async throws {
      try await EtcdProcess.with { process in
        let dead = "127.0.0.1:\(try EtcdProcess.freePort())"
        let r = try await withClient("\(dead),\(process.endpoint)") { etcd in
          let r = try await etcd.put("f/k", "v")
          #expect(try await etcd.get("f/k")?.modRevision == r)
          let swap = try await etcd.transaction(if: [.modRevision("f/k", .equal, r)], then: [.put("f/k", "w")])
          #expect(swap.succeeded)
          let lease = try await etcd.grantLease(ttl: .seconds(30))
          try await etcd.revokeLease(lease)
          #expect(try await etcd.delete(.key("f/k")).deleted == 1)
          let first = try await etcd.watch(.prefix("f/"), fromRevision: r) { events in
            var iterator = events.makeAsyncIterator()
            return try await iterator.next()
          }
          #expect(first.map(Change.init) == Change(.put, "f/k", "v", r))
          return r
        }
        // Fresh clients whose first call is a write (a transaction) or a watch: they must not give up on
        // the dead endpoint, nor wait for it.
        try await withClient("\(dead),\(process.endpoint)") { etcd in
          let txn = try await etcd.transaction(if: [.missing("f/new")], then: [.put("f/new", "1")])
          #expect(txn.succeeded)
        }
        try await withClient("\(dead),\(process.endpoint)") { etcd in
          let first = try await etcd.watch(.prefix("f/"), fromRevision: r) { events in
            var iterator = events.makeAsyncIterator()
            return try await iterator.next()
          }
          #expect(first.map(Change.init) == Change(.put, "f/k", "v", r))
        }
      }
    }

    @Test("when no endpoint answers, calls fail .unavailable naming every endpoint")
    func allDead() async throws {
      let a = "127.0.0.1:\(try EtcdProcess.freePort())"
      let b = "127.0.0.1:\(try EtcdProcess.freePort())"
      try await withClient("\(a),\(b)") { etcd in
        do {
          _ = try await etcd.get("k")
          Issue.record("a read with no etcd running succeeded")
        } catch let error as EtcdError {
          #expect(error.code == .unavailable)
          #expect(error.message.contains(a) && error.message.contains(b), "\(error)")
          #expect(error.isRetryable)
        }
        do {
          try await etcd.put("k", "v")
          Issue.record("a write with no etcd running succeeded")
        } catch let error as EtcdError {
          #expect(error.code == .unavailable, "\(error)")
        }
      }
    }
  }
}
