/// Lifecycle status of one registered group version.
public enum GroupStatus: String, Hashable, Sendable {
  /// Readable, writable, and chosen by unpinned references when it is the newest ACTIVE version.
  case active = "ACTIVE"
  /// Readable and writable when pinned, never chosen by unpinned references.
  case deprecated = "DEPRECATED"
  /// Kept for history only: reads and writes are refused (FAILED_PRECONDITION).
  case retired = "RETIRED"
}

/// One registered version of a feature group.
public struct FeatureGroup: Hashable, Sendable {
  public var spec: FeatureGroupSpec
  /// 1, 2, 3, ... per group name, in registration order.
  public var version: Int
  public var status: GroupStatus
  public var createdAt: Timestamp
  /// Node-independent storage id of this group version, assigned by the catalog (1, 2, 3, ... across all
  /// groups, in registration order). Storage keys carry this id instead of the name.
  public var storageID: UInt32
  /// Every change of `status` since the version was registered, oldest first (`Catalog.setStatus`).
  public var statusChanges: [StatusChange]

  public init(
    spec: FeatureGroupSpec, version: Int, status: GroupStatus, createdAt: Timestamp, storageID: UInt32,
    statusChanges: [StatusChange] = []
  ) {
    self.spec = spec
    self.version = version
    self.status = status
    self.createdAt = createdAt
    self.storageID = storageID
    self.statusChanges = statusChanges
  }

  public var name: String { spec.name }

  /// `name@version`.
  public var qualifiedName: String { "\(spec.name)@\(version)" }

  /// Max age in microseconds, `nil` when values never expire.
  public var maxAgeMicros: Int64? {
    spec.maxAgeSeconds.map { $0.multipliedReportingOverflow(by: 1_000_000).overflow ? .max : $0 * 1_000_000 }
  }

  public func featureIndex(named name: String) -> Int? {
    spec.features.firstIndex { $0.name == name }
  }
}
