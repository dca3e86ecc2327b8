public import StrataCore

/// The freshness of one group version: its tier, its interval, its last write and the state these
/// give at one time (`FreshnessState`).
public struct GroupFreshness: Sendable, Equatable {
  public var group: String
  public var version: Int
  public var tier: FreshnessTier
  /// The declared refresh interval (an aggregate group without one: its stream's); nil = none.
  public var intervalSeconds: Int64?
  /// The last write this node (with `otherLastWrites`: any node) committed; for an aggregate group,
  /// its stream's. nil = never.
  public var lastWrite: Timestamp?
  public var state: FreshnessState

  /// `group@version`.
  public var qualifiedName: String { "\(group)@\(version)" }
}

extension FeatureStore {
  /// The freshness of every group version that is not RETIRED, ordered by name then version, at
  /// `now` (default: the store's clock). `otherLastWrites` (by `name@version`): last writes other
  /// nodes reported; the later of theirs and this node's counts.
  public func freshness(now: Timestamp? = nil, otherLastWrites: [String: Timestamp] = [:]) -> [GroupFreshness] {
    let catalog = self.catalog
    let stats = shard.writeStats
    let at = now ?? self.now
    func lastWrite(_ g: FeatureGroup) -> Timestamp? {
      let mine = stats[g.storageID]?.lastWrite
      let theirs = otherLastWrites[g.qualifiedName]
      switch (mine, theirs) {
      case (let a?, let b?): return max(a, b)
      default: return mine ?? theirs
      }
    }
    return catalog.allVersions.filter { $0.status != .retired }.map { g in
      var interval = g.spec.refreshIntervalSeconds
      var source = g
      if let (name, version) = g.spec.source.stream, let stream = try? catalog.group(named: name, version: version) {
        source = stream
        interval = interval ?? stream.spec.refreshIntervalSeconds
      }
      let last = lastWrite(source)
      return GroupFreshness(
        group: g.name, version: g.version, tier: FreshnessTier(refreshIntervalSeconds: interval, source: g.spec.source),
        intervalSeconds: interval, lastWrite: last,
        state: FreshnessState.of(lastWrite: last, registeredAt: g.createdAt, intervalSeconds: interval, now: at))
    }
  }
}

extension FeatureStore {
  /// Writes the dirty stream tiles that are due when no push comes to write them
  /// (`LocalShard.writeDueStreamTiles`), on the writer thread. Returns the tiles written.
  @discardableResult
  public func writeDueStreamTiles() async throws -> Int {
    let shard = self.shard
    return try await executor.write { try shard.writeDueStreamTiles() }
  }

  /// Applies every stream's retention at `now` (default: the store's clock): deletes the events older
  /// than `LocalShard.retentionCutoff`, with their tiles (`LocalShard.expireEvents`), on the bulk
  /// threads. Returns the events deleted per stream version (`name@version`) that lost any.
  public func expireStreamEvents(now: Timestamp? = nil) async throws -> [String: Int] {
    let at = now ?? self.now
    let streams = catalog.allVersions.filter { $0.spec.source == .events && $0.spec.retentionSeconds != nil }
    guard !streams.isEmpty else { return [:] }
    let shard = self.shard
    return try await BackgroundThreads.shared.run {
      var out: [String: Int] = [:]
      for stream in streams {
        let cutoff = LocalShard.retentionCutoff(now: at, retentionSeconds: stream.spec.retentionSeconds!)
        let deleted = try shard.expireEvents(of: stream, before: cutoff)
        if deleted > 0 { out[stream.qualifiedName] = deleted }
      }
      return out
    }
  }
}
