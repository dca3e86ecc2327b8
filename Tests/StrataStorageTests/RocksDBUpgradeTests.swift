import Foundation
import StrataCore
@testable import StrataRocksDB
import StrataStorage
import Testing

/// A data directory written before a keyspace existed must still open, keep its data and gain the new
/// keyspace's column family.
@Suite("RocksDB upgrade")
struct RocksDBUpgradeTests {
  /// The column families of a directory created before `Keyspace.hints` was added.
  static let familiesBeforeHints = ["default", "catalog", "online", "history"]

  @Test("a directory created without the hints column family opens, keeps its data and stores hints")
  func opensWithoutHintsFamily() throws {
    try withTemporaryDirectory { path in
      try RocksDBEngine.createDatabase(
        at: path, columnFamilies: Self.familiesBeforeHints,
        puts: [(1, [1], [10]), (2, [2], [20]), (3, [3], [30])])

      do {
        let engine = try RocksDBEngine(path: path)
        #expect(try engine.get([1], in: .catalog) == [10])
        #expect(try engine.get([2], in: .online) == [20])
        #expect(try engine.get([3], in: .history) == [30])
        #expect(try engine.entries(in: .hints).isEmpty)
        let store = try HintStore(engine: engine)
        #expect(store.nodesWithHints.isEmpty)
        _ = try store.append(node: "n2", payload: [7, 7], rows: 3)
      }

      // Reopened: the new family was created on disk and holds what was written to it.
      let engine = try RocksDBEngine(path: path)
      let store = try HintStore(engine: engine)
      #expect(store.pending(node: "n2") == HintCount(hints: 1, rows: 3))
      #expect(try store.next(node: "n2", limit: 10).map(\.payload) == [[7, 7]])
      #expect(try engine.get([3], in: .history) == [30])
    }
  }

  @Test("the directory now has every keyspace's column family, so opening it with the old list fails")
  func familyIsOnDisk() throws {
    try withTemporaryDirectory { path in
      try RocksDBEngine.createDatabase(at: path, columnFamilies: Self.familiesBeforeHints, puts: [])
      _ = try RocksDBEngine(path: path)
      // RocksDB refuses to open a database without naming all its families: proof the family exists
      // (and the reason an older binary cannot open an upgraded directory).
      #expect(throws: StrataError.self) {
        try RocksDBEngine.createDatabase(at: path, columnFamilies: Self.familiesBeforeHints, puts: [])
      }
      try RocksDBEngine.createDatabase(
        at: path, columnFamilies: ["default"] + Keyspace.allCases.map(\.name), puts: [])
    }
  }
}
