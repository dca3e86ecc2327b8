import Dispatch
import StrataStorage
import Testing

/// The behaviour every `StorageEngine` must have, run against `InMemoryEngine` and `RocksDBEngine`.
@Suite("StorageEngine conformance")
struct StorageEngineConformanceTests {
  // MARK: get, put, delete

  @Test("get of an absent key is nil", arguments: EngineKind.allCases)
  func getAbsent(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      for keyspace in Keyspace.allCases {
        #expect(try engine.get([1, 2, 3], in: keyspace) == nil)
        #expect(try engine.get([], in: keyspace) == nil)
      }
    }
  }

  @Test("put then get, overwrite, delete", arguments: EngineKind.allCases)
  func putOverwriteDelete(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      try engine.put([1, 2], [10], in: .online)
      #expect(try engine.get([1, 2], in: .online) == [10])
      #expect(try engine.get([1], in: .online) == nil)
      #expect(try engine.get([1, 2, 0], in: .online) == nil)

      try engine.put([1, 2], [20, 21], in: .online)
      #expect(try engine.get([1, 2], in: .online) == [20, 21])

      try engine.delete([1, 2], in: .online)
      #expect(try engine.get([1, 2], in: .online) == nil)
      #expect(try engine.entries(in: .online).isEmpty)

      // Deleting an absent key is not an error.
      try engine.delete([9, 9], in: .online)
      #expect(try engine.get([9, 9], in: .online) == nil)
    }
  }

  @Test("empty values are present, the empty key is a key, big values round-trip", arguments: EngineKind.allCases)
  func edgeValues(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      let big = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
      try engine.put([5], [], in: .catalog)
      try engine.put([], [7], in: .catalog)
      try engine.put([6], big, in: .catalog)
      #expect(try engine.get([5], in: .catalog) == [])
      #expect(try engine.get([], in: .catalog) == [7])
      #expect(try engine.get([6], in: .catalog) == big)
      #expect(try engine.multiGet([[5], [], [4]], in: .catalog) == [[], [7], nil])
      #expect(try engine.entries(in: .catalog) == [Entry([], [7]), Entry([5], []), Entry([6], big)])
    }
  }

  @Test("keyspaces are isolated", arguments: EngineKind.allCases)
  func keyspaceIsolation(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      var batch = WriteBatch()
      batch.put([1], [0xC0], in: .catalog)
      batch.put([1], [0x0E], in: .online)
      try engine.write(batch)

      #expect(try engine.get([1], in: .catalog) == [0xC0])
      #expect(try engine.get([1], in: .online) == [0x0E])
      #expect(try engine.get([1], in: .history) == nil)
      #expect(try engine.entries(in: .history).isEmpty)

      try engine.delete([1], in: .catalog)
      #expect(try engine.get([1], in: .catalog) == nil)
      #expect(try engine.get([1], in: .online) == [0x0E])
      #expect(try engine.entries(in: .online) == [Entry([1], [0x0E])])
      #expect(try engine.entries(in: .catalog).isEmpty)
    }
  }

  // MARK: write batches

  @Test("a batch applies all its operations, in order", arguments: EngineKind.allCases)
  func batchOrdering(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      try engine.put([3], [3], in: .history)

      var batch = WriteBatch()
      batch.put([1], [1], in: .history)  // put then delete: absent
      batch.delete([1], in: .history)
      batch.delete([2], in: .history)  // delete then put: present
      batch.put([2], [2], in: .history)
      batch.put([3], [30], in: .history)  // two puts: the last wins
      batch.put([3], [31], in: .history)
      batch.put([4], [4], in: .online)  // another keyspace in the same batch
      #expect(batch.count == 7)
      try engine.write(batch)

      #expect(try engine.get([1], in: .history) == nil)
      #expect(try engine.get([2], in: .history) == [2])
      #expect(try engine.get([3], in: .history) == [31])
      #expect(try engine.get([4], in: .online) == [4])
      #expect(try engine.entries(in: .history) == [Entry([2], [2]), Entry([3], [31])])
    }
  }

  @Test("a cursor never sees part of a batch", arguments: EngineKind.allCases)
  func batchAtomicity(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      // Writers keep replacing all 50 keys with the same generation in one batch; every snapshot must
      // show a single generation across all of them.
      let keys = (0..<50).map { [UInt8($0)] }
      let writer = DispatchQueue(label: "writer")
      let group = DispatchGroup()
      let failures = Failures()
      writer.async(group: group) {
        do {
          for generation in 0..<200 {
            var batch = WriteBatch()
            for key in keys { batch.put(key, [UInt8(generation % 256)], in: .online) }
            try engine.write(batch)
          }
        } catch {
          failures.record("\(error)")
        }
      }
      var snapshots = 0
      while group.wait(timeout: .now()) == .timedOut || snapshots == 0 {
        let entries = try engine.entries(in: .online)
        if !entries.isEmpty {
          #expect(entries.count == keys.count)
          #expect(Set(entries.map(\.value)).count == 1, "a snapshot mixed generations: \(entries)")
        }
        snapshots += 1
      }
      group.wait()
      #expect(failures.all.isEmpty)
      #expect(try engine.entries(in: .online).map(\.value) == Array(repeating: [199], count: keys.count))
    }
  }

  @Test("cursors made together share one snapshot: a batch over two keyspaces is in both or in neither", arguments: EngineKind.allCases)
  func cursorsShareASnapshot(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      // The writer puts generation g under one key of .history and one of .tiles in one batch; every
      // pair of cursors made together must read the same generation from both keyspaces.
      let writer = DispatchQueue(label: "writer")
      let group = DispatchGroup()
      let failures = Failures()
      writer.async(group: group) {
        do {
          for generation in 0..<2_000 {
            var batch = WriteBatch()
            batch.put([1], [UInt8(generation % 256)], in: .history)
            batch.put([1], [UInt8(generation % 256)], in: .tiles)
            try engine.write(batch)
          }
        } catch {
          failures.record("\(error)")
        }
      }
      var pairs = 0
      while group.wait(timeout: .now()) == .timedOut || pairs == 0 {
        let cursors = try engine.makeCursors(in: [.history, .tiles])
        for cursor in cursors { cursor.seek([1]) }
        let read = cursors.map { $0.isValid ? $0.value : [] }
        #expect(read[0] == read[1], "one snapshot read \(read[0]) from history and \(read[1]) from tiles")
        pairs += 1
      }
      group.wait()
      #expect(failures.all.isEmpty)
      // Cursors made now see the last batch, later writes not.
      let cursors = try engine.makeCursors(in: [.tiles, .history])
      var batch = WriteBatch()
      batch.put([2], [9], in: .tiles)
      try engine.write(batch)
      cursors[0].seek([1])
      #expect(cursors[0].value == [UInt8(1_999 % 256)])
      cursors[0].next()
      #expect(!cursors[0].isValid)
      cursors[1].seek([0])
      #expect(cursors[1].key == [1] && cursors[1].value == [UInt8(1_999 % 256)])
    }
  }

  @Test("an empty batch is a no-op", arguments: EngineKind.allCases)
  func emptyBatch(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      try engine.write(WriteBatch())
      for keyspace in Keyspace.allCases { #expect(try engine.entries(in: keyspace).isEmpty) }
    }
  }

  // MARK: multiGet

  @Test("multiGet answers in request order, with nils", arguments: EngineKind.allCases)
  func multiGet(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      var batch = WriteBatch()
      batch.put([0xff], [3], in: .online)
      batch.put([0x00], [1], in: .online)
      batch.put([0x10, 0x20], [2], in: .online)
      batch.put([0x10], [9], in: .catalog)
      try engine.write(batch)

      #expect(try engine.multiGet([], in: .online) == [])
      #expect(
        try engine.multiGet([[0xff], [0x10], [0x00], [0x10, 0x20], [0xff], [0x01]], in: .online)
          == [[3], nil, [1], [2], [3], nil])
      #expect(try engine.multiGet([[0x10], [0x00]], in: .catalog) == [[9], nil])
      #expect(try engine.multiGet([[0x10]], in: .history) == [nil])
    }
  }

  // MARK: cursors

  /// Byte strings in unsigned lexicographic order, shorter prefix first.
  static let orderedKeys: [[UInt8]] = [
    [],
    [0x00],
    [0x00, 0x00],
    [0x00, 0xff],
    [0x01],
    [0x01, 0x00],
    [0x01, 0x00, 0x00],
    [0x01, 0x01],
    [0x7f],
    [0x7f, 0xff, 0xff],
    [0x80],
    [0x80, 0x00],
    [0xfe, 0xff],
    [0xff],
    [0xff, 0x00],
    [0xff, 0xff],
  ]

  @Test("cursors order keys as unsigned bytes, shorter prefix first", arguments: EngineKind.allCases)
  func cursorOrdering(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      // The expectation is written out by hand; also check it agrees with the documented comparison.
      let sorted = Self.orderedKeys.sorted { $0.lexicographicallyPrecedes($1) }
      #expect(sorted == Self.orderedKeys)

      var batch = WriteBatch()
      for (i, key) in Self.orderedKeys.enumerated().reversed() { batch.put(key, [UInt8(i)], in: .history) }
      try engine.write(batch)

      let entries = try engine.entries(in: .history)
      #expect(entries.map(\.key) == Self.orderedKeys)
      #expect(entries.map(\.value) == Self.orderedKeys.indices.map { [UInt8($0)] })
    }
  }

  @Test("seek: exact, between keys, before the first, after the last", arguments: EngineKind.allCases)
  func seek(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      try writeKeys([[0x10], [0x10, 0x00], [0x20], [0x80], [0xf0]], to: engine)
      let cursor = try engine.makeCursor(in: .online)
      #expect(!cursor.isValid)

      cursor.seek([0x20])
      #expect(cursor.isValid && cursor.key == [0x20] && cursor.value == [0x20])
      cursor.seek([0x10, 0x00, 0x00])  // between [10 00] and [20]
      #expect(cursor.isValid && cursor.key == [0x20])
      cursor.seek([0x10])
      #expect(cursor.isValid && cursor.key == [0x10])
      cursor.seek([0x7f, 0xff])  // signed comparison would put [80] first
      #expect(cursor.isValid && cursor.key == [0x80])
      cursor.seek([])  // before the first
      #expect(cursor.isValid && cursor.key == [0x10])
      cursor.seek([0x00])
      #expect(cursor.isValid && cursor.key == [0x10])
      cursor.seek([0xf0, 0x00])  // after the last
      #expect(!cursor.isValid)
      cursor.seek([0xff])
      #expect(!cursor.isValid)
    }
  }

  @Test("seekForPrev: exact, between keys, before the first, after the last", arguments: EngineKind.allCases)
  func seekForPrev(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      try writeKeys([[0x10], [0x10, 0x00], [0x20], [0x80], [0xf0]], to: engine)
      let cursor = try engine.makeCursor(in: .online)

      cursor.seekForPrev([0x20])  // exact
      #expect(cursor.isValid && cursor.key == [0x20] && cursor.value == [0x20])
      cursor.seekForPrev([0x10, 0x00])  // exact, with a prefix before it
      #expect(cursor.isValid && cursor.key == [0x10, 0x00])
      cursor.seekForPrev([0x10, 0x00, 0x00])  // between [10 00] and [20]
      #expect(cursor.isValid && cursor.key == [0x10, 0x00])
      cursor.seekForPrev([0x1f, 0xff])
      #expect(cursor.isValid && cursor.key == [0x10, 0x00])
      cursor.seekForPrev([0x7f, 0xff])  // signed comparison would find [80]
      #expect(cursor.isValid && cursor.key == [0x20])
      cursor.seekForPrev([0x0f, 0xff])  // before the first
      #expect(!cursor.isValid)
      cursor.seekForPrev([])
      #expect(!cursor.isValid)
      cursor.seekForPrev([0xff, 0xff])  // after the last: the last entry
      #expect(cursor.isValid && cursor.key == [0xf0])

      // Walking forward from a seekForPrev position.
      cursor.seekForPrev([0x7f])
      #expect(cursor.isValid && cursor.key == [0x20])
      cursor.next()
      #expect(cursor.isValid && cursor.key == [0x80])
    }
  }

  @Test("next walks to the end, then the cursor stays invalid", arguments: EngineKind.allCases)
  func nextToTheEnd(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      try writeKeys([[1], [2], [3]], to: engine)
      let cursor = try engine.makeCursor(in: .online)
      cursor.seek([2])
      #expect(cursor.isValid && cursor.key == [2])
      cursor.next()
      #expect(cursor.isValid && cursor.key == [3] && cursor.value == [3])
      cursor.next()
      #expect(!cursor.isValid)
      cursor.next()  // next on an invalid cursor is harmless
      #expect(!cursor.isValid)
      cursor.seek([1])  // and the cursor can be repositioned
      #expect(cursor.isValid && cursor.key == [1])

      let empty = try engine.makeCursor(in: .history)
      empty.seek([])
      #expect(!empty.isValid)
      empty.seekForPrev([0xff])
      #expect(!empty.isValid)
    }
  }

  @Test("a cursor reads the snapshot taken when it was made", arguments: EngineKind.allCases)
  func cursorSnapshot(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      try writeKeys([[1], [2], [3]], to: engine)
      let cursor = try engine.makeCursor(in: .online)

      var batch = WriteBatch()
      batch.put([0], [0], in: .online)  // new key before
      batch.put([2], [0xaa], in: .online)  // overwrite
      batch.delete([3], in: .online)  // delete
      batch.put([4], [4], in: .online)  // new key after
      try engine.write(batch)

      #expect(scan(cursor) == [Entry([1], [1]), Entry([2], [2]), Entry([3], [3])])
      cursor.seekForPrev([9])
      #expect(cursor.isValid && cursor.key == [3] && cursor.value == [3])
      cursor.seekForPrev([0])
      #expect(!cursor.isValid)

      // A new cursor, and get, see the write.
      #expect(try engine.entries(in: .online) == [Entry([0], [0]), Entry([1], [1]), Entry([2], [0xaa]), Entry([4], [4])])
      #expect(try engine.get([3], in: .online) == nil)
    }
  }

  @Test("a cursor keeps working after the last other reference to its engine is dropped", arguments: EngineKind.allCases)
  func cursorOutlivesEngineReference(kind: EngineKind) throws {
    try withTemporaryDirectory { path in
      var cursor: (any StorageCursor)?
      do {
        let engine = try kind.open(at: path)
        try writeKeys([[1], [2]], to: engine)
        cursor = try engine.makeCursor(in: .online)
      }
      #expect(scan(cursor!) == [Entry([1], [1]), Entry([2], [2])])
      cursor = nil
    }
  }

  @Test("lastEntry(atOrBefore:prefix:) stops at the prefix", arguments: EngineKind.allCases)
  func lastEntryAtOrBefore(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      try writeKeys([[1, 1], [1, 2], [2, 0], [2, 5]], to: engine)
      let cursor = try engine.makeCursor(in: .online)

      let exact = cursor.lastEntry(atOrBefore: [2, 5], prefix: [2])
      #expect(exact?.key == [2, 5] && exact?.value == [2, 5])
      #expect(cursor.lastEntry(atOrBefore: [2, 4], prefix: [2])?.key == [2, 0])
      #expect(cursor.lastEntry(atOrBefore: [1, 0xff], prefix: [1])?.key == [1, 2])
      // The entry before has another prefix.
      #expect(cursor.lastEntry(atOrBefore: [3, 9], prefix: [3]) == nil)
      #expect(cursor.lastEntry(atOrBefore: [2], prefix: [2]) == nil)  // finds [1 2]
      #expect(cursor.lastEntry(atOrBefore: [1, 0], prefix: [1]) == nil)  // finds nothing
      // An empty prefix accepts whatever is there.
      #expect(cursor.lastEntry(atOrBefore: [9], prefix: [])?.key == [2, 5])
    }
  }

  @Test("concurrent writers and readers", arguments: EngineKind.allCases)
  func concurrentAccess(kind: EngineKind) throws {
    try kind.withEngine { engine throws in
      let failures = Failures()
      DispatchQueue.concurrentPerform(iterations: 4) { worker in
        do {
          for i in 0..<100 {
            let key: [UInt8] = [UInt8(worker), UInt8(i)]
            try engine.put(key, key, in: .history)
            if try engine.get(key, in: .history) != key { failures.record("lost \(key)") }
            _ = try engine.multiGet([key, [UInt8(worker)]], in: .history)
            _ = try engine.entries(in: .history)
          }
        } catch {
          failures.record("\(error)")
        }
      }
      #expect(failures.all.isEmpty)
      let expected = (0..<4).flatMap { w in (0..<100).map { i in [UInt8(w), UInt8(i)] } }
      #expect(try engine.entries(in: .history).map(\.key) == expected)
    }
  }
}

/// Puts each key with itself as the value, in `.online`, in one batch.
func writeKeys(_ keys: [[UInt8]], to engine: any StorageEngine) throws {
  var batch = WriteBatch()
  for key in keys { batch.put(key, key, in: .online) }
  try engine.write(batch)
}
