import Foundation
import StrataCore
import StrataRocksDB
import StrataStorage
import Testing

/// What only the durable engine has: persistence across reopening, and the directory lock.
@Suite("RocksDBEngine")
struct RocksDBEngineTests {
  @Test("name and directory creation")
  func nameAndDirectory() throws {
    try withTemporaryDirectory { path in
      let nested = path + "/a/b/db"
      let engine = try RocksDBEngine(path: nested)
      #expect(engine.name == "rocksdb")
      var isDirectory: ObjCBool = false
      #expect(FileManager.default.fileExists(atPath: nested, isDirectory: &isDirectory) && isDirectory.boolValue)
      #expect(FileManager.default.fileExists(atPath: nested + "/CURRENT"))
    }
  }

  @Test("everything written is there after reopening", arguments: [false, true])
  func reopenPersistence(syncWrites: Bool) throws {
    try withTemporaryDirectory { path in
      var expected: [Keyspace: [Entry]] = [:]
      do {
        let engine = try RocksDBEngine(path: path, syncWrites: syncWrites)
        for keyspace in Keyspace.allCases {
          var batch = WriteBatch()
          let tag = UInt8(keyspace.rawValue)
          for i in 0..<100 { batch.put([tag, UInt8(i)], [UInt8(i), tag], in: keyspace) }
          batch.put([], [0xee, tag], in: keyspace)
          batch.put([0xff, 0xff], [], in: keyspace)
          try engine.write(batch)

          var deletes = WriteBatch()
          for i in stride(from: 0, to: 100, by: 3) { deletes.delete([tag, UInt8(i)], in: keyspace) }
          try engine.write(deletes)

          var entries = [Entry([], [0xee, tag])]
          for i in 0..<100 where i % 3 != 0 { entries.append(Entry([tag, UInt8(i)], [UInt8(i), tag])) }
          entries.append(Entry([0xff, 0xff], []))
          expected[keyspace] = entries
        }
      }  // the engine is closed here

      let reopened = try RocksDBEngine(path: path, syncWrites: syncWrites)
      for keyspace in Keyspace.allCases {
        let entries = try reopened.entries(in: keyspace)
        #expect(entries == expected[keyspace], "\(keyspace)")
        #expect(try reopened.get([UInt8(keyspace.rawValue), 1], in: keyspace) == [1, UInt8(keyspace.rawValue)])
        #expect(try reopened.get([UInt8(keyspace.rawValue), 3], in: keyspace) == nil)
      }
      // And it still takes writes.
      try reopened.put([7], [7], in: .catalog)
      #expect(try reopened.get([7], in: .catalog) == [7])
    }
  }

  @Test("opening a directory that is already open throws instead of crashing")
  func lockedDirectory() throws {
    try withTemporaryDirectory { path in
      do {
        let first = try RocksDBEngine(path: path)
        try first.put([1], [1], in: .online)

        let error = #expect(throws: StrataError.self) { try RocksDBEngine(path: path) }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains(path) == true, "\(String(describing: error))")
        #expect(error?.message.lowercased().contains("lock") == true, "\(String(describing: error))")

        // The first engine is unharmed.
        #expect(try first.get([1], in: .online) == [1])
      }
      // Once the first engine is gone the lock is released.
      let again = try RocksDBEngine(path: path)
      #expect(try again.get([1], in: .online) == [1])
    }
  }

  @Test("a path that cannot be a directory throws an internal error")
  func unusablePath() throws {
    try withTemporaryDirectory { path in
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
      let file = path + "/not-a-directory"
      #expect(FileManager.default.createFile(atPath: file, contents: Data([1])))
      let error = #expect(throws: StrataError.self) { try RocksDBEngine(path: file) }
      #expect(error?.code == .internalError)
      #expect(error?.message.contains(file) == true, "\(String(describing: error))")
    }
  }
}
