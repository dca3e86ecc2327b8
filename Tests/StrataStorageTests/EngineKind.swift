import Foundation
import StrataRocksDB
import StrataStorage
import Synchronization
import Testing

/// The storage engines the conformance suite runs against. Every `@Test(arguments: EngineKind.allCases)`
/// runs once per engine, on a fresh, empty store.
enum EngineKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
  case memory
  case rocksdb

  var testDescription: String { rawValue }

  /// Runs `body` with a fresh engine of this kind. A RocksDB engine lives in a new temporary directory
  /// that is removed after the engine is dropped. `body` must not let the engine (or a cursor) escape.
  func withEngine<T>(_ body: (any StorageEngine) throws -> T) throws -> T {
    try withTemporaryDirectory { path in try body(open(at: path)) }
  }

  /// A new engine of this kind; `path` is the RocksDB directory (ignored in memory).
  func open(at path: String) throws -> any StorageEngine {
    switch self {
    case .memory: InMemoryEngine()
    case .rocksdb: try RocksDBEngine(path: path)
    }
  }
}

/// Runs `body` with the path of a directory that does not exist yet (so the engine has to create it)
/// under the system temporary directory, and removes that directory afterwards.
func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
  let url = FileManager.default.temporaryDirectory
    .appendingPathComponent("strata-storage-tests-\(UUID().uuidString)", isDirectory: true)
  defer { try? FileManager.default.removeItem(at: url) }
  return try body(url.path)
}

/// Every entry from the first key >= `start` to the end, in cursor order.
func scan(_ cursor: any StorageCursor, from start: [UInt8] = []) -> [Entry] {
  var entries: [Entry] = []
  cursor.seek(start)
  while cursor.isValid {
    entries.append(Entry(cursor.key, cursor.value))
    cursor.next()
  }
  return entries
}

/// A key/value pair, `Equatable` so that scans compare with `#expect(a == b)`.
struct Entry: Equatable, CustomStringConvertible {
  var key: [UInt8]
  var value: [UInt8]

  init(_ key: [UInt8], _ value: [UInt8]) {
    self.key = key
    self.value = value
  }

  var description: String { "\(key)=\(value)" }
}

extension StorageEngine {
  func put(_ key: [UInt8], _ value: [UInt8], in keyspace: Keyspace) throws {
    var batch = WriteBatch()
    batch.put(key, value, in: keyspace)
    try write(batch)
  }

  func delete(_ key: [UInt8], in keyspace: Keyspace) throws {
    var batch = WriteBatch()
    batch.delete(key, in: keyspace)
    try write(batch)
  }

  /// Every entry of `keyspace`, through a new cursor.
  func entries(in keyspace: Keyspace) throws -> [Entry] {
    scan(try makeCursor(in: keyspace))
  }
}

/// Failure messages collected from several threads.
final class Failures: Sendable {
  private let messages = Mutex<[String]>([])

  func record(_ message: String) { messages.withLock { $0.append(message) } }

  var all: [String] { messages.withLock { $0 } }
}
