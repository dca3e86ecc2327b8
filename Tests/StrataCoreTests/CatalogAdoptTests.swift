import StrataTestSupport
import Testing

@testable import StrataCore

private let t0 = Timestamp.seconds(1_700_000_000)
private let t1 = Timestamp.seconds(1_700_000_100)
private let t2 = Timestamp.seconds(1_700_000_200)

private func spec(_ name: String, _ features: [String] = ["score"], owner: String = "") -> FeatureGroupSpec {
  FeatureGroupSpec(name: name, owner: owner, features: features.map { FeatureSpec(name: $0, dtype: .float) })
}

/// A version as another node (the registry leader) sends it: its storage id is the leader's and means
/// nothing here.
private func remote(
  _ spec: FeatureGroupSpec, _ version: Int, _ status: GroupStatus = .active, createdAt: Timestamp = t0,
  storageID: UInt32 = 900
) -> FeatureGroup {
  FeatureGroup(spec: spec, version: version, status: status, createdAt: createdAt, storageID: storageID)
}

/// Everything adoption must carry over, i.e. a version without its (node-local) storage id.
private struct Adopted: Hashable, CustomStringConvertible {
  var spec: FeatureGroupSpec
  var version: Int
  var status: GroupStatus
  var createdAt: Timestamp

  init(_ g: FeatureGroup) {
    spec = g.spec
    version = g.version
    status = g.status
    createdAt = g.createdAt
  }

  var description: String { "\(spec.name)@\(version) \(status.rawValue) \(createdAt)" }
}

@Suite("Catalog.adopt: cluster registry sync")
struct CatalogAdoptTests {
  /// The leader's registry after a typical history: a@1, a@2 (a changed), a@1 deprecated, b@1.
  private func leaderCatalog() throws -> Catalog {
    var leader = Catalog()
    _ = try leader.apply([spec("a"), spec("b", ["x", "y"])], now: t0)
    _ = try leader.apply([spec("a", ["score", "clicks"])], now: t1)
    _ = try leader.setStatus(.deprecated, group: "a", version: 1)
    return leader
  }

  @Test("adopting into an empty catalog takes versions, specs, statuses and creation times as given")
  func intoEmpty() throws {
    let leader = try leaderCatalog()
    // Any order, and storage ids that are not the leader's either: none of them may be used.
    let snapshot = leader.allVersions.reversed().enumerated().map { i, g in
      var g = g
      g.storageID = 500 + UInt32(i) * 7
      return g
    }
    var follower = Catalog()
    let changed = try follower.adopt(snapshot)

    #expect(follower.allVersions.map(Adopted.init) == leader.allVersions.map(Adopted.init))
    #expect(follower.allVersions.map(\.qualifiedName) == ["a@1", "a@2", "b@1"])
    #expect(follower.groups["a"]?.map(\.status) == [.deprecated, .active])
    #expect(follower.groups["a"]?.map(\.createdAt) == [t0, t1])
    // Local storage ids, assigned in (name, version) order from this catalog's own counter.
    #expect(follower.allVersions.map(\.storageID) == [1, 2, 3])
    #expect(follower.nextStorageID == 4)
    // Every version is reported as changed (to persist), exactly as it is now stored.
    #expect(Set(changed) == Set(follower.allVersions))
    #expect(changed.count == 3)
    // Resolution works on adopted versions like on applied ones.
    #expect(try follower.group(named: "a").qualifiedName == "a@2")
    #expect(try follower.resolve([FeatureRef(parsing: "a@1:score")]).first?.group.storageID == 1)
    // The catalog rebuilt from the persisted versions (what a restart does) is the same catalog.
    #expect(Catalog(versions: follower.allVersions) == follower)
  }

  @Test("adopting the same snapshot again changes nothing and reports nothing")
  func idempotent() throws {
    let snapshot = try leaderCatalog().allVersions
    var follower = Catalog()
    _ = try follower.adopt(snapshot)
    let before = follower
    #expect(try follower.adopt(snapshot).isEmpty)
    #expect(follower == before)
    #expect(try follower.adopt(snapshot.shuffled()).isEmpty)
    #expect(try follower.adopt([]).isEmpty)
    #expect(try follower.adopt([snapshot[1]]).isEmpty, "a partial snapshot of known versions changes nothing")
    #expect(follower == before)
  }

  @Test("a changed status or creation time updates the version in place and keeps its local storage id")
  func statusAndCreatedAt() throws {
    var follower = Catalog()
    _ = try follower.adopt([remote(spec("a"), 1), remote(spec("a", ["y"]), 2, createdAt: t1), remote(spec("b"), 1)])
    let before = follower

    // a@1 retired on the leader; a@2's creation time differs; b@1 unchanged.
    let changed = try follower.adopt([
      remote(spec("a"), 1, .retired, storageID: 77), remote(spec("a", ["y"]), 2, createdAt: t2, storageID: 78),
      remote(spec("b"), 1, storageID: 79),
    ])
    #expect(changed.map(\.qualifiedName) == ["a@1", "a@2"])
    #expect(changed.map(\.storageID) == [1, 2], "storage ids stay this node's")
    #expect(follower.groups["a"]?[0].status == .retired)
    #expect(follower.groups["a"]?[0].createdAt == t0)
    #expect(follower.groups["a"]?[1].status == .active)
    #expect(follower.groups["a"]?[1].createdAt == t2)
    #expect(follower.groups["b"] == before.groups["b"])
    #expect(follower.nextStorageID == before.nextStorageID, "no new storage id for an updated version")
    #expect(Set(changed) == Set(follower.groups["a"]!))

    // Status back to ACTIVE (undo) is adopted as well.
    let undone = try follower.adopt([remote(spec("a"), 1, .active)])
    #expect(undone.map(\.status) == [.active])
    #expect(try follower.group(named: "a", version: 1).status == .active)
  }

  @Test("storage ids are this node's: new versions get the next local id whatever the snapshot carries")
  func localStorageIDs() throws {
    var follower = Catalog()
    // This node already holds a version registered locally (storage id 1), e.g. before it joined.
    _ = try follower.apply([spec("z")], now: t0)
    // The snapshot's ids collide with the local one and with each other.
    let changed = try follower.adopt([remote(spec("b"), 1, storageID: 1), remote(spec("a"), 1, storageID: 1)])
    #expect(changed.map(\.qualifiedName) == ["a@1", "b@1"])
    #expect(changed.map(\.storageID) == [2, 3])
    #expect(follower.groups["z"]?.first?.storageID == 1)
    #expect(follower.nextStorageID == 4)
    let ids = follower.allVersions.map(\.storageID)
    #expect(Set(ids).count == ids.count, "no two versions share a storage id: \(ids)")
    #expect(follower.group(storageID: 1)?.qualifiedName == "z@1")
    #expect(follower.group(storageID: 2)?.qualifiedName == "a@1")

    // A later local apply continues after the adopted ids.
    let next = try follower.apply([spec("c")], now: t1).registered
    #expect(next.map(\.storageID) == [4])
  }

  @Test("a snapshot that would leave a gap in a group's versions is FAILED_PRECONDITION and changes nothing")
  func gap() throws {
    var empty = Catalog()
    expectStrataError(.failedPrecondition, mentioning: ["'a'", "skips versions", "this node has 0", "starts at 2"]) {
      () throws(StrataError) in try empty.adopt([remote(spec("a"), 2)])
    }
    #expect(empty == Catalog())

    var follower = Catalog()
    _ = try follower.adopt([remote(spec("a"), 1), remote(spec("b"), 1)])
    let before = follower
    expectStrataError(.failedPrecondition, mentioning: ["'a'", "this node has 1", "starts at 3"]) {
      () throws(StrataError) in try follower.adopt([remote(spec("a", ["v3"]), 3)])
    }
    #expect(follower == before)

    // All or nothing: a@2 and a status change of b@1 would be fine, c@2 is not; none of it is taken.
    expectStrataError(.failedPrecondition, mentioning: ["'c'"]) { () throws(StrataError) in
      try follower.adopt([remote(spec("c", ["q"]), 2), remote(spec("a", ["v2"]), 2), remote(spec("b"), 1, .retired)])
    }
    #expect(follower == before)
    #expect(follower.nextStorageID == 3)
  }

  @Test("a version number holding another spec here is a diverged registry: FAILED_PRECONDITION, nothing changes")
  func diverged() throws {
    var follower = Catalog()
    _ = try follower.adopt([remote(spec("a"), 1), remote(spec("b"), 1)])
    let before = follower

    expectStrataError(.failedPrecondition, mentioning: ["diverged", "b@1"]) { () throws(StrataError) in
      try follower.adopt([remote(spec("b", ["other"]), 1)])
    }
    #expect(follower == before)

    // Any difference in the spec counts, not only the features.
    expectStrataError(.failedPrecondition, mentioning: ["diverged", "a@1"]) { () throws(StrataError) in
      try follower.adopt([remote(spec("a", owner: "someone-else"), 1)])
    }
    #expect(follower == before)

    // All or nothing: the new a@2 and b's status change (sorted before the divergence) are not taken either.
    expectStrataError(.failedPrecondition, mentioning: ["diverged", "b@1"]) { () throws(StrataError) in
      try follower.adopt([remote(spec("a", ["n"]), 2), remote(spec("a"), 1, .retired), remote(spec("b", ["other"]), 1)])
    }
    #expect(follower == before)
  }

  @Test("versions this node has but the snapshot lacks are kept")
  func absentVersionsKept() throws {
    var follower = Catalog()
    _ = try follower.adopt([remote(spec("a"), 1), remote(spec("a", ["y"]), 2), remote(spec("b"), 1)])
    let before = follower

    let changed = try follower.adopt([remote(spec("a"), 1, .deprecated)])
    #expect(changed.map(\.qualifiedName) == ["a@1"])
    #expect(follower.groups["a"]?.map(\.version) == [1, 2], "a@2 is kept")
    #expect(follower.groups["a"]?[1] == before.groups["a"]?[1])
    #expect(follower.groups["b"] == before.groups["b"], "a group absent from the snapshot is kept whole")
    #expect(try follower.group(named: "a").qualifiedName == "a@2")

    // An empty snapshot removes nothing either.
    let after = follower
    #expect(try follower.adopt([]).isEmpty)
    #expect(follower == after)
  }

  @Test("a snapshot version below 1 is refused with an error instead of crashing the node")
  func versionBelowOne() {
    // A snapshot comes from the wire (Shard.PutRegistry, GetRegistry): `version` is a uint32 that can be
    // 0. The failure mode was a trap, which crashes (and so fails) the whole test run. This used to be
    // an exit test (a child process); exit tests share the test process's children with the
    // multi-process tests' Foundation.Process, and one run hung with a killed node left unreaped.
    var catalog = Catalog()
    let zero = FeatureGroup(
      spec: FeatureGroupSpec(name: "a", features: [FeatureSpec(name: "x", dtype: .int)]), version: 0,
      status: .active, createdAt: .seconds(1_700_000_000), storageID: 1)
    #expect(throws: StrataError.self) { _ = try catalog.adopt([zero]) }
    do {
      _ = try catalog.adopt([zero])
    } catch {
      #expect(error.code == .failedPrecondition || error.code == .invalidArgument, "\(error)")
    }
    #expect(catalog == Catalog(), "the catalog changed")
  }

  /// A leader evolving at random; a follower adopting its full or prefix snapshots at random moments
  /// (some missed) always ends up with the leader's versions, with unique local storage ids.
  @Test("random leader histories: adopted snapshots reproduce the leader's registry")
  func randomHistories() throws {
    var rng = SplitMix64.forTest("CatalogAdopt.randomHistories")
    let seed = rng.seedDescription
    let names = ["a", "b", "c"]
    let featureSets: [[String]] = [["x"], ["x", "y"], ["y"], ["z"]]
    let statuses: [GroupStatus] = [.active, .deprecated, .retired]

    for _ in 0..<40 {
      var leader = Catalog()
      var follower = Catalog()
      var clock: Int64 = 1_700_000_000
      for _ in 0..<30 {
        clock += 10
        if rng.below(3) > 0 {
          _ = try leader.apply([spec(rng.element(of: names), rng.element(of: featureSets))], now: .seconds(clock))
        } else if let name = names.filter({ leader.groups[$0] != nil }).randomElement(using: &rng) {
          _ = try leader.setStatus(rng.element(of: statuses), group: name, version: 1 + rng.below(leader.groups[name]!.count))
        }
        guard rng.oneIn(3) else { continue }  // the follower misses most pushes

        // A full snapshot, or per group a prefix of its versions; any order, foreign storage ids.
        let full = rng.oneIn(2)
        var snapshot: [FeatureGroup] = []
        for name in names {
          guard let versions = leader.groups[name] else { continue }
          let keep = full ? versions.count : max(follower.groups[name]?.count ?? 0, rng.below(versions.count + 1))
          snapshot += versions.prefix(keep).map {
            var g = $0
            g.storageID = UInt32(truncatingIfNeeded: rng.next())
            return g
          }
        }
        snapshot.shuffle(using: &rng)
        let before = follower
        let changed = try follower.adopt(snapshot)

        for g in snapshot {
          let stored = follower.groups[g.name].flatMap { $0.count >= g.version ? $0[g.version - 1] : nil }
          #expect(stored.map(Adopted.init) == Adopted(g), "\(seed)")
        }
        for name in names {
          let mine = follower.groups[name] ?? []
          let theirs = leader.groups[name] ?? []
          #expect(mine.count <= theirs.count, "\(seed)")
          // The follower's versions were all in the snapshot (full, or a prefix at least as long).
          #expect(mine.map(Adopted.init) == theirs.prefix(mine.count).map(Adopted.init), "\(seed)")
          if full { #expect(mine.map(Adopted.init) == theirs.map(Adopted.init), "\(seed)") }
        }
        let ids = follower.allVersions.map(\.storageID)
        #expect(Set(ids).count == ids.count, "\(seed)")
        #expect(ids.allSatisfy { $0 < follower.nextStorageID }, "\(seed)")
        // `changed` is exactly the versions that differ from before, as stored now.
        let expectedChanged = follower.allVersions.filter { g in before.groups[g.name].flatMap { $0.count >= g.version ? $0[g.version - 1] : nil } != g }
        #expect(Set(changed) == Set(expectedChanged), "\(seed)")
        #expect(try follower.adopt(snapshot).isEmpty, "\(seed)")
        #expect(Catalog(versions: follower.allVersions) == follower, "\(seed)")
      }
    }
  }
}
