import Testing

@testable import StrataCore

private let t0 = Timestamp.seconds(1_700_000_000)

private func spec(_ name: String, _ features: [String]) -> FeatureGroupSpec {
  FeatureGroupSpec(name: name, features: features.map { FeatureSpec(name: $0, dtype: .float) })
}

@Suite("Status changes: who, when and why; DEPRECATED versions and new training exports")
struct StatusChangeTests {
  @Test("each change is recorded (from, to, at, by, reason), oldest first; setting the current status records nothing")
  func history() throws {
    var catalog = Catalog()
    _ = try catalog.apply([spec("users", ["a"])], now: t0)
    let note = StatusNote(by: "alice", reason: "replaced by v2")
    let deprecated = try catalog.setStatus(.deprecated, group: "users", version: 1, at: t0.adding(microseconds: 5), note: note)
    #expect(deprecated.statusChanges == [StatusChange(from: .active, to: .deprecated, at: t0.adding(microseconds: 5), by: "alice", reason: "replaced by v2")])
    let again = try catalog.setStatus(.deprecated, group: "users", version: 1, at: t0.adding(microseconds: 9), note: StatusNote(by: "bob"))
    #expect(again.statusChanges.count == 1, "no change, nothing recorded")
    _ = try catalog.setStatus(.active, group: "users", version: 1, at: t0.adding(microseconds: 10), note: StatusNote(by: "bob", reason: "rollback"))
    #expect(try catalog.group(named: "users", version: 1).statusChanges.map { "\($0.from.rawValue)>\($0.to.rawValue) \($0.by) \($0.reason)" }
      == ["ACTIVE>DEPRECATED alice replaced by v2", "DEPRECATED>ACTIVE bob rollback"])
    // A node adopting the registry takes the history as it is.
    var follower = Catalog()
    _ = try follower.apply([spec("users", ["a"])], now: t0)
    let changed = try follower.adopt(catalog.allVersions)
    #expect(changed.map(\.statusChanges) == catalog.allVersions.map(\.statusChanges))
    #expect(follower.allVersions == catalog.allVersions.map { var g = $0; g.storageID = follower.allVersions[0].storageID; return g })
  }

  @Test("limits of the note: 256 bytes for who, 1,024 for why")
  func noteLimits() throws {
    try StatusNote(by: String(repeating: "b", count: 256), reason: String(repeating: "r", count: 1_024)).validate()
    expectStrataError(.invalidArgument, mentioning: ["changed_by is 257 bytes"]) { () throws(StrataError) in
      try StatusNote(by: String(repeating: "b", count: 257)).validate()
    }
    expectStrataError(.invalidArgument, mentioning: ["reason is 1025 bytes"]) { () throws(StrataError) in
      try StatusNote(reason: String(repeating: "r", count: 1_025)).validate()
    }
  }

  @Test("an export pinning a DEPRECATED version is FAILED_PRECONDITION naming it and the newest ACTIVE version, unless forced")
  func deprecatedExports() throws {
    var catalog = Catalog()
    _ = try catalog.apply([spec("users", ["a"])], now: t0)
    _ = try catalog.apply([spec("users", ["a", "b"])], now: t0)
    _ = try catalog.setStatus(.deprecated, group: "users", version: 1)
    let pinned = try catalog.resolve([try FeatureRef(parsing: "users@1:a")])
    expectStrataError(.failedPrecondition, mentioning: ["users@1 is DEPRECATED", "export users@2, its newest ACTIVE version, instead", "force"]) {
      () throws(StrataError) in try catalog.checkExport(of: pinned, force: false)
    }
    try catalog.checkExport(of: pinned, force: true)
    try catalog.checkExport(of: try catalog.resolve([try FeatureRef(parsing: "users:a")]), force: false)
    _ = try catalog.setStatus(.deprecated, group: "users", version: 2)
    let both = try catalog.resolve([try FeatureRef(parsing: "users@2:a")])
    expectStrataError(.failedPrecondition, mentioning: ["users@2 is DEPRECATED", "users has no ACTIVE version"]) {
      () throws(StrataError) in try catalog.checkExport(of: both, force: false)
    }
  }
}
