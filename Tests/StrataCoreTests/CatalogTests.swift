import StrataTestSupport
import Testing

@testable import StrataCore

private let t0 = Timestamp.seconds(1_700_000_000)
private let t1 = Timestamp.seconds(1_700_000_100)

private func spec(_ name: String, _ features: [String] = ["score"], description: String = "") -> FeatureGroupSpec {
  FeatureGroupSpec(name: name, description: description, features: features.map { FeatureSpec(name: $0, dtype: .float) })
}

private func refs(_ texts: String...) throws(StrataError) -> [FeatureRef] {
  var out: [FeatureRef] = []
  for text in texts { out.append(try FeatureRef(parsing: text)) }
  return out
}

@Suite("Catalog: versions, resolution and lifecycle")
struct CatalogTests {
  @Test("applying a new group registers version 1, ACTIVE, with the next storage id")
  func create() throws {
    var catalog = Catalog()
    let (results, registered) = try catalog.apply([spec("users")], now: t0)
    #expect(results.count == 1)
    #expect(results[0].outcome == .created)
    let g = results[0].group
    #expect(g.version == 1)
    #expect(g.status == .active)
    #expect(g.createdAt == t0)
    #expect(g.storageID == 1)
    #expect(g.spec == spec("users"))
    #expect(g.qualifiedName == "users@1")
    #expect(registered == [g])
    #expect(catalog.groups["users"] == [g])
    #expect(catalog.nextStorageID == 2)
    #expect(try catalog.group(named: "users") == g)
    #expect(try catalog.group(named: "users", version: 1) == g)
  }

  @Test("re-applying an identical spec is unchanged: no new version, no storage id, catalog equal")
  func identicalReapply() throws {
    var catalog = Catalog()
    _ = try catalog.apply([spec("users")], now: t0)
    let before = catalog
    let (results, registered) = try catalog.apply([spec("users")], now: t1)
    #expect(results.map(\.outcome) == [.unchanged])
    #expect(results[0].group == before.groups["users"]![0])
    #expect(results[0].group.createdAt == t0)
    #expect(registered.isEmpty)
    #expect(catalog == before)
  }

  @Test("a changed spec registers version 2; version 1 stays resolvable when pinned")
  func changedSpec() throws {
    var catalog = Catalog()
    _ = try catalog.apply([spec("users", ["score"])], now: t0)
    let (results, registered) = try catalog.apply([spec("users", ["score", "clicks"])], now: t1)
    #expect(results.map(\.outcome) == [.newVersion])
    let v2 = results[0].group
    #expect(v2.version == 2)
    #expect(v2.status == .active)
    #expect(v2.createdAt == t1)
    #expect(v2.storageID == 2)
    #expect(registered == [v2])
    #expect(catalog.groups["users"]!.map(\.version) == [1, 2])
    #expect(catalog.groups["users"]![0].status == .active)  // older versions keep their status

    let pinned = try catalog.resolve(refs("users@1:score"))
    #expect(pinned.map(\.group.version) == [1])
    #expect(pinned[0].group.spec == spec("users", ["score"]))
    #expect(pinned[0].qualifiedName == "users@1:score")

    let latest = try catalog.resolve(refs("users:clicks"))
    #expect(latest.map(\.qualifiedName) == ["users@2:clicks"])
    #expect(latest[0].featureIndex == 1)
    #expect(latest[0].feature.name == "clicks")

    // v1 has no 'clicks'.
    expectStrataError(.notFound, mentioning: ["users@1", "'clicks'", "score"]) { () throws(StrataError) in
      try catalog.resolve(refs("users@1:clicks"))
    }
  }

  @Test("any field change (even description only) is a new version")
  func descriptionChange() throws {
    var catalog = Catalog()
    _ = try catalog.apply([spec("users")], now: t0)
    let (results, _) = try catalog.apply([spec("users", description: "new words")], now: t1)
    #expect(results.map(\.outcome) == [.newVersion])
    #expect(results[0].group.version == 2)
  }

  @Test("re-applying the spec of an older version is a new version, not a revert")
  func reapplyOlder() throws {
    var catalog = Catalog()
    _ = try catalog.apply([spec("users", ["a"])], now: t0)
    _ = try catalog.apply([spec("users", ["b"])], now: t0)
    let (results, _) = try catalog.apply([spec("users", ["a"])], now: t1)
    #expect(results.map(\.outcome) == [.newVersion])
    #expect(results[0].group.version == 3)
  }

  @Test("an unpinned reference resolves to the newest ACTIVE version")
  func unpinnedNewestActive() throws {
    var catalog = Catalog()
    _ = try catalog.apply([spec("users", ["a"])], now: t0)
    _ = try catalog.apply([spec("users", ["a", "b"])], now: t0)
    #expect(try catalog.group(named: "users").version == 2)

    let deprecated = try catalog.setStatus(.deprecated, group: "users", version: 2)
    #expect(deprecated.status == .deprecated)
    #expect(deprecated.version == 2)
    #expect(catalog.groups["users"]![1].status == .deprecated)
    #expect(try catalog.group(named: "users").version == 1)
    #expect(try catalog.resolve(refs("users:a")).map(\.qualifiedName) == ["users@1:a"])
    // A deprecated version stays readable when pinned.
    #expect(try catalog.resolve(refs("users@2:b")).map(\.qualifiedName) == ["users@2:b"])

    // A third, active version wins again; reactivating v2 does not beat v3.
    _ = try catalog.apply([spec("users", ["a", "b", "c"])], now: t1)
    _ = try catalog.setStatus(.active, group: "users", version: 2)
    #expect(try catalog.group(named: "users").version == 3)
    _ = try catalog.setStatus(.retired, group: "users", version: 3)
    #expect(try catalog.group(named: "users").version == 2)
  }

  @Test("when no version is ACTIVE, unpinned references are FAILED_PRECONDITION suggesting a pin")
  func allDeprecated() throws {
    var catalog = Catalog()
    _ = try catalog.apply([spec("users", ["a"])], now: t0)
    _ = try catalog.apply([spec("users", ["a", "b"])], now: t0)
    _ = try catalog.setStatus(.deprecated, group: "users", version: 1)
    _ = try catalog.setStatus(.retired, group: "users", version: 2)
    expectStrataError(.failedPrecondition, mentioning: ["users", "no ACTIVE version", "users@N"]) {
      () throws(StrataError) in try catalog.group(named: "users")
    }
    expectStrataError(.failedPrecondition, mentioning: ["users", "no ACTIVE version"]) { () throws(StrataError) in
      try catalog.resolve(refs("users:a"))
    }
    expectStrataError(.failedPrecondition) { () throws(StrataError) in try catalog.resolve(refs("users:*")) }
    // Pinned still works for the deprecated one.
    #expect(try catalog.resolve(refs("users@1:a")).map(\.qualifiedName) == ["users@1:a"])
  }

  @Test("reading a RETIRED version is FAILED_PRECONDITION, also when pinned or through group:*")
  func retired() throws {
    var catalog = Catalog()
    _ = try catalog.apply([spec("users", ["a"])], now: t0)
    _ = try catalog.apply([spec("users", ["a", "b"])], now: t0)
    _ = try catalog.setStatus(.retired, group: "users", version: 1)
    for text in ["users@1:a", "users@1:*"] {
      expectStrataError(.failedPrecondition, mentioning: ["users@1", "RETIRED"]) { () throws(StrataError) in
        try catalog.resolve(refs(text))
      }
    }
    // The other version is unaffected.
    #expect(try catalog.resolve(refs("users:a")).map(\.qualifiedName) == ["users@2:a"])
    // A batch with one retired reference fails as a whole.
    expectStrataError(.failedPrecondition) { () throws(StrataError) in
      try catalog.resolve(refs("users@2:a", "users@1:a"))
    }
  }

  @Test("unknown group, version or feature is NOT_FOUND with a message that helps")
  func notFound() throws {
    var catalog = Catalog()
    _ = try catalog.apply([spec("users", ["score", "clicks"])], now: t0)
    _ = try catalog.apply([spec("users", ["score", "clicks", "views"])], now: t0)

    expectStrataError(.notFound, mentioning: ["'nope'", "does not exist", "strata groups"]) {
      () throws(StrataError) in try catalog.resolve(refs("nope:score"))
    }
    expectStrataError(.notFound, mentioning: ["'nope'"]) { () throws(StrataError) in
      try catalog.group(named: "nope", version: 1)
    }
    expectStrataError(.notFound, mentioning: ["'users'", "no version 3", "1...2"]) { () throws(StrataError) in
      try catalog.resolve(refs("users@3:score"))
    }
    expectStrataError(.notFound, mentioning: ["no version 0"]) { () throws(StrataError) in
      try catalog.group(named: "users", version: 0)
    }
    expectStrataError(.notFound, mentioning: ["users@2", "'nope'", "score, clicks, views"]) {
      () throws(StrataError) in try catalog.resolve(refs("users:nope"))
    }
    expectStrataError(.notFound, mentioning: ["users", "no version 9"]) { () throws(StrataError) in
      try catalog.setStatus(.deprecated, group: "users", version: 9)
    }
    expectStrataError(.notFound, mentioning: ["'ghost'"]) { () throws(StrataError) in
      try catalog.setStatus(.deprecated, group: "ghost", version: 1)
    }
  }

  @Test("resolving no references is INVALID_ARGUMENT")
  func resolveEmpty() throws {
    var catalog = Catalog()
    _ = try catalog.apply([spec("users")], now: t0)
    expectStrataError(.invalidArgument, mentioning: ["no features requested"]) { () throws(StrataError) in
      try catalog.resolve([])
    }
  }

  @Test("group:* expands in definition order; other references keep request order and duplicates")
  func expansion() throws {
    var catalog = Catalog()
    _ = try catalog.apply([spec("users", ["zeta", "alpha", "mid"]), spec("items", ["price", "cat"])], now: t0)
    let all = try catalog.resolve(refs("users:*"))
    #expect(all.map(\.feature.name) == ["zeta", "alpha", "mid"])
    #expect(all.map(\.featureIndex) == [0, 1, 2])

    let mixed = try catalog.resolve(refs("items:cat", "users:*", "items@1:price", "items:cat"))
    #expect(
      mixed.map(\.qualifiedName) == [
        "items@1:cat", "users@1:zeta", "users@1:alpha", "users@1:mid", "items@1:price", "items@1:cat",
      ])
  }

  @Test("duplicate group names in one apply are INVALID_ARGUMENT and change nothing")
  func duplicateNamesInOneApply() throws {
    var catalog = Catalog()
    _ = try catalog.apply([spec("users")], now: t0)
    let before = catalog
    expectStrataError(.invalidArgument, mentioning: ["'items'", "more than once"]) { () throws(StrataError) in
      try catalog.apply([spec("fresh"), spec("items", ["a"]), spec("users", ["x"]), spec("items", ["b"])], now: t1)
    }
    #expect(catalog == before)
    #expect(catalog.groups["fresh"] == nil)
    #expect(catalog.nextStorageID == before.nextStorageID)
  }

  @Test("one invalid spec in a batch rejects the whole batch (all or nothing)")
  func invalidSpecInBatch() throws {
    var catalog = Catalog()
    _ = try catalog.apply([spec("users")], now: t0)
    let before = catalog
    expectStrataError(.invalidArgument, mentioning: ["Bad"]) { () throws(StrataError) in
      try catalog.apply([spec("fresh"), spec("users", ["changed"]), spec("Bad")], now: t1)
    }
    #expect(catalog == before)
    expectStrataError(.invalidArgument, mentioning: ["'empty'", "no features"]) { () throws(StrataError) in
      try catalog.apply([spec("fresh"), spec("empty", [])], now: t1)
    }
    #expect(catalog == before)
  }

  @Test("a batch returns one result per spec, in order, and registers only the new versions")
  func batchResults() throws {
    var catalog = Catalog()
    _ = try catalog.apply([spec("b"), spec("c")], now: t0)
    let (results, registered) = try catalog.apply([spec("c", ["changed"]), spec("a"), spec("b")], now: t1)
    #expect(results.map(\.outcome) == [.newVersion, .created, .unchanged])
    #expect(results.map(\.group.qualifiedName) == ["c@2", "a@1", "b@1"])
    #expect(registered.map(\.qualifiedName) == ["c@2", "a@1"])
    #expect(registered.map(\.storageID) == [3, 4])
    #expect(catalog.allVersions.map(\.qualifiedName) == ["a@1", "b@1", "c@1", "c@2"])
  }

  @Test("re-applying the spec of a deprecated latest version is unchanged and does not resurrect it")
  func reapplyDeprecated() throws {
    var catalog = Catalog()
    _ = try catalog.apply([spec("users")], now: t0)
    _ = try catalog.setStatus(.deprecated, group: "users", version: 1)
    let before = catalog
    let (results, registered) = try catalog.apply([spec("users")], now: t1)
    #expect(results.map(\.outcome) == [.unchanged])
    #expect(results[0].group.status == .deprecated)
    #expect(registered.isEmpty)
    #expect(catalog == before)
  }

  @Test("storage ids are 1, 2, 3, ... across groups in registration order, never reused")
  func storageIDs() throws {
    var catalog = Catalog()
    var registeredIDs: [UInt32] = []
    func apply(_ specs: [FeatureGroupSpec]) throws {
      registeredIDs += try catalog.apply(specs, now: t0).registered.map(\.storageID)
    }
    try apply([spec("a"), spec("b")])
    try apply([spec("a", ["x"])])
    try apply([spec("a", ["x"])])  // unchanged: no id
    _ = try catalog.setStatus(.retired, group: "a", version: 1)
    try apply([spec("c"), spec("b", ["y"]), spec("a")])
    #expect(registeredIDs == [1, 2, 3, 4, 5, 6])
    #expect(catalog.nextStorageID == 7)
    for id in registeredIDs {
      #expect(catalog.group(storageID: id)?.storageID == id)
    }
    #expect(catalog.group(storageID: 0) == nil)
    #expect(catalog.group(storageID: 7) == nil)
    #expect(catalog.group(storageID: 4)?.qualifiedName == "c@1")
    #expect(catalog.group(storageID: 6)?.qualifiedName == "a@3")
  }

  @Test("Catalog(versions:) rebuilt from the persisted versions, in any order, equals the original")
  func rebuild() throws {
    var catalog = Catalog()
    _ = try catalog.apply([spec("b"), spec("a")], now: t0)
    _ = try catalog.apply([spec("a", ["x"]), spec("c")], now: t1)
    _ = try catalog.apply([spec("a", ["x", "y"])], now: t1)
    _ = try catalog.setStatus(.deprecated, group: "a", version: 2)
    _ = try catalog.setStatus(.retired, group: "b", version: 1)

    let versions = catalog.allVersions
    #expect(versions.map(\.qualifiedName) == ["a@1", "a@2", "a@3", "b@1", "c@1"])
    #expect(Catalog(versions: versions) == catalog)
    #expect(Catalog(versions: versions.reversed()) == catalog)
    #expect(Catalog(versions: [versions[3], versions[1], versions[4], versions[0], versions[2]]) == catalog)
    #expect(Catalog(versions: versions).nextStorageID == 6)
    #expect(Catalog(versions: []) == Catalog())

    // The rebuilt catalog continues numbering where the original left off.
    var rebuilt = Catalog(versions: versions.reversed())
    let next = try rebuilt.apply([spec("d")], now: t1).registered
    #expect(next.map(\.storageID) == [6])
  }

  // MARK: - Property

  /// Applies random operations and checks the catalog against a plain model after each one.
  @Test("random apply/setStatus sequences keep every catalog invariant")
  func randomOperations() throws {
    var rng = SplitMix64.forTest("Catalog.randomOperations")
    let seed = rng.seedDescription
    let names = ["a", "b", "c", "d"]
    let featureSets: [[String]] = [["x"], ["x", "y"], ["y"], ["z", "x"]]
    let statuses: [GroupStatus] = [.active, .deprecated, .retired]

    for _ in 0..<50 {
      var catalog = Catalog()
      // Model: per name, the list of (spec, status, storageID).
      var model: [String: [(spec: FeatureGroupSpec, status: GroupStatus, storageID: UInt32)]] = [:]
      var nextID: UInt32 = 1

      for _ in 0..<40 {
        if Int.random(in: 0..<4, using: &rng) > 0 {
          // apply a batch of 1...3 specs, sometimes with a duplicate name or an invalid spec
          let count = Int.random(in: 1...3, using: &rng)
          var batch: [FeatureGroupSpec] = []
          for _ in 0..<count {
            batch.append(spec(names.randomElement(using: &rng)!, featureSets.randomElement(using: &rng)!))
          }
          if Int.random(in: 0..<10, using: &rng) == 0 { batch.append(spec("Invalid")) }
          let shouldFail = Set(batch.map(\.name)).count != batch.count || batch.contains { $0.name == "Invalid" }
          let before = catalog
          do {
            let (results, registered) = try catalog.apply(batch, now: t0)
            #expect(!shouldFail, "\(seed)")
            var expectedRegistered: [UInt32] = []
            for (s, result) in zip(batch, results) {
              if let last = model[s.name]?.last, last.spec == s {
                #expect(result.outcome == .unchanged, "\(seed)")
              } else {
                #expect(result.outcome == (model[s.name] == nil ? .created : .newVersion), "\(seed)")
                model[s.name, default: []].append((s, .active, nextID))
                expectedRegistered.append(nextID)
                nextID += 1
              }
              #expect(result.group.version == model[s.name]!.count, "\(seed)")
            }
            #expect(results.count == batch.count, "\(seed)")
            #expect(registered.map(\.storageID) == expectedRegistered, "\(seed)")
          } catch {
            #expect(shouldFail, "unexpected \(error); \(seed)")
            #expect(error.code == .invalidArgument, "\(seed)")
            #expect(catalog == before, "\(seed)")
          }
        } else if let name = names.filter({ model[$0] != nil }).randomElement(using: &rng) {
          let version = Int.random(in: 1...model[name]!.count, using: &rng)
          let status = statuses.randomElement(using: &rng)!
          let updated = try catalog.setStatus(status, group: name, version: version)
          #expect(updated.status == status && updated.version == version, "\(seed)")
          model[name]![version - 1].status = status
        }

        // Invariants.
        #expect(catalog.nextStorageID == nextID, "\(seed)")
        #expect(Catalog(versions: catalog.allVersions.shuffled(using: &rng)) == catalog, "\(seed)")
        let ids = catalog.allVersions.map(\.storageID)
        #expect(Set(ids).count == ids.count, "\(seed)")
        for name in names {
          let versions = catalog.groups[name] ?? []
          let expected = model[name] ?? []
          #expect(versions.map(\.version) == Array(1..<(expected.count + 1)), "\(seed)")
          #expect(versions.map(\.spec) == expected.map(\.spec), "\(seed)")
          #expect(versions.map(\.status) == expected.map(\.status), "\(seed)")
          #expect(versions.map(\.storageID) == expected.map(\.storageID), "\(seed)")
          #expect(versions.map(\.storageID) == versions.map(\.storageID).sorted(), "\(seed)")
          guard !expected.isEmpty else { continue }
          // Unpinned resolution: the newest ACTIVE version, else FAILED_PRECONDITION.
          if let newestActive = expected.lastIndex(where: { $0.status == .active }) {
            #expect(try catalog.group(named: name).version == newestActive + 1, "\(seed)")
          } else {
            expectStrataError(.failedPrecondition) { () throws(StrataError) in try catalog.group(named: name) }
          }
        }
      }
    }
  }
}
