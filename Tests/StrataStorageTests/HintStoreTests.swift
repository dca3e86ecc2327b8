import StrataCore
import StrataStorage
import StrataTestSupport
import Testing

/// `HintStore` over both engines: append order, node ranges, removal, counters, reopening.
@Suite("HintStore")
struct HintStoreTests {
  @Test("each node's hints come back in append order, in chunks bounded by count and bytes", arguments: EngineKind.allCases)
  func appendOrder(kind: EngineKind) throws {
    try kind.withEngine { engine in
      let store = try HintStore(engine: engine)
      var ids: [String: [Hint.ID]] = [:]
      for i in 0..<30 {
        let node = ["a", "b", "c"][i % 3]
        ids[node, default: []].append(try store.append(node: node, payload: [UInt8(i)], rows: i))
      }
      let all = ids.values.flatMap { $0 }
      #expect(Set(all).count == 30)
      for node in ["a", "b", "c"] {
        let hints = try store.next(node: node, limit: 100)
        #expect(hints.map(\.id) == ids[node])
        #expect(hints.map(\.id) == hints.map(\.id).sorted())
        #expect(hints.allSatisfy { $0.node == node && $0.rows == Int($0.payload[0]) })
        #expect(try store.next(node: node, limit: 4).map(\.id) == Array(ids[node]!.prefix(4)))
      }
      // Payloads of 1 byte: the chunk stops once it holds 3 bytes; the first hint comes whatever its size.
      #expect(try store.next(node: "a", limit: 100, maxBytes: 3).count == 3)
      #expect(try store.next(node: "a", limit: 100, maxBytes: 0).count == 1)
      #expect(try store.next(node: "zz", limit: 10).isEmpty)
    }
  }

  @Test("node ids that are prefixes of each other keep separate ranges", arguments: EngineKind.allCases)
  func prefixNodeIDs(kind: EngineKind) throws {
    try kind.withEngine { engine in
      let store = try HintStore(engine: engine)
      let nodes = ["n1", "n10", "n", "n100", "n1\u{0}", "é"]
      for round in 0..<3 {
        for (k, node) in nodes.enumerated() {
          _ = try store.append(node: node, payload: Array(node.utf8) + [UInt8(round)], rows: k + 1)
        }
      }
      #expect(store.nodesWithHints == nodes.sorted())
      for (k, node) in nodes.enumerated() {
        let hints = try store.next(node: node, limit: 100)
        #expect(hints.map(\.payload) == (0..<3).map { Array(node.utf8) + [UInt8($0)] }, "\(node)")
        #expect(store.pending(node: node) == HintCount(hints: 3, rows: 3 * (k + 1)))
      }
      try store.remove(node: "n1", ids: try store.next(node: "n1", limit: 100).map(\.id))
      #expect(try store.next(node: "n1", limit: 100).isEmpty)
      #expect(try store.next(node: "n10", limit: 100).count == 3)
      #expect(try store.next(node: "n", limit: 100).count == 3)
      #expect(store.nodesWithHints == nodes.filter { $0 != "n1" }.sorted())
    }
  }

  @Test("remove deletes exactly the named hints, once, and keeps the counters", arguments: EngineKind.allCases)
  func removal(kind: EngineKind) throws {
    try kind.withEngine { engine in
      let store = try HintStore(engine: engine)
      let ids = try (0..<10).map { try store.append(node: "n2", payload: [UInt8($0)], rows: 10) }
      let other = try store.append(node: "n3", payload: [99], rows: 5)
      #expect(store.pending(node: "n2") == HintCount(hints: 10, rows: 100))

      // A middle hint: the first one still comes first.
      try store.remove(node: "n2", ids: [ids[4]])
      #expect(try store.next(node: "n2", limit: 3).map(\.id) == [ids[0], ids[1], ids[2]])
      // A prefix, named twice, plus ids already gone and another node's id.
      try store.remove(node: "n2", ids: [ids[0], ids[1], ids[1], ids[4], other])
      #expect(store.pending(node: "n2") == HintCount(hints: 7, rows: 70))
      #expect(store.pending(node: "n3") == HintCount(hints: 1, rows: 5))
      #expect(try store.next(node: "n2", limit: 100).map(\.id) == [ids[2], ids[3]] + ids[5...])
      #expect(try store.next(node: "n3", limit: 100).map(\.id) == [other])
      try store.remove(node: "n2", ids: [])

      try store.remove(node: "n2", ids: Array(ids))
      #expect(store.pending(node: "n2") == .zero)
      #expect(store.nodesWithHints == ["n3"])
      #expect(store.pendingByNode == ["n3": HintCount(hints: 1, rows: 5)])
      #expect(try store.next(node: "n2", limit: 100).isEmpty)
      // One hint key is left (plus the next-sequence key, which is no node's).
      #expect(try engine.entries(in: .hints).filter { $0.key.count > 2 }.count == 1)

      // The node gets hints again after being drained.
      let later = try store.append(node: "n2", payload: [], rows: 0)
      #expect(later > other)
      #expect(try store.next(node: "n2", limit: 100).map(\.id) == [later])
      #expect(try store.next(node: "n2", limit: 100).map(\.payload) == [[]])
    }
  }

  @Test("hints, counters and the id sequence survive reopening a RocksDB directory")
  func persistence() throws {
    try withTemporaryDirectory { path in
      var kept: [Hint] = []
      var lastID = Hint.ID(sequence: 0)
      do {
        let store = try HintStore(engine: try EngineKind.rocksdb.open(at: path))
        for i in 0..<20 {
          lastID = try store.append(node: i % 2 == 0 ? "n1" : "n10", payload: [UInt8(i), 1, 2], rows: i)
        }
        let n1 = try store.next(node: "n1", limit: 100)
        try store.remove(node: "n1", ids: n1.prefix(4).map(\.id))
        kept = try store.next(node: "n1", limit: 100) + store.next(node: "n10", limit: 100)
      }  // engine closed

      let store = try HintStore(engine: try EngineKind.rocksdb.open(at: path))
      let reread = try store.next(node: "n1", limit: 100) + store.next(node: "n10", limit: 100)
      #expect(reread == kept)
      #expect(store.pending(node: "n1") == HintCount(hints: 6, rows: (8..<20).filter { $0 % 2 == 0 }.reduce(0, +)))
      #expect(store.pending(node: "n10") == HintCount(hints: 10, rows: (0..<20).filter { $0 % 2 == 1 }.reduce(0, +)))
      #expect(store.nodesWithHints == ["n1", "n10"])
      let next = try store.append(node: "n1", payload: [], rows: 1)
      #expect(next > lastID)
      #expect(try store.next(node: "n1", limit: 100).last?.id == next)
    }
  }

  @Test("ids never repeat, even after every hint was removed and the store reopened", arguments: EngineKind.allCases)
  func idsNeverRepeat(kind: EngineKind) throws {
    try withTemporaryDirectory { path in
      var engine: (any StorageEngine)? = try kind.open(at: path)
      var store: HintStore? = try HintStore(engine: engine!)
      var issued: [Hint.ID] = []
      for round in 0..<3 {
        let ids = try (0..<5).map { _ in try store!.append(node: "n\(round)", payload: [1], rows: 1) }
        issued += ids
        try store!.remove(node: "n\(round)", ids: ids)
        #expect(store!.nodesWithHints.isEmpty)
        store = nil
        if kind == .rocksdb {
          engine = nil
          engine = try kind.open(at: path)
        }
        store = try HintStore(engine: engine!)
      }
      issued.append(try store!.append(node: "n0", payload: [], rows: 0))
      #expect(issued == issued.sorted() && Set(issued).count == issued.count, "\(issued)")
    }
  }

  @Test("write intents: stored until removed, found by the next store over the same data, kept apart from every node's hints", arguments: EngineKind.allCases)
  func writeIntents(kind: EngineKind) throws {
    try withTemporaryDirectory { path in
      var engine: (any StorageEngine)? = try kind.open(at: path)
      var store: HintStore? = try HintStore(engine: engine!)
      #expect(store!.takeIntentsFromBefore().isEmpty)
      let a = try store!.writeIntent([1, 2, 3])
      let hint = try store!.append(node: "n1", payload: [9], rows: 2)
      let b = try store!.writeIntent([4])
      let c = try store!.writeIntent([])
      #expect(a < b && b < c)
      try store!.removeIntents([b, 999])
      // A second store over the same data (a restarted process) finds the intents left, not the removed one.
      store = nil
      if kind == .rocksdb {
        engine = nil
        engine = try kind.open(at: path)
      }
      store = try HintStore(engine: engine!)
      #expect(store!.takeIntentsFromBefore() == [WriteIntentRecord(sequence: a, payload: [1, 2, 3]), WriteIntentRecord(sequence: c, payload: [])])
      #expect(store!.takeIntentsFromBefore().isEmpty, "taken once")
      // The node's hints are untouched by the intents around them.
      #expect(try store!.next(node: "n1", limit: 10).map(\.id) == [hint])
      #expect(store!.pending(node: "n1") == HintCount(hints: 1, rows: 2) && store!.nodesWithHints == ["n1"])
      let d = try store!.writeIntent([5])
      #expect(d > c, "a new intent never reuses a stored one's sequence")
      try store!.removeIntents([a, c, d])
      store = try HintStore(engine: engine!)
      #expect(store!.takeIntentsFromBefore().isEmpty)
      #expect(try store!.next(node: "n1", limit: 10).map(\.id) == [hint])
    }
  }

  @Test("bad arguments are rejected before anything is written", arguments: EngineKind.allCases)
  func badArguments(kind: EngineKind) throws {
    try kind.withEngine { engine in
      let store = try HintStore(engine: engine)
      for attempt in [
        { _ = try store.append(node: "", payload: [1], rows: 1) },
        { _ = try store.append(node: String(repeating: "x", count: 65_536), payload: [1], rows: 1) },
        { _ = try store.append(node: "n1", payload: [1], rows: -1) },
        { _ = try store.next(node: "n1", limit: 0) },
        { try store.remove(node: "", ids: [Hint.ID(sequence: 1)]) },
      ] as [() throws -> Void] {
        let error = #expect(throws: StrataError.self) { try attempt() }
        #expect(error?.code == .invalidArgument)
      }
      #expect(try engine.entries(in: .hints).isEmpty)
      #expect(store.nodesWithHints.isEmpty)
      _ = try store.append(node: String(repeating: "x", count: 65_535), payload: [1], rows: 1)
    }
  }

  @Test("a stored value that does not decode fails the open with an internal error", arguments: EngineKind.allCases)
  func corruptValue(kind: EngineKind) throws {
    try kind.withEngine { engine in
      var batch = WriteBatch()
      batch.put([0, 2, 0x6e, 0x31, 0, 0, 0, 0, 0, 0, 0, 1], [2, 0, 0], in: .hints)
      try engine.write(batch)
      let error = #expect(throws: StrataError.self) { try HintStore(engine: engine) }
      #expect(error?.code == .internalError)
    }
  }

  /// Random appends, reads, removals and reopenings over many nodes against a per-node array oracle.
  @Test("random operations over many nodes match an oracle, across reopenings", arguments: EngineKind.allCases)
  func randomOperations(kind: EngineKind) throws {
    var random = SplitMix64.forTest("HintStore.random[\(kind)]")
    let context = Comment(rawValue: "engine \(kind), seed \(SplitMix64.hex(random.seed))")
    let nodes = (1...12).map { "n\($0)" } + ["n1\u{0}", "m"]
    try withTemporaryDirectory { path in
      var engine: (any StorageEngine)? = try kind.open(at: path)
      var store: HintStore! = try HintStore(engine: engine!)
      var oracle: [String: [Hint]] = [:]
      var maxID = Hint.ID(sequence: 0)
      for step in 0..<1_500 {
        let node = random.element(of: nodes)
        switch random.below(10) {
        case 0..<5:
          let rows = random.below(50)
          let payload = (0..<random.below(6)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
          let id = try store.append(node: node, payload: payload, rows: rows)
          #expect(id > maxID, context)
          maxID = id
          oracle[node, default: []].append(Hint(id: id, node: node, rows: rows, payload: payload))
        case 5..<7:
          let limit = 1 + random.below(8)
          #expect(try store.next(node: node, limit: limit) == Array(oracle[node, default: []].prefix(limit)), "step \(step), \(context)")
        case 7..<9:
          // Mostly a prefix (as a replayer removes), sometimes scattered ids, stale ids and other nodes' ids.
          let held = oracle[node, default: []]
          var ids = random.oneIn(2)
            ? held.prefix(random.below(held.count + 1)).map(\.id)
            : held.filter { _ in random.oneIn(3) }.map(\.id)
          if random.oneIn(4) { ids.append(Hint.ID(sequence: UInt64(random.below(Int(maxID.sequence) + 2)))) }
          try store.remove(node: node, ids: ids)
          let removed = Set(ids)
          oracle[node] = held.filter { !removed.contains($0.id) }
        default:
          if random.oneIn(4) {
            // A new store rebuilds its counters with a scan; RocksDB is closed and reopened first (the
            // in-memory engine stays: it is the only copy).
            store = nil
            if kind == .rocksdb {
              engine = nil
              engine = try kind.open(at: path)
            }
            store = try HintStore(engine: engine!)
          }
        }
        let expected = oracle.filter { !$0.value.isEmpty }.mapValues { HintCount(hints: $0.count, rows: $0.reduce(0) { $0 + $1.rows }) }
        #expect(store.pendingByNode == expected, "step \(step), \(context)")
        #expect(store.nodesWithHints == expected.keys.sorted(), "step \(step), \(context)")
        #expect(store.pending(node: node) == expected[node] ?? .zero, "step \(step), \(context)")
      }
      for node in nodes {
        #expect(try store.next(node: node, limit: 10_000) == oracle[node, default: []], "\(node), \(context)")
      }
    }
  }
}
