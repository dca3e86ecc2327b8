internal import StrataEtcd
internal import Foundation
internal import Synchronization
public import Logging

/// Follows a cluster's layout in etcd: every new version of the layout key is handed to `apply` (in
/// order, one at a time), and once `apply` returned the node publishes the layout's revision under
/// `layout-applied/<node>` with its lease, so the node driving a membership change knows which nodes
/// route by which layout. Reconnects by itself while etcd is away (a fresh read then catches up).
public struct EtcdLayoutFollower: Sendable {
  let etcd: any MetadataStore
  let keys: MetadataKeys
  let nodeID: String
  let logger: Logger
  /// Paces the retries after a failure.
  let clock: any Clock<Duration>

  public init(
    etcd: any MetadataStore, keys: MetadataKeys, nodeID: String, logger: Logger, clock: any Clock<Duration> = ContinuousClock()
  ) {
    self.etcd = etcd
    self.keys = keys
    self.nodeID = nodeID
    self.logger = logger
    self.clock = clock
  }

  /// Follows from `revision` (the revision of the layout the node started with, already applied)
  /// until cancelled.
  public func follow(from revision: Int64, apply: @escaping @Sendable (ClusterLayout, Int64) async -> Void) async {
    let appliedRevision = RevisionCell(revision)
    while !Task.isCancelled {
      do {
        try await etcd.withLease(ttl: .seconds(5)) { lease in
          // Catch up with a fresh read (the watch may have missed compacted history), then watch.
          if let kv = try await self.etcd.get(self.keys.layout), kv.modRevision > appliedRevision.withLock({ $0 }) {
            await apply(try Self.decode(kv.value, key: self.keys.layout), kv.modRevision)
            appliedRevision.withLock { $0 = kv.modRevision }
          }
          let start = appliedRevision.withLock { $0 }
          _ = try await self.etcd.put(self.keys.layoutApplied(node: self.nodeID), String(start), lease: lease.id)
          try await self.etcd.watch(.key(self.keys.layout), fromRevision: start + 1) { events in
            for try await event in events where event.kind == .put && event.revision > appliedRevision.withLock({ $0 }) {
              await apply(try Self.decode(event.keyValue.value, key: self.keys.layout), event.revision)
              appliedRevision.withLock { $0 = event.revision }
              _ = try await self.etcd.put(self.keys.layoutApplied(node: self.nodeID), String(event.revision), lease: lease.id)
            }
          }
        }
      } catch is CancellationError {
        return
      } catch {
        if Task.isCancelled { return }
        logger.warning("following the cluster layout in etcd failed; retrying", metadata: ["error": "\(error)"])
        try? await clock.sleep(for: .seconds(1))
      }
    }
  }

  static func decode(_ bytes: [UInt8], key: String) throws -> ClusterLayout {
    do {
      return try JSONDecoder().decode(ClusterLayout.self, from: Data(bytes))
    } catch {
      throw MetadataDecodingError(key: key, underlying: error)
    }
  }
}

struct MetadataDecodingError: Error, CustomStringConvertible {
  let key: String
  let underlying: any Error
  var description: String { "the value at \(key) does not decode: \(underlying)" }
}

/// A revision shared by the tasks of a follower.
final class RevisionCell: Sendable {
  private let value: Mutex<Int64>
  init(_ revision: Int64) { value = Mutex(revision) }
  func withLock<T>(_ body: (inout Int64) -> T) -> T { value.withLock { body(&$0) } }
}
