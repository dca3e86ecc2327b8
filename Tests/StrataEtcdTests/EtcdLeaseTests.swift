import StrataEtcd
import StrataTestSupport
import Testing

extension EtcdTests {
  @Suite("leases")
  struct Leases {
    @Test("a key on a lease that is not kept alive is deleted when the lease expires")
    func expiry() async throws {
      try await withEtcdAndClient { _, etcd in
        // Taken before the grant: the put and get after it may take a while on a loaded machine, and the
        // TTL runs from the grant (once measured from after the get: the key went 0.59 s later, correctly).
        let granted = ContinuousClock.now
        // 6 s: with 2 s, the put and the get after the grant once took longer on a loaded machine.
        let lease = try await etcd.grantLease(ttl: .seconds(6))
        #expect(lease.ttl >= .seconds(6))
        try await etcd.put("l/owner", "n1", lease: lease.id)
        #expect(try await etcd.get("l/owner")?.lease == lease.id)
        let gone = try await eventually(timeout: lease.ttl + .seconds(8)) { try await etcd.get("l/owner") == nil }
        #expect(gone, "the key outlived its lease")
        #expect(ContinuousClock.now - granted >= lease.ttl - .milliseconds(500), "deleted before the TTL ran out")
        // Keeping an expired lease alive fails with .leaseExpired.
        await #expect {
          try await etcd.keepAlive(lease)
        } throws: { ($0 as? EtcdError)?.code == .leaseExpired }
      }
    }

    @Test("keep-alive holds a lease (and its key) past several TTLs; once stopped, the lease expires")
    func keepAlive() async throws {
      try await withEtcdAndClient { _, etcd in
        // 8 s, not less: the client gives a renewal one TTL to be answered, and on a loaded 2-core
        // machine (the other suites run in parallel on the 2-thread cooperative pool) a 2 s TTL was
        // missed twice, once in a CI run.
        let lease = try await etcd.grantLease(ttl: .seconds(8))
        try await etcd.put("l/alive", "yes", lease: lease.id)
        try await withThrowingTaskGroup(of: Void.self) { group in
          group.addTask { try await etcd.keepAlive(lease) }
          try await Task.sleep(for: lease.ttl * 3)
          #expect(try await etcd.get("l/alive")?.valueString == "yes", "the key expired although kept alive")
          group.cancelAll()
          try await group.waitForAll()  // keepAlive returns normally when cancelled
        }
        let gone = try await eventually(timeout: lease.ttl + .seconds(8)) { try await etcd.get("l/alive") == nil }
        #expect(gone, "the lease was still alive after keep-alive stopped")
      }
    }

    @Test("revoking a lease deletes its keys at once; revoking it again is .notFound")
    func revoke() async throws {
      try await withEtcdAndClient { _, etcd in
        let lease = try await etcd.grantLease(ttl: .seconds(60))
        try await etcd.put("l/a", "1", lease: lease.id)
        try await etcd.put("l/b", "2", lease: lease.id)
        try await etcd.put("l/c", "3")
        try await etcd.revokeLease(lease)
        #expect(try await etcd.get(.prefix("l/")).keyValues.map(\.key) == ["l/c"])
        await #expect {
          try await etcd.revokeLease(lease)
        } throws: { ($0 as? EtcdError)?.code == .notFound }
        await #expect {
          try await etcd.put("l/d", "4", lease: lease.id)
        } throws: { ($0 as? EtcdError)?.code == .notFound }
      }
    }
  }
}
