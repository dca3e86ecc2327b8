internal import CRocksDB
internal import Foundation
internal import StrataCore
public import StrataStorage

/// The durable `StorageEngine`: a RocksDB database with one column family per `Keyspace` (named
/// `keyspace.name`) next to the unused "default" one, accessed through RocksDB's C API.
///
/// Every write goes through the write-ahead log (never disabled); with `syncWrites` the log is also
/// fsynced before `write` returns, so a batch survives a machine crash and not only a process crash.
///
/// `@unchecked Sendable` is safe because:
/// - a RocksDB `DB` is documented thread-safe for concurrent `Get`, `MultiGet`, `Write` and iterator
///   creation without external locking, and column family handles may be shared across threads;
/// - the read/write option objects are only ever read after `init` (RocksDB takes them by const
///   reference and copies what it keeps);
/// - every stored property is a `let` set in `init` and only destroyed in `deinit`, when no other
///   reference (no cursor: cursors retain the engine) can exist any more.
public final class RocksDBEngine: StorageEngine, @unchecked Sendable {
  public let name = "rocksdb"
  /// Directory of the database.
  public let path: String

  private let options: RocksDBOptions
  private let db: OpaquePointer
  /// The "default" column family handle: unused, but opened (RocksDB requires it) and destroyed.
  private let defaultColumnFamily: OpaquePointer
  /// One handle per keyspace, indexed by `Keyspace.rawValue`.
  private let columnFamilies: [OpaquePointer]

  /// Opens (creating if missing) the database in directory `path`, adding the column family of any
  /// keyspace the directory does not have yet (a directory from before that keyspace existed).
  /// - Throws: `StrataError` `.unavailable` when the database is locked (already opened, by this or
  ///   another process), `.internalError` for any other failure (permissions, corruption...).
  public init(path: String, syncWrites: Bool = false) throws {
    self.path = path
    do {
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
      throw StrataError.internalError("cannot create the RocksDB directory \(path)", cause: error)
    }

    let options = RocksDBOptions(syncWrites: syncWrites)
    let (opened, handles) = try Self.open(path: path, options: options, columnFamilies: ["default"] + Keyspace.allCases.map(\.name))
    self.options = options
    self.db = opened
    self.defaultColumnFamily = handles[0]
    self.columnFamilies = Array(handles.dropFirst())
  }

  /// Opens the database in `path` with exactly the column families `names` (the first one "default"),
  /// creating the database and any family that does not exist yet (`create_missing_column_families`):
  /// this is how a directory written before a keyspace was added (`Keyspace.hints`) gains it. RocksDB
  /// refuses to open a database without naming every family it has, so an older binary cannot open a
  /// directory a newer one has opened.
  /// - Returns: the database and one handle per name, in `names` order.
  static func open(
    path: String, options: RocksDBOptions, columnFamilies names: [String]
  ) throws -> (OpaquePointer, [OpaquePointer]) {
    let cNames: [UnsafeMutablePointer<CChar>?] = names.map { strdup($0) }
    defer { cNames.forEach { free($0) } }
    let cNamesConst = cNames.map { UnsafePointer($0) }
    let cfOptions: [OpaquePointer?] = Array(repeating: options.options, count: names.count)
    var handles: [OpaquePointer?] = Array(repeating: nil, count: names.count)
    var error: UnsafeMutablePointer<CChar>?

    let opened = rocksdb_open_column_families(
      options.options, path, Int32(names.count), cNamesConst, cfOptions, &handles, &error)

    if let message = Self.takeMessage(error) {
      // RocksDB reports a held LOCK file as an I/O error about the lock ("While lock file: ...: Resource
      // temporarily unavailable", or "lock hold by current process" within one process).
      if message.lowercased().contains("lock") {
        throw StrataError(
          .unavailable,
          "cannot open the RocksDB database at \(path): it is locked: another strata process, or another engine in this one, has it open (\(message))")
      }
      throw StrataError.internalError("cannot open the RocksDB database at \(path): \(message)")
    }
    guard let opened, handles.allSatisfy({ $0 != nil }) else {
      throw StrataError.internalError("opening the RocksDB database at \(path) returned no handle")
    }
    return (opened, handles.map { $0! })
  }

  /// Creates (or opens) the database in `path` with exactly the column families `names` ("default"
  /// first) and closes it again, writing `puts` (family index in `names`, key, value) first. Tests use
  /// it to lay out a directory the way an earlier version did.
  static func createDatabase(at path: String, columnFamilies names: [String], puts: [(Int, [UInt8], [UInt8])]) throws {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    let options = RocksDBOptions(syncWrites: true)
    let (db, handles) = try open(path: path, options: options, columnFamilies: names)
    defer {
      for handle in handles { rocksdb_column_family_handle_destroy(handle) }
      rocksdb_close(db)
    }
    for (family, key, value) in puts {
      var error: UnsafeMutablePointer<CChar>?
      key.withUnsafeBytes { k in
        value.withUnsafeBytes { v in
          rocksdb_put_cf(
            db, options.writeOptions, handles[family],
            k.baseAddress?.assumingMemoryBound(to: CChar.self), k.count,
            v.baseAddress?.assumingMemoryBound(to: CChar.self), v.count, &error)
        }
      }
      if let failure = takeError(error, "writing to \(path)") { throw failure }
    }
  }

  deinit {
    // Column family handles must go before the database; the option objects (released after this
    // body) outlive both.
    for handle in columnFamilies { rocksdb_column_family_handle_destroy(handle) }
    rocksdb_column_family_handle_destroy(defaultColumnFamily)
    rocksdb_close(db)
  }

  public func get(_ key: [UInt8], in keyspace: Keyspace) throws -> [UInt8]? {
    var error: UnsafeMutablePointer<CChar>?
    // `rocksdb_get_pinned_cf` returns NULL exactly when the key is absent; `rocksdb_get_cf` returns a
    // `malloc(0)` buffer for an empty value, which is only non-NULL by the grace of the allocator.
    let slice = key.withUnsafeBytes { k in
      rocksdb_get_pinned_cf(
        db, options.readOptions, columnFamilies[keyspace.rawValue],
        k.baseAddress?.assumingMemoryBound(to: CChar.self), k.count, &error)
    }
    if let failure = Self.takeError(error, "reading \(keyspace.name) from \(path)") {
      if let slice { rocksdb_pinnableslice_destroy(slice) }
      throw failure
    }
    guard let slice else { return nil }
    defer { rocksdb_pinnableslice_destroy(slice) }
    return Self.copyValue(slice)
  }

  public func multiGet(_ keys: [[UInt8]], in keyspace: Keyspace) throws -> [[UInt8]?] {
    if keys.isEmpty { return [] }
    // All keys in one contiguous buffer so that every key pointer stays valid during the call.
    var offsets: [Int] = []
    offsets.reserveCapacity(keys.count)
    var packed: [UInt8] = []
    packed.reserveCapacity(keys.reduce(0) { $0 + $1.count })
    for key in keys {
      offsets.append(packed.count)
      packed.append(contentsOf: key)
    }
    let sizes = keys.map(\.count)
    var slices: [OpaquePointer?] = Array(repeating: nil, count: keys.count)
    var errors: [UnsafeMutablePointer<CChar>?] = Array(repeating: nil, count: keys.count)

    packed.withUnsafeBytes { buffer in
      let base = buffer.baseAddress?.assumingMemoryBound(to: CChar.self)
      let pointers: [UnsafePointer<CChar>?] = offsets.map { offset in base.map { UnsafePointer($0 + offset) } }
      // One batched MultiGet in this column family. A NULL slice with a NULL error means "not found".
      rocksdb_batched_multi_get_cf(
        db, options.readOptions, columnFamilies[keyspace.rawValue], keys.count,
        pointers, sizes, &slices, &errors, false)
    }
    defer { for slice in slices { if let slice { rocksdb_pinnableslice_destroy(slice) } } }

    var failure: StrataError?
    for error in errors {
      // Take (and free) every error, keep the first.
      let taken = Self.takeError(error, "reading \(keys.count) keys of \(keyspace.name) from \(path)")
      if failure == nil { failure = taken }
    }
    if let failure { throw failure }
    return slices.map { slice in slice.map(Self.copyValue) }
  }

  public func write(_ batch: WriteBatch) throws {
    if batch.isEmpty { return }
    let writeBatch = rocksdb_writebatch_create()
    defer { rocksdb_writebatch_destroy(writeBatch) }
    // put_cf/delete_cf copy key and value into the batch immediately.
    for operation in batch.operations {
      switch operation {
      case .put(let keyspace, let key, let value):
        key.withUnsafeBytes { k in
          value.withUnsafeBytes { v in
            rocksdb_writebatch_put_cf(
              writeBatch, columnFamilies[keyspace.rawValue],
              k.baseAddress?.assumingMemoryBound(to: CChar.self), k.count,
              v.baseAddress?.assumingMemoryBound(to: CChar.self), v.count)
          }
        }
      case .delete(let keyspace, let key):
        key.withUnsafeBytes { k in
          rocksdb_writebatch_delete_cf(
            writeBatch, columnFamilies[keyspace.rawValue],
            k.baseAddress?.assumingMemoryBound(to: CChar.self), k.count)
        }
      }
    }
    var error: UnsafeMutablePointer<CChar>?
    rocksdb_write(db, options.writeOptions, writeBatch, &error)
    if let failure = Self.takeError(error, "writing a batch of \(batch.count) operations to \(path)") {
      throw failure
    }
  }

  public func makeCursor(in keyspace: Keyspace) throws -> any StorageCursor {
    guard let iterator = rocksdb_create_iterator_cf(db, options.readOptions, columnFamilies[keyspace.rawValue]) else {
      throw StrataError.internalError("creating an iterator over \(keyspace.name) in \(path) failed")
    }
    return RocksDBCursor(engine: self, iterator: iterator)
  }

  public func makeCursors(in keyspaces: [Keyspace]) throws -> [any StorageCursor] {
    // NewIterators: one implicit snapshot for all the column families.
    var families: [OpaquePointer?] = keyspaces.map { columnFamilies[$0.rawValue] }
    var iterators = [OpaquePointer?](repeating: nil, count: keyspaces.count)
    var error: UnsafeMutablePointer<CChar>?
    rocksdb_create_iterators(db, options.readOptions, &families, &iterators, keyspaces.count, &error)
    if let failure = Self.takeError(error, "creating iterators over \(keyspaces.map(\.name)) in \(path)") {
      for case let iterator? in iterators { rocksdb_iter_destroy(iterator) }
      throw failure
    }
    return try iterators.map { iterator in
      guard let iterator else { throw StrataError.internalError("creating iterators in \(path) returned none") }
      return RocksDBCursor(engine: self, iterator: iterator)
    }
  }

  /// Copies the bytes of a pinnable slice (which the caller still owns).
  private static func copyValue(_ slice: OpaquePointer) -> [UInt8] {
    var length = 0
    let bytes = rocksdb_pinnableslice_value(slice, &length)
    return [UInt8](UnsafeRawBufferPointer(start: bytes, count: length))
  }

  /// Copies and frees a RocksDB `errptr` message; nil if there is none.
  static func takeMessage(_ error: UnsafeMutablePointer<CChar>?) -> String? {
    guard let error else { return nil }
    let message = String(cString: error)
    rocksdb_free(error)
    return message
  }

  /// Turns a RocksDB `errptr` result into a `StrataError` (`.internalError`) and frees it; nil if none.
  static func takeError(_ error: UnsafeMutablePointer<CChar>?, _ context: String) -> StrataError? {
    takeMessage(error).map { StrataError.internalError("RocksDB failed \(context): \($0)") }
  }
}
