internal import CRocksDB
internal import StrataCore
internal import StrataStorage

/// A `StorageCursor` over a RocksDB iterator. The iterator reads the implicit snapshot RocksDB takes
/// when it is created, so writes made after `makeCursor` are not visible through it.
///
/// Holds a strong reference to its engine: the database (and its column family handles) must outlive
/// the iterator. Not thread-safe, like every `StorageCursor`.
final class RocksDBCursor: StorageCursor {
  private let engine: RocksDBEngine
  private let iterator: OpaquePointer

  init(engine: RocksDBEngine, iterator: OpaquePointer) {
    self.engine = engine
    self.iterator = iterator
  }

  deinit {
    rocksdb_iter_destroy(iterator)
  }

  func seek(_ key: [UInt8]) {
    key.withUnsafeBytes { k in
      rocksdb_iter_seek(iterator, k.baseAddress?.assumingMemoryBound(to: CChar.self), k.count)
    }
  }

  func seekForPrev(_ key: [UInt8]) {
    key.withUnsafeBytes { k in
      rocksdb_iter_seek_for_prev(iterator, k.baseAddress?.assumingMemoryBound(to: CChar.self), k.count)
    }
  }

  func next() {
    if isValid { rocksdb_iter_next(iterator) }
  }

  func prev() {
    if isValid { rocksdb_iter_prev(iterator) }
  }

  var isValid: Bool { rocksdb_iter_valid(iterator) != 0 }

  var key: [UInt8] {
    // RocksDB asserts (or, built without assertions, reads garbage) on an invalid iterator.
    precondition(isValid, "RocksDBCursor.key read while the cursor is not valid")
    var length = 0
    let bytes = rocksdb_iter_key(iterator, &length)
    return [UInt8](UnsafeRawBufferPointer(start: bytes, count: length))
  }

  func withKey<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    precondition(isValid, "RocksDBCursor.withKey while the cursor is not valid")
    var length = 0
    let bytes = rocksdb_iter_key(iterator, &length)
    return try body(UnsafeRawBufferPointer(start: bytes, count: length))
  }

  func withValue<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    precondition(isValid, "RocksDBCursor.withValue while the cursor is not valid")
    var length = 0
    let bytes = rocksdb_iter_value(iterator, &length)
    return try body(UnsafeRawBufferPointer(start: bytes, count: length))
  }

  var value: [UInt8] {
    precondition(isValid, "RocksDBCursor.value read while the cursor is not valid")
    var length = 0
    let bytes = rocksdb_iter_value(iterator, &length)
    return [UInt8](UnsafeRawBufferPointer(start: bytes, count: length))
  }

  func checkStatus() throws {
    if let failure { throw failure }
  }

  /// The error that made the iterator invalid (an I/O error or corruption), or nil when it is invalid
  /// only because it ran off either end.
  var failure: StrataError? {
    var error: UnsafeMutablePointer<CChar>?
    rocksdb_iter_get_error(iterator, &error)
    return RocksDBEngine.takeError(error, "iterating")
  }
}
