import StrataTestSupport
import StrataCore
import Testing

@testable import StrataStorage

/// The byte layout of online and history keys. Every property is checked on the bytes and through a real
/// engine (whose comparator, not ours, decides the order a cursor walks).
@Suite("KeyCodec")
struct KeyCodecTests {
  /// Event/created times: both ends of Int64, around zero (negative = before 1970) and a realistic time.
  static let times: [Int64] = [.min, .min + 1, -86_400_000_000, -1, 0, 1, 1_700_000_000_000_000, .max - 1, .max]
  static let sequences: [UInt64] = [0, 1, 255, 256, 1 << 32, .max - 1, .max]
  /// Ids that share prefixes, contain NUL, multi-byte UTF-8, and the longest allowed id.
  static let ids = [
    "a", "ab", "abc", "b", "u1", "u10", "u100", "u2", "\u{E9}", "e\u{301}", "🙂", "a\u{0}", "a\u{0}b", "日本語",
    String(repeating: "x", count: KeyCodec.maxEntityIDBytes), String(repeating: "\u{E9}", count: KeyCodec.maxEntityIDBytes / 2),
  ]
  static let groupVersions: [UInt32] = [0, 1, 2, 255, 256, 65_536, .max]

  @Test("history keys sort by (event, created, sequence), negative times and Int64 extremes included", arguments: EngineKind.allCases)
  func historyKeyOrder(kind: EngineKind) throws {
    var triples: [Triple] = []
    for e in Self.times {
      for c in Self.times {
        for s in Self.sequences { triples.append(Triple(event: e, created: c, sequence: s)) }
      }
    }
    var random = SplitMix64(seed: 0x6b65_7973)
    let shuffled = random.shuffled(triples)
    let expected = triples.sorted()

    // On the bytes.
    let keys = shuffled.map { $0.historyKey(entityID: "u1", groupVersion: 7) }
    let byBytes = zip(keys, shuffled).sorted { $0.0.lexicographicallyPrecedes($1.0) }.map(\.1)
    #expect(byBytes == expected)

    // Through the engine, written in random order over several batches.
    try kind.withEngine { engine throws in
      var batch = WriteBatch()
      for (i, key) in keys.enumerated() {
        batch.put(key, [UInt8(truncatingIfNeeded: i)], in: .history)
        if batch.count == 100 {
          try engine.write(batch)
          batch = WriteBatch()
        }
      }
      try engine.write(batch)
      let scanned = try engine.entries(in: .history).map { entry throws in
        let (e, c, s) = try KeyCodec.decodeHistoryKeySuffix(entry.key)
        return Triple(event: e.microseconds, created: c.microseconds, sequence: s)
      }
      #expect(scanned == expected)
    }
  }

  @Test("every key starts with the 8-byte big-endian EntityToken, then the length-prefixed id", arguments: EngineKind.allCases)
  func tokenFirstLayout(kind: EngineKind) throws {
    for id in Self.ids {
      let token = EntityToken.of(id)
      let utf8 = Array(id.utf8)
      let prefix = KeyCodec.entityPrefix(id)
      #expect(prefix == bigEndian(token) + [UInt8(utf8.count >> 8), UInt8(utf8.count & 0xff)] + utf8, "\(id)")
      for gv in Self.groupVersions {
        let online = KeyCodec.onlineKey(entityID: id, groupVersion: gv)
        #expect(online == prefix + bigEndian32(gv))
        #expect(KeyCodec.historyPrefix(entityID: id, groupVersion: gv) == online)
        let history = KeyCodec.historyKey(
          entityID: id, groupVersion: gv, eventTime: Timestamp(microseconds: -5), createdTime: .max, sequence: 3)
        #expect(Array(history.prefix(8)) == bigEndian(token))
        #expect(history.starts(with: online))
        #expect(history.count == online.count + 24)
      }
    }

    // The engine walks keys in token order: a token range is one contiguous key range.
    try kind.withEngine { engine throws in
      var batch = WriteBatch()
      for id in Self.ids {
        for gv in [UInt32(1), 2] { batch.put(KeyCodec.onlineKey(entityID: id, groupVersion: gv), Array(id.utf8), in: .online) }
      }
      try engine.write(batch)
      let entries = try engine.entries(in: .online)
      #expect(entries.count == Self.ids.count * 2)
      let tokens = entries.map { tokenOf($0.key) }
      #expect(tokens == tokens.sorted())
      for entry in entries {
        #expect(tokenOf(entry.key) == EntityToken.of(String(decoding: entry.value, as: UTF8.self)))
      }
      // Seeking to a token lands on that entity's first key.
      let cursor = try engine.makeCursor(in: .online)
      for id in Self.ids {
        cursor.seek(bigEndian(EntityToken.of(id)))
        #expect(cursor.isValid && cursor.key == KeyCodec.onlineKey(entityID: id, groupVersion: 1), "\(id)")
      }
    }
  }

  @Test("entity prefixes are prefix-free: no id's keys fall under another id's or group version's prefix", arguments: EngineKind.allCases)
  func prefixFree(kind: EngineKind) throws {
    // On the bytes, every ordered pair.
    for a in Self.ids {
      for b in Self.ids where Array(a.utf8) != Array(b.utf8) {
        #expect(!KeyCodec.entityPrefix(b).starts(with: KeyCodec.entityPrefix(a)), "\(a.debugDescription) vs \(b.debugDescription)")
        let aKey = KeyCodec.historyPrefix(entityID: a, groupVersion: 1)
        let bKey = KeyCodec.historyKey(entityID: b, groupVersion: 1, eventTime: .min, createdTime: .min, sequence: 0)
        #expect(!bKey.starts(with: aKey), "\(a.debugDescription) vs \(b.debugDescription)")
      }
      for g1 in Self.groupVersions {
        for g2 in Self.groupVersions where g1 != g2 {
          let key = KeyCodec.historyKey(entityID: a, groupVersion: g2, eventTime: .max, createdTime: .max, sequence: .max)
          #expect(!key.starts(with: KeyCodec.historyPrefix(entityID: a, groupVersion: g1)))
        }
      }
    }

    // Through the engine: a prefix scan of (id, group version) finds exactly that pair's rows.
    try kind.withEngine { engine throws in
      let gvs: [UInt32] = [1, 2, 256]
      var batch = WriteBatch()
      for id in Self.ids {
        for gv in gvs {
          for t in [Int64.min, 0, .max] {
            batch.put(
              KeyCodec.historyKey(entityID: id, groupVersion: gv, eventTime: Timestamp(microseconds: t), createdTime: .max, sequence: 1),
              Array(id.utf8) + bigEndian32(gv), in: .history)
          }
        }
      }
      try engine.write(batch)
      let cursor = try engine.makeCursor(in: .history)
      for id in Self.ids {
        for gv in gvs {
          let prefix = KeyCodec.historyPrefix(entityID: id, groupVersion: gv)
          let found = scan(cursor, from: prefix).prefix { $0.key.starts(with: prefix) }
          #expect(found.count == 3, "\(id.debugDescription)@\(gv)")
          #expect(found.allSatisfy { $0.value == Array(id.utf8) + bigEndian32(gv) }, "\(id.debugDescription)@\(gv)")
        }
      }
    }
  }

  @Test("decodeEntity and decodeHistoryKeySuffix round-trip; malformed keys throw internalError", arguments: EngineKind.allCases)
  func decodeRoundTrip(kind: EngineKind) throws {
    var random = SplitMix64(seed: 0xdec0_de)
    let alphabet = ["a", "Z", "0", "_", "\u{E9}", "e\u{301}", "\u{DF}", "日", "🙂", "\u{0}", "\u{7F}", " "]
    var ids = Self.ids
    for _ in 0..<200 { ids.append((0...random.below(40)).map { _ in random.element(of: alphabet) }.joined()) }
    var expected: [Entry] = []
    try kind.withEngine { engine throws in
      var batch = WriteBatch()
      var triples: [[UInt8]: (String, UInt32, Triple)] = [:]
      for id in ids {
        let gv = random.below(2) == 0 ? random.element(of: Self.groupVersions) : UInt32(truncatingIfNeeded: random.next())
        let triple = Triple(
          event: random.below(2) == 0 ? random.element(of: Self.times) : Int64(bitPattern: random.next()),
          created: random.below(2) == 0 ? random.element(of: Self.times) : Int64(bitPattern: random.next()),
          sequence: random.below(2) == 0 ? random.element(of: Self.sequences) : random.next())
        let online = KeyCodec.onlineKey(entityID: id, groupVersion: gv)
        let history = triple.historyKey(entityID: id, groupVersion: gv)
        batch.put(online, [1], in: .online)
        batch.put(history, [2], in: .history)
        triples[online] = (id, gv, triple)
        triples[history] = (id, gv, triple)
        expected.append(Entry(history, [2]))
      }
      try engine.write(batch)

      for keyspace in [Keyspace.online, .history] {
        for entry in try engine.entries(in: keyspace) {
          let (id, gv, triple) = try #require(triples[entry.key])
          let decoded = try KeyCodec.decodeEntity(entry.key)
          #expect(Array(decoded.entityID.utf8) == Array(id.utf8), "\(id.debugDescription)")
          #expect(decoded.groupVersion == gv)
          if keyspace == .history {
            let (e, c, s) = try KeyCodec.decodeHistoryKeySuffix(entry.key)
            #expect(Triple(event: e.microseconds, created: c.microseconds, sequence: s) == triple)
          }
        }
      }
      #expect(try engine.entries(in: .history).count == Set(expected.map(\.key)).count)
    }

    // Malformed keys: errors, never a crash.
    let good = KeyCodec.historyKey(entityID: "abc", groupVersion: 1, eventTime: .epoch, createdTime: .epoch, sequence: 1)
    var tooLong = KeyCodec.onlineKey(entityID: "abc", groupVersion: 1)
    tooLong[9] = 0xff  // the id length now exceeds the key
    for bad in [[], [UInt8](repeating: 0, count: 8), Array(good.prefix(10)), Array(good.prefix(12)), tooLong] {
      let error = #expect(throws: StrataError.self, "\(bad)") { try KeyCodec.decodeEntity(bad) }
      #expect(error?.code == .internalError)
    }
    for bad in [[], Array(good.prefix(37)), [UInt8](repeating: 0xff, count: 20)] {
      let error = #expect(throws: StrataError.self, "\(bad)") { try KeyCodec.decodeHistoryKeySuffix(bad) }
      #expect(error?.code == .internalError)
    }
  }

  @Test("historySeekKey(asOf: T) sorts after every key with event T and before every key with event T+1", arguments: EngineKind.allCases)
  func seekKeyBounds(kind: EngineKind) throws {
    let anchors: [Int64] = [.min, .min + 1, -1_000_001, -1, 0, 1, 1_700_000_000_000_000, .max - 1, .max]
    for id in ["u1", "\u{E9}"] {
      for gv in [UInt32(0), 1, .max] {
        for t in anchors {
          let seek = KeyCodec.historySeekKey(entityID: id, groupVersion: gv, asOf: Timestamp(microseconds: t))
          for c in Self.times {
            for s in Self.sequences {
              let atT = Triple(event: t, created: c, sequence: s).historyKey(entityID: id, groupVersion: gv)
              if c == .max && s == .max {
                #expect(atT == seek)
              } else {
                #expect(atT.lexicographicallyPrecedes(seek), "T=\(t) created=\(c) seq=\(s)")
              }
              if t < .max {
                let next = Triple(event: t + 1, created: c, sequence: s).historyKey(entityID: id, groupVersion: gv)
                #expect(seek.lexicographicallyPrecedes(next), "T=\(t) created=\(c) seq=\(s)")
              }
            }
          }
          // The seek key stays inside (entity, group version).
          #expect(seek.starts(with: KeyCodec.historyPrefix(entityID: id, groupVersion: gv)))
        }
      }
    }

    // Through the engine: one seekForPrev from the seek key finds the greatest row with event <= T.
    try kind.withEngine { engine throws in
      var batch = WriteBatch()
      var written: [Triple] = []
      for t in [Int64.min, -10, 0, 10, .max] {
        for c in [Int64.min, 0, .max] {
          for s in [UInt64(0), .max] {
            let triple = Triple(event: t, created: c, sequence: s)
            written.append(triple)
            batch.put(triple.historyKey(entityID: "u1", groupVersion: 2), [], in: .history)
          }
        }
      }
      // Neighbours that must never be found: other group versions of u1, and ids sharing its prefix.
      for (id, gv) in [("u1", UInt32(1)), ("u1", 3), ("u10", 2), ("u", 2)] {
        for t in [Int64.min, 0, .max] {
          batch.put(Triple(event: t, created: 0, sequence: 0).historyKey(entityID: id, groupVersion: gv), [9], in: .history)
        }
      }
      try engine.write(batch)
      let cursor = try engine.makeCursor(in: .history)
      let prefix = KeyCodec.historyPrefix(entityID: "u1", groupVersion: 2)
      for asOf in [Int64.min, .min + 1, -11, -10, -9, -1, 0, 1, 9, 10, 11, .max - 1, .max] {
        let found = cursor.lastEntry(
          atOrBefore: KeyCodec.historySeekKey(entityID: "u1", groupVersion: 2, asOf: Timestamp(microseconds: asOf)), prefix: prefix)
        let expected = written.filter { $0.event <= asOf }.max()
        let got = try found.map { entry throws in
          let (e, c, s) = try KeyCodec.decodeHistoryKeySuffix(entry.key)
          return Triple(event: e.microseconds, created: c.microseconds, sequence: s)
        }
        #expect(got == expected, "asOf \(asOf)")
        #expect(found == nil || found?.value == [], "asOf \(asOf): found a neighbour's row")
      }
    }
  }
}

/// The ordering triple of a history key.
private struct Triple: Hashable, Comparable, CustomStringConvertible {
  var event: Int64
  var created: Int64
  var sequence: UInt64

  static func < (a: Triple, b: Triple) -> Bool {
    (a.event, a.created, a.sequence) < (b.event, b.created, b.sequence)
  }

  func historyKey(entityID: String, groupVersion: UInt32) -> [UInt8] {
    KeyCodec.historyKey(
      entityID: entityID, groupVersion: groupVersion, eventTime: Timestamp(microseconds: event),
      createdTime: Timestamp(microseconds: created), sequence: sequence)
  }

  var description: String { "(\(event), \(created), \(sequence))" }
}

private func bigEndian(_ v: UInt64) -> [UInt8] {
  (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * UInt64($0))) }
}

private func bigEndian32(_ v: UInt32) -> [UInt8] {
  (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32($0))) }
}

private func tokenOf(_ key: [UInt8]) -> UInt64 {
  key.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
}

extension SplitMix64 {
  /// A Fisher-Yates shuffle driven by this generator (reproducible from the seed).
  fileprivate mutating func shuffled<T>(_ elements: [T]) -> [T] {
    var out = elements
    for i in stride(from: out.count - 1, to: 0, by: -1) { out.swapAt(i, below(i + 1)) }
    return out
  }
}
