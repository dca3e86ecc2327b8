internal import EtcdProto
internal import Foundation
internal import GRPCCore

extension EtcdClient {
  /// Reads the keys in `range`, as of `revision` (0: the latest). Linearizable: it reflects every write
  /// acknowledged before the call started.
  ///
  /// - Parameters:
  ///   - revision: Read the store as it was at this revision; `.compacted` if etcd no longer has it,
  ///     `.futureRevision` if it has not reached it.
  ///   - limit: At most this many keys, in key order (0: no limit); `more` says whether there were more.
  public func get(_ range: EtcdKeyRange, revision: Int64 = 0, limit: Int64 = 0) async throws(EtcdError)
    -> EtcdRangeResult
  {
    let request = Etcdserverpb_RangeRequest(range, revision: revision, limit: limit)
    return try await unary("get \(range)", retry: .always) { connection, options in
      EtcdRangeResult(wire: try await connection.kv.range(request, options: options))
    }
  }

  /// Reads one key as of `revision` (0: the latest); nil if it does not exist.
  public func get(_ key: String, revision: Int64 = 0) async throws(EtcdError) -> EtcdKeyValue? {
    try await get(.key(key), revision: revision).first
  }

  /// Sets `key` to `value`, attached to `lease` if given; returns the revision of the write.
  @discardableResult
  public func put(_ key: String, _ value: [UInt8], lease: Int64? = nil) async throws(EtcdError) -> Int64 {
    let request = Etcdserverpb_PutRequest(key: key, value: value, lease: lease)
    return try await unary("put '\(key)'", retry: .ifNotSent) { connection, options in
      try await connection.kv.put(request, options: options).header.revision
    }
  }

  /// `put` with a UTF-8 string value.
  @discardableResult
  public func put(_ key: String, _ value: String, lease: Int64? = nil) async throws(EtcdError) -> Int64 {
    try await put(key, Array(value.utf8), lease: lease)
  }

  /// Deletes every key in `range`; returns how many and the revision after the delete.
  @discardableResult
  public func delete(_ range: EtcdKeyRange) async throws(EtcdError) -> EtcdDeleteResult {
    let request = Etcdserverpb_DeleteRangeRequest(range)
    return try await unary("delete \(range)", retry: .ifNotSent) { connection, options in
      let response = try await connection.kv.deleteRange(request, options: options)
      return EtcdDeleteResult(revision: response.header.revision, deleted: response.deleted)
    }
  }

  /// Discards the history before `revision`: reads at and watches from older revisions then fail with
  /// `.compacted`. The current value of every key is kept.
  public func compact(revision: Int64) async throws(EtcdError) {
    var request = Etcdserverpb_CompactionRequest()
    request.revision = revision
    request.physical = true  // answer once the history is gone, not merely scheduled to go
    let _: Bool = try await unary("compact at revision \(revision)", retry: .ifNotSent) { connection, options in
      _ = try await connection.kv.compact(request, options: options)
      return true
    }
  }
}
