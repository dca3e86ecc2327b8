import StrataEtcd
import StrataTestSupport
import Testing

extension EtcdTests {
  @Suite("watches")
  struct Watches {
    @Test("a watch from a past revision delivers every change in the range in order, exactly once")
    func replayAndFollow() async throws {
      try await withEtcdAndClient { _, etcd in
        try await etcd.put("w/before", "ignored")  // before the start revision
        var expected: [Change] = []
        let start = try await etcd.put("w/a", "1")
        expected.append(Change(.put, "w/a", "1", start))
        try await etcd.put("outside", "x")  // not in the range
        let r2 = try await etcd.put("w/b", "2")
        expected.append(Change(.put, "w/b", "2", r2))
        let r3 = try await etcd.put("w/a", "3")
        expected.append(Change(.put, "w/a", "3", r3))
        let txn = try await etcd.transaction(if: [], then: [.put("w/c", "4"), .delete(.key("w/b")), .put("x/y", "no")])
        expected += [Change(.put, "w/c", "4", txn.revision), Change(.delete, "w/b", "", txn.revision)]

        try await etcd.watch(.prefix("w/"), fromRevision: start) { events in
          var iterator = events.makeAsyncIterator()
          // History first...
          let replayed = try await collect(from: &iterator) { $0.revision == txn.revision && $0.kind == .delete }
          #expect(replayed.map(Change.init) == expected)
          // ...then changes made while watching, up to a sentinel.
          var live: [Change] = []
          for i in 0..<5 {
            let r = try await etcd.put("w/live\(i % 2)", "\(i)")
            live.append(Change(.put, "w/live\(i % 2)", "\(i)", r))
          }
          let d = try await etcd.delete(.prefix("w/live"))
          live += [Change(.delete, "w/live0", "", d.revision), Change(.delete, "w/live1", "", d.revision)]
          let sentinel = try await etcd.put("w/zz-sentinel", "end")
          live.append(Change(.put, "w/zz-sentinel", "end", sentinel))
          let seen = try await collect(from: &iterator) { $0.keyValue.key == "w/zz-sentinel" }
          #expect(seen.map(Change.init) == live)
        }
      }
    }

    @Test("a watch resumes after etcd restarts, without losing or repeating a change")
    func resumesAfterRestart() async throws {
      try await EtcdProcess.with { process in
        let port = process.clientPort
        try await withClient(process.endpoint) { watcher in
          let start = try await watcher.put("r/0", "before")
          var expected = [Change(.put, "r/0", "before", start)]
          try await watcher.watch(.prefix("r/"), fromRevision: start) { events in
            var iterator = events.makeAsyncIterator()
            for i in 1...3 {
              let r = try await watcher.put("r/\(i)", "a\(i)")
              expected.append(Change(.put, "r/\(i)", "a\(i)", r))
            }
            let first = try await collect(from: &iterator) { $0.keyValue.key == "r/3" }
            #expect(first.map(Change.init) == expected)

            // While the watcher cannot reach etcd (stopped, then up on another client port only), changes
            // happen that it can only get by resuming from the revision after the last one it saw.
            await process.stop()
            try await process.start(clientPort: try EtcdProcess.freePort())
            var missed: [Change] = []
            try await withClient(process.endpoint) { writer in
              for i in 4...6 {
                let r = try await writer.put("r/\(i)", "b\(i)")
                missed.append(Change(.put, "r/\(i)", "b\(i)", r))
              }
              let d = try await writer.delete(.key("r/0"))
              missed.append(Change(.delete, "r/0", "", d.revision))
            }
            await process.stop()
            try await process.start(clientPort: port)

            // Back on its port: the missed changes, then live ones, each once.
            var live: [Change] = []
            for i in 7...8 {
              let r = try await retrying { try await watcher.put("r/\(i)", "c\(i)") }
              live.append(Change(.put, "r/\(i)", "c\(i)", r))
            }
            let sentinel = try await watcher.put("r/sentinel", "end")
            live.append(Change(.put, "r/sentinel", "end", sentinel))
            let second = try await collect(from: &iterator) { $0.keyValue.key == "r/sentinel" }
            #expect(second.map(Change.init) == missed + live)
          }
        }
      }
    }

    @Test("a watch from revision 0 starts after the current revision")
    func fromNow() async throws {
      try await withEtcdAndClient { _, etcd in
        let old = try await etcd.put("n/old", "1")
        let first = try await etcd.watch(.prefix("n/"), fromRevision: 0) { events in
          // The watch is created concurrently with this body: write until one of the writes shows up.
          try await withThrowingTaskGroup(of: Void.self) { writers in
            writers.addTask {
              for i in 0... {
                try await etcd.put("n/tick", "\(i)")
                try await Task.sleep(for: .milliseconds(100))
              }
            }
            defer { writers.cancelAll() }
            var iterator = events.makeAsyncIterator()
            return try await iterator.next()
          }
        }
        #expect(first?.keyValue.key == "n/tick")
        #expect((first?.revision ?? 0) > old)
      }
    }

    @Test("a watch (and a read) from a compacted revision fails with .compacted and the compact revision")
    func compaction() async throws {
      try await withEtcdAndClient { _, etcd in
        let old = try await etcd.put("c/k", "1")
        try await etcd.put("c/k", "2")
        let compactAt = try await etcd.put("c/k", "3")
        try await etcd.compact(revision: compactAt)

        await #expect {
          _ = try await etcd.get("c/k", revision: old)
        } throws: { ($0 as? EtcdError)?.code == .compacted }

        var thrown: EtcdError?
        var delivered: [EtcdEvent] = []
        try await etcd.watch(.prefix("c/"), fromRevision: old) { events in
          do {
            for try await event in events { delivered.append(event) }
          } catch let error as EtcdError {
            thrown = error
          }
        }
        #expect(delivered.isEmpty)
        #expect(thrown?.code == .compacted)
        #expect(thrown?.compactRevision == compactAt)
        #expect(thrown?.message.namesAnEndpoint(of: etcd) == true)

        // From the compact revision on, history is there.
        let fromCompact = try await etcd.watch(.prefix("c/"), fromRevision: compactAt) { events in
          var iterator = events.makeAsyncIterator()
          return try await iterator.next()
        }
        #expect(fromCompact.map(Change.init) == Change(.put, "c/k", "3", compactAt))
      }
    }
  }
}

extension String {
  /// Whether an error message names the endpoint of `client` (so a person knows where to look).
  fileprivate func namesAnEndpoint(of client: EtcdClient) -> Bool {
    client.endpoints.contains { self.contains($0.description) }
  }
}
