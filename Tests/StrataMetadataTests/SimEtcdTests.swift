import StrataEtcd
import Testing

/// The in-memory etcd of the simulation keeps etcd's semantics where membership changes rely on them.
@Suite("In-memory etcd on a virtual clock")
struct SimEtcdTests {
  /// Runs `body` with a fresh store and a client on the virtual clock; the problems it reports.
  static func simulate(_ body: @escaping @Sendable (SimEtcd, SimEtcdClient) async throws -> Void) async -> [String] {
    let clock = VirtualClock()
    let store = SimEtcd(clock: clock)
    let client = SimEtcdClient(store: store, name: "test", session: nil, latency: { .milliseconds(2) })
    let outcome = await Simulation.run(
      executor: SimExecutor(), clock: clock, timeLimit: .seconds(600), nextEvent: { store.nextExpiry },
      fire: { _ in store.expireDue() }, stopAll: {}
    ) { () -> [String] in
      do {
        try await body(store, client)
        return []
      } catch {
        return ["\(error)"]
      }
    }
    return (outcome.result ?? []) + (outcome.failure.map { [$0] } ?? [])
  }

  @Test("of two writes conditioned on the revision both read, one succeeds; revisions and versions move")
  func conditionedWrites() async {
    let problems = await Self.simulate { _, etcd in
      let first = try await etcd.put("k", Array("a".utf8), lease: nil)
      let read = try await etcd.get(.key("k"), revision: 0, limit: 0).first!
      #expect(read.modRevision == first && read.createRevision == first && read.version == 1)
      let condition = [EtcdCompare.modRevision("k", .equal, read.modRevision)]
      let a = try await etcd.transaction(if: condition, then: [.put("k", "b")], else: [.get(.key("k"))])
      let b = try await etcd.transaction(if: condition, then: [.put("k", "c")], else: [.get(.key("k"))])
      #expect(a.succeeded && !b.succeeded)
      guard case .get(let seen) = b.responses.first else { return #expect(Bool(false)) }
      #expect(seen.first?.valueString == "b" && seen.first?.version == 2 && seen.first?.createRevision == first)
      let missing = try await etcd.transaction(if: [.missing("other")], then: [.put("other", "x")], else: [])
      #expect(missing.succeeded && missing.revision == a.revision + 1)
      let none = try await etcd.transaction(if: [.value("absent", .equal, [])], then: [.put("z", "z")], else: [])
      #expect(!none.succeeded && none.revision == missing.revision)
    }
    #expect(problems.isEmpty, "\(problems)")
  }

  @Test("a lease's keys go at one revision when it runs out; kept alive it stays; a put under it then fails")
  func leases() async {
    let problems = await Self.simulate { store, etcd in
      try await etcd.withLease(ttl: .seconds(5)) { lease in
        _ = try await etcd.put("a", Array("1".utf8), lease: lease.id)
        _ = try await etcd.put("b", Array("2".utf8), lease: lease.id)
        try await store.clock.sleep(for: .seconds(20))
        #expect(store.value("a") != nil, "kept alive for 20 s")
      }
      #expect(store.value("a") != nil, "not revoked when withLease returns")
      let before = store.revision
      try await store.clock.sleep(for: .seconds(6))
      #expect(store.value("a") == nil && store.value("b") == nil && store.revision == before + 1)
      #expect(store.absentFor("a").map { $0 >= .seconds(1) } == true)
      let lease = store.grantLease(ttl: .seconds(1))
      try await store.clock.sleep(for: .seconds(2))
      await #expect(throws: EtcdError.self) { _ = try await etcd.put("c", Array("3".utf8), lease: lease.id) }
    }
    #expect(problems.isEmpty, "\(problems)")
  }

  @Test("a watch replays from its start revision, then follows, in revision order")
  func watches() async {
    let problems = await Self.simulate { store, etcd in
      let start = try await etcd.put("w/1", Array("a".utf8), lease: nil)
      _ = try await etcd.put("other", Array("x".utf8), lease: nil)
      _ = try await etcd.transaction(if: [], then: [.put("w/2", "b"), .put("w/3", "c")], else: [])
      let seen = try await etcd.watch(.prefix("w/"), fromRevision: start) { events in
        var seen: [String] = []
        for try await event in events {
          seen.append("\(event.keyValue.key)@\(event.revision)")
          if seen.count == 3 { _ = try await etcd.put("w/4", Array("d".utf8), lease: nil) }
          if seen.count == 4 { break }
        }
        return seen
      }
      #expect(seen == ["w/1@\(start)", "w/2@\(start + 2)", "w/3@\(start + 2)", "w/4@\(start + 3)"])
      #expect(store.revision == start + 3)
    }
    #expect(problems.isEmpty, "\(problems)")
  }
}
