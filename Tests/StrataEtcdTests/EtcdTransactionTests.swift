import StrataEtcd
import StrataTestSupport
import Testing

extension EtcdTests {
  @Suite("transactions")
  struct Transactions {
    @Test("compare-and-swap on mod revision, version, create revision and value: then or else runs, with gets")
    func compareAndSwap() async throws {
      try await withEtcdAndClient { _, etcd in
        let created = try await etcd.put("cfg", "v1")

        // Create-if-missing fails for an existing key and runs the else branch (a get).
        let create = try await etcd.transaction(
          if: [.missing("cfg")], then: [.put("cfg", "other")], else: [.get(.key("cfg"))])
        #expect(!create.succeeded)
        #expect(create.revision == created)
        guard case .get(let seen) = try #require(create.responses.first) else {
          Issue.record("expected a get response, got \(create.responses)")
          return
        }
        #expect(seen.first?.valueString == "v1")

        // Swap on the revision seen: succeeds once, writes two keys at one revision.
        let swap = try await etcd.transaction(
          if: [.modRevision("cfg", .equal, created), .value("cfg", .equal, Array("v1".utf8))],
          then: [.put("cfg", "v2"), .put("cfg.audit", "swapped"), .get(.key("cfg"))])
        #expect(swap.succeeded)
        #expect(swap.revision == created + 1)
        #expect(swap.responses.count == 3)
        #expect(swap.responses.first == .put)
        if case .get(let after) = swap.responses[2] { #expect(after.first?.valueString == "v2") }
        #expect(try await etcd.get("cfg.audit")?.modRevision == swap.revision)

        // The same swap again is stale: nothing changes.
        let stale = try await etcd.transaction(
          if: [.modRevision("cfg", .equal, created)], then: [.put("cfg", "v3")])
        #expect(!stale.succeeded)
        #expect(stale.responses.isEmpty)
        #expect(try await etcd.get("cfg")?.valueString == "v2")

        // version and create revision comparisons, and a delete in the then branch.
        let del = try await etcd.transaction(
          if: [.version("cfg", .equal, 2), .createRevision("cfg", .equal, created), .version("cfg", .greater, 1)],
          then: [.delete(.key("cfg"))])
        #expect(del.succeeded)
        #expect(del.responses == [.delete(deleted: 1)])
        #expect(try await etcd.get("cfg") == nil)

        // A malformed transaction (the same key written twice) is refused as invalid.
        await #expect {
          _ = try await etcd.transaction(if: [], then: [.put("x", "1"), .put("x", "2")])
        } throws: { ($0 as? EtcdError)?.code == .invalidArgument }
      }
    }

    @Test("two writers racing with compare-and-swap on one key: exactly one wins each round (seeded)")
    func racingWriters() async throws {
      var rng = SplitMix64.forTest("racingWriters")
      let rounds = 25
      // Each writer's pause before its swap, per round: the seed decides who tends to be first.
      let delays = (0..<rounds).map { _ in (rng.below(4_000), rng.below(4_000)) }
      let seed = rng.seedDescription
      try await EtcdProcess.with { process in
        try await withClient(process.endpoint) { a in
          try await withClient(process.endpoint) { b in
            try await a.put("leader", "nobody")
            for round in 0..<rounds {
              let seen = try #require(try await a.get("leader")).modRevision
              let (delayA, delayB) = delays[round]
              let results = try await withThrowingTaskGroup(of: (String, EtcdTransactionResult).self) { group in
                for (name, client, delay) in [("a", a, delayA), ("b", b, delayB)] {
                  group.addTask {
                    try await Task.sleep(for: .microseconds(delay))
                    let result = try await client.transaction(
                      if: [.modRevision("leader", .equal, seen)], then: [.put("leader", "\(name)@\(round)")])
                    return (name, result)
                  }
                }
                var all: [(String, EtcdTransactionResult)] = []
                for try await result in group { all.append(result) }
                return all
              }
              let winners = results.filter { $0.1.succeeded }.map(\.0)
              #expect(winners.count == 1, "round \(round): winners \(winners) (\(seed))")
              let stored = try await a.get("leader")
              #expect(stored?.valueString == "\(winners.first ?? "?")@\(round)", "round \(round) (\(seed))")
              #expect(stored?.modRevision == seen + 1, "one write per round (\(seed))")
            }
          }
        }
      }
    }
  }
}
