internal import CRocksDB

/// The RocksDB option objects a `RocksDBEngine` opens its database with and reads/writes through.
/// Owns every handle it creates and destroys them in `deinit`; the engine keeps it alive until after
/// the database itself is closed.
///
/// Ownership notes on the C API:
/// - `rocksdb_block_based_options_set_filter_policy` takes ownership of the filter policy (it is
///   wrapped in a `shared_ptr` inside the table options), so the policy is never destroyed here.
/// - `rocksdb_block_based_options_set_block_cache` and `rocksdb_options_set_block_based_table_factory`
///   copy `shared_ptr`s / the table options, so destroying our handles later is safe.
final class RocksDBOptions {
  /// Capacity of the LRU block cache shared by all column families (filled on demand, never
  /// allocated up front). Online lookups of row groups never read RocksDB (`OnlineTable`), but those
  /// of stream aggregates read stream tiles and events on every request, and the storage join and
  /// image builds read history: a cache that holds their working set saves decompressing a block per
  /// read.
  static let blockCacheBytes = 512 << 20
  /// Memtable size per column family (RocksDB's default is 64 MiB): with two memtables per family at
  /// most, this bounds the write buffers at about 3 x 2 x 32 MiB.
  static let writeBufferBytes = 32 << 20
  /// Data block size: one entity's history for a group version is typically a few kB.
  static let blockSize = 16 << 10
  /// Bloom filter bits per key: ~1% false positives.
  static let bloomBitsPerKey = 10.0
  /// Share of each memtable's size given to its whole-key bloom filter.
  static let memtableBloomRatio = 0.02
  /// Background flush/compaction threads (two cores here).
  static let parallelism: Int32 = 2

  /// DB and column family options (the same object is used for every column family).
  let options: OpaquePointer
  let tableOptions: OpaquePointer
  let blockCache: OpaquePointer
  let writeOptions: OpaquePointer
  /// Default read options: an iterator created with them reads an implicit snapshot taken at creation.
  let readOptions: OpaquePointer

  /// A handle on RocksDB's default environment (the one every engine of the process uses). Never
  /// destroyed: destroying the handle of the default environment would not free anything anyway.
  nonisolated(unsafe) static let defaultEnv: OpaquePointer = rocksdb_create_default_env()

  init(syncWrites: Bool) {
    blockCache = rocksdb_cache_create_lru(RocksDBOptions.blockCacheBytes)
    tableOptions = rocksdb_block_based_options_create()
    rocksdb_block_based_options_set_block_cache(tableOptions, blockCache)
    rocksdb_block_based_options_set_block_size(tableOptions, RocksDBOptions.blockSize)
    // Ownership of the policy moves into the table options.
    rocksdb_block_based_options_set_filter_policy(
      tableOptions, rocksdb_filterpolicy_create_bloom(RocksDBOptions.bloomBitsPerKey))

    options = rocksdb_options_create()
    rocksdb_options_set_create_if_missing(options, 1)
    rocksdb_options_set_create_missing_column_families(options, 1)
    rocksdb_options_increase_parallelism(options, RocksDBOptions.parallelism)
    // Compactions (the low-priority pool of the process-wide default environment) run at the lowest CPU
    // priority, so they take the CPU only when online lookups leave it idle. Flushes (high-priority
    // pool) keep theirs, so writes do not stall behind a memtable that cannot be flushed.
    rocksdb_env_lower_thread_pool_cpu_priority(RocksDBOptions.defaultEnv)
    rocksdb_options_set_compression(options, Int32(rocksdb_lz4_compression))
    rocksdb_options_set_write_buffer_size(options, RocksDBOptions.writeBufferBytes)
    rocksdb_options_set_block_based_table_factory(options, tableOptions)
    // A bloom filter over each memtable's whole keys (2 % of its size, 640 KiB for 32 MiB): a
    // write that stores copies of rows older than the online row looks their keys up (`LocalShard`'s
    // exact row count), and most are absent; without it every absent key is a skip-list search.
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(options, RocksDBOptions.memtableBloomRatio)
    rocksdb_options_set_memtable_whole_key_filtering(options, 1)

    writeOptions = rocksdb_writeoptions_create()
    rocksdb_writeoptions_set_sync(writeOptions, syncWrites ? 1 : 0)
    // The WAL stays enabled (the default): a write that returns is in the log.

    readOptions = rocksdb_readoptions_create()
  }

  deinit {
    rocksdb_readoptions_destroy(readOptions)
    rocksdb_writeoptions_destroy(writeOptions)
    rocksdb_options_destroy(options)
    rocksdb_block_based_options_destroy(tableOptions)
    rocksdb_cache_destroy(blockCache)
  }
}
