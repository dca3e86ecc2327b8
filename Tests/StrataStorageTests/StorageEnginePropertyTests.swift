import StrataTestSupport
import StrataStorage
import Testing

/// Random puts and deletes against each engine and a `Dictionary` oracle, then every read API is
/// compared with the oracle. The seed is printed; `STRATA_TEST_SEED=<seed>` replays a run.
@Suite("StorageEngine random operations")
struct StorageEnginePropertyTests {
  /// Bytes keys are made of: the signed/unsigned boundaries and both ends.
  static let alphabet: [UInt8] = [0x00, 0x01, 0x7f, 0x80, 0xff]
  /// Probe keys also use bytes that never occur in stored keys, so probes fall between keys.
  static let probeAlphabet: [UInt8] = alphabet + [0x02, 0x7e, 0x81, 0xfe]
  static let operationCount = 2000

  /// Every key of length 0...3 over `alphabet` (156 keys).
  static let keyUniverse: [[UInt8]] = {
    var keys: [[UInt8]] = [[]]
    var level: [[UInt8]] = [[]]
    for _ in 1...3 {
      level = level.flatMap { prefix in alphabet.map { prefix + [$0] } }
      keys += level
    }
    return keys
  }()

  @Test("random batches match a Dictionary oracle", arguments: EngineKind.allCases)
  func randomOperations(kind: EngineKind) throws {
    let seed = SplitMix64.testSeed()
    print("StorageEnginePropertyTests[\(kind)]: seed \(seed) (STRATA_TEST_SEED=\(seed) replays it)")
    var random = SplitMix64(seed: seed)
    let context = Comment(rawValue: "engine \(kind), seed \(seed)")

    try kind.withEngine { engine throws in
      var oracle: [Keyspace: [[UInt8]: [UInt8]]] = [:]
      var applied = 0
      while applied < Self.operationCount {
        var batch = WriteBatch()
        for _ in 0..<(1 + random.below(16)) {
          let keyspace = random.element(of: Keyspace.allCases)
          let key = random.element(of: Self.keyUniverse)
          if random.below(3) == 0 {
            batch.delete(key, in: keyspace)
            oracle[keyspace, default: [:]][key] = nil
          } else {
            let value = (0..<random.below(4)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            batch.put(key, value, in: keyspace)
            oracle[keyspace, default: [:]][key] = value
          }
        }
        try engine.write(batch)
        applied += batch.count

        // Now and then, spot-check a key mid-run.
        if random.below(8) == 0 {
          let keyspace = random.element(of: Keyspace.allCases)
          let key = random.element(of: Self.keyUniverse)
          #expect(try engine.get(key, in: keyspace) == oracle[keyspace]?[key], context)
        }
      }

      for keyspace in Keyspace.allCases {
        let expected = oracle[keyspace, default: [:]]
        // get of every key, present or not.
        for key in Self.keyUniverse {
          #expect(try engine.get(key, in: keyspace) == expected[key], "\(keyspace) \(key), \(context)")
        }
        // multiGet of a shuffled request with duplicates.
        let request = (0..<64).map { _ in random.element(of: Self.keyUniverse) }
        #expect(try engine.multiGet(request, in: keyspace) == request.map { expected[$0] }, context)

        // A full forward scan.
        let sorted = expected.keys.sorted { $0.lexicographicallyPrecedes($1) }.map { Entry($0, expected[$0]!) }
        let cursor = try engine.makeCursor(in: keyspace)
        #expect(scan(cursor) == sorted, "\(keyspace), \(context)")

        // seek and seekForPrev of random probes.
        for _ in 0..<200 {
          let probe = (0..<random.below(5)).map { _ in random.element(of: Self.probeAlphabet) }
          let atOrBefore = sorted.last { !probe.lexicographicallyPrecedes($0.key) }
          cursor.seekForPrev(probe)
          #expect(
            (cursor.isValid ? Entry(cursor.key, cursor.value) : nil) == atOrBefore,
            "seekForPrev(\(probe)) in \(keyspace), \(context)")

          let atOrAfter = sorted.first { !$0.key.lexicographicallyPrecedes(probe) }
          cursor.seek(probe)
          #expect(
            (cursor.isValid ? Entry(cursor.key, cursor.value) : nil) == atOrAfter,
            "seek(\(probe)) in \(keyspace), \(context)")
        }
      }
    }
  }
}
