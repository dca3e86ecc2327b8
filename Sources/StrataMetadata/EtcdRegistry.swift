public import StrataEtcd
public import StrataCore
public import StrataStorage
internal import Foundation
public import Logging
internal import Synchronization
public import StrataCluster

/// The feature registry of a cluster whose metadata is in etcd: every group version is a key under
/// `MetadataKeys.registry`, every change one etcd transaction, and every node follows the keys with a
/// watch into its own `RegistryStore`.
///
/// - **Changes** (`apply`, `setStatus`) through any node: read the registry and its head key, compute
///   the change with `Catalog` (the same rules as a single node), then one transaction that writes the
///   new or changed versions and the head, on condition that the head did not move since the read
///   (so two concurrent applies never both assign a version number; the loser recomputes). No node
///   is a leader, and nothing is pushed between nodes.
/// - **Visibility:** each node records the revision it serves under `applied/<node>` (kept under its
///   lease). A change returns only when every node that holds a lease has applied its revision
///   (bounded by `ackTimeout`); a node without a lease (stopped, or cut off from etcd) loads the
///   registry from etcd before it serves again.
/// - **etcd down:** the node keeps serving with the registry it has; changes fail UNAVAILABLE.
public final class EtcdRegistry: ClusterRegistry {
  let etcd: EtcdClient
  let keys: MetadataKeys
  let store: FeatureStore
  let nodeID: String
  /// The nodes a change waits for (`waitForNodes`); moved by membership changes (`setMembers`).
  private let memberList: Mutex<[String]>
  var members: [String] { memberList.withLock { $0 } }
  let logger: Logger
  /// How long a change waits for every live node to apply it.
  public let ackTimeout: Duration
  /// How long a change waits for a member that holds no lease (see `waitForNodes`).
  static let leaseGrace: Duration = .seconds(3)
  private let appliedRevision = Mutex<Int64>(0)
  /// Where `follow` resumes its watch.
  private let nextRevision = Mutex<Int64>(1)

  public init(
    etcd: EtcdClient, keys: MetadataKeys, store: FeatureStore, nodeID: String, members: [String], logger: Logger,
    ackTimeout: Duration = .seconds(10)
  ) {
    self.etcd = etcd
    self.keys = keys
    self.store = store
    self.nodeID = nodeID
    self.memberList = Mutex(members)
    self.logger = logger
    self.ackTimeout = ackTimeout
  }

  var head: String { keys.prefix + "registry-head" }

  /// The nodes of the cluster now (after a membership change).
  public func setMembers(_ members: [String]) {
    memberList.withLock { $0 = members }
  }

  /// The revision of etcd's registry this node serves.
  public var revision: Int64 { appliedRevision.withLock { $0 } }

  /// When etcd holds no registry yet and this node's store has one (a single node's data directory
  /// that becomes the first node of a cluster), writes the store's versions to etcd as they are
  /// (numbers, statuses and storage ids), in one transaction on condition that the registry is still
  /// empty. Returns whether it did.
  @discardableResult
  public func seedFromStoreIfEmpty() async throws -> Bool {
    let entries = store.catalog.entries
    guard !entries.isEmpty else { return false }
    var operations: [EtcdOperation] = try entries.map {
      .put(key: keys.registry(entry: $0), value: try RegistryStore.encodeEntry($0))
    }
    operations.append(.put(head, "\(entries.count)"))
    let result: EtcdTransactionResult
    do {
      let empty = try await etcd.get(.prefix(keys.registry), limit: 1)
      guard empty.keyValues.isEmpty else { return false }
      result = try await etcd.transaction(if: [.missing(head)], then: operations)
    } catch {
      throw StrataError.unavailable("etcd did not answer seeding the registry from this node's data: \(error)")
    }
    if result.succeeded {
      logger.info("seeded the cluster's registry from this node's data", metadata: ["strata.entries": "\(entries.count)"])
    }
    return result.succeeded
  }

  /// Loads every version from etcd into the store (before the node serves). Returns the revision read.
  @discardableResult
  public func load() async throws -> Int64 {
    let (entries, revision) = try await read()
    _ = try await store.adoptRegistry(entries: entries, generation: UInt64(max(0, revision)), onlyIfNewer: false)
    appliedRevision.withLock { $0 = max($0, revision) }
    return revision
  }

  /// Every entry in etcd, and the revision of the read.
  func read() async throws -> ([RegistryEntry], Int64) {
    let result: EtcdRangeResult
    do {
      result = try await etcd.get(.prefix(keys.registry))
    } catch {
      throw StrataError.unavailable("etcd did not answer reading the registry: \(error)")
    }
    let entries = try result.keyValues.map { try RegistryStore.decodeEntry($0.value) }
    return (entries, result.revision)
  }

  /// Follows the registry from `revision + 1` into the store and publishes this node's applied
  /// revision under a lease, until cancelled. Reconnects by itself while etcd is away.
  public func follow(from revision: Int64) async {
    nextRevision.withLock { $0 = revision + 1 }
    while !Task.isCancelled {
      do {
        try await etcd.withLease(ttl: .seconds(5)) { lease in
          try await self.publish(lease: lease.id)
          // The versions and the head key: a change's transaction writes its versions, then the head,
          // so the head's event says the whole change is in.
          try await self.etcd.watch(.prefix(self.keys.prefix + "registry"), fromRevision: self.nextRevision.withLock { $0 }) { events in
            for try await event in events {
              if event.keyValue.key == self.head {
                self.appliedRevision.withLock { $0 = max($0, event.revision) }
                self.nextRevision.withLock { $0 = event.revision + 1 }
                try await self.publish(lease: lease.id)
              } else if event.kind == .put {
                let entry = try RegistryStore.decodeEntry(event.keyValue.value)
                _ = try await self.store.adoptRegistry(entries: [entry], generation: UInt64(event.revision), onlyIfNewer: false)
              }
            }
          }
        }
      } catch is CancellationError {
        return
      } catch {
        if Task.isCancelled { return }
        logger.warning("following the registry in etcd failed; retrying", metadata: ["error": "\(error)"])
        // Catch up by a fresh read (the watch may have missed compacted history).
        if let loaded = try? await load() { self.nextRevision.withLock { $0 = loaded + 1 } }
        try? await Task.sleep(for: .seconds(1))
      }
    }
  }

  private func publish(lease: Int64) async throws {
    _ = try await etcd.put(keys.applied(node: nodeID), String(revision), lease: lease)
  }

  /// Reads the registry, computes with `body` on the catalog read, writes every entry it added or
  /// changed (`Catalog.changes(since:)`) on condition that the registry did not change meanwhile
  /// (retried up to 10 times), then waits for every live node. When `body` changes nothing, nothing is
  /// written and nobody is waited for.
  public func change<Result: Sendable>(_ body: (inout Catalog) throws(StrataError) -> Result) async throws -> Result {
    for _ in 0..<10 {
      let headRevision: Int64
      let entries: [RegistryEntry]
      do {
        let snapshot = try await etcd.transaction(if: [], then: [.get(.key(head)), .get(.prefix(keys.registry))])
        guard case .get(let h) = snapshot.responses[0], case .get(let all) = snapshot.responses[1] else {
          throw StrataError.internalError("etcd answered a registry read with the wrong response kinds")
        }
        headRevision = h.first?.modRevision ?? 0
        entries = try all.keyValues.map { try RegistryStore.decodeEntry($0.value) }
      } catch let error as StrataError {
        throw error
      } catch {
        throw StrataError.unavailable("etcd did not answer reading the registry (registry changes need etcd): \(error)")
      }
      let before = Catalog(entries: entries)
      var catalog = before
      let result = try body(&catalog)
      let changed = catalog.changes(since: before)
      guard !changed.isEmpty else { return result }
      var puts: [(key: String, value: [UInt8])] = try changed.map {
        (keys.registry(entry: $0), try RegistryStore.encodeEntry($0))
      }
      puts.append((head, Array("\(changed.count)".utf8)))
      let committed: ConditionalPutResult
      do {
        // A lost answer is settled by reading the entries back: a change applied is never retried
        // (it would register a model twice) nor reported as failed.
        committed = try await etcd.conditionalPut(puts, ifRevision: headRevision, of: head)
      } catch {
        throw StrataError.unavailable(
          "etcd did not answer the registry change, nor reading it back (it may or may not have been applied): \(error)")
      }
      guard committed.succeeded else { continue }
      try await waitForNodes(committed.revision)
      return result
    }
    throw StrataError.unavailable("the registry changed under this change 10 times in a row; try again")
  }

  /// Waits until this node and every node holding a lease serve `revision`. A member without a lease
  /// is waited for up to `leaseGrace` too: a node whose lease expired while etcd was paused publishes
  /// again within about a second of etcd's return; one that is down is then given up on.
  func waitForNodes(_ revision: Int64) async throws {
    let start = ContinuousClock.now
    let deadline = start + ackTimeout
    while true {
      var behind: [String] = []
      if self.revision < revision { behind.append(nodeID) }
      if let applied = try? await etcd.get(.prefix(keys.applied)) {
        var leased: Set<String> = []
        for kv in applied.keyValues {
          let node = String(kv.key.dropFirst(keys.applied.count))
          leased.insert(node)
          if node != nodeID, (Int64(kv.valueString) ?? 0) < revision { behind.append(node) }
        }
        if ContinuousClock.now - start < Self.leaseGrace {
          let members = self.members
          behind += members.filter { $0 != nodeID && !leased.contains($0) }
        }
      } else {
        behind.append("(etcd did not answer)")
      }
      if behind.isEmpty { return }
      guard ContinuousClock.now < deadline else {
        throw StrataError.unavailable(
          "the registry change is committed (etcd revision \(revision)), but \(behind.sorted().joined(separator: ", ")) did not apply it within \(ackTimeout); they serve it as soon as they do")
      }
      try await Task.sleep(for: .milliseconds(20))
    }
  }
}
