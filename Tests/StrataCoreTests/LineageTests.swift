import Testing

@testable import StrataCore

private let t0 = Timestamp.seconds(1_700_000_000)

private func group(_ name: String, lineage: Lineage = Lineage()) -> FeatureGroupSpec {
  FeatureGroupSpec(name: name, features: [FeatureSpec(name: "x", dtype: .float)], lineage: lineage)
}

private func stream(_ name: String, lineage: Lineage = Lineage()) -> FeatureGroupSpec {
  FeatureGroupSpec(name: name, features: [FeatureSpec(name: "amount", dtype: .float)], source: .events, lineage: lineage)
}

@Suite("Lineage: what a definition declares about where its values come from")
struct LineageTests {
  @Test("upstream references are NAME or NAME@VERSION (a version from 1, no leading zeros)")
  func references() {
    #expect(Lineage.Reference("purchases") == Lineage.Reference("purchases"))
    #expect(Lineage.Reference("purchases")?.version == nil)
    #expect(Lineage.Reference("user_stats@12")?.name == "user_stats")
    #expect(Lineage.Reference("user_stats@12")?.version == 12)
    for bad in ["", "Purchases", "a-b", "a@0", "a@01", "a@", "@1", "a@1@2", "a@x", "a@-1", String(repeating: "a", count: 64)] {
      #expect(Lineage.Reference(bad) == nil, "'\(bad)' accepted")
    }
  }

  @Test("each rule is refused with INVALID_ARGUMENT naming the group and the field; values at the limits pass")
  func validation() throws {
    try Lineage(
      source: String(repeating: "s", count: Lineage.maxSourceBytes),
      transformation: String(repeating: "t", count: Lineage.maxTransformationBytes),
      upstream: (0..<Lineage.maxUpstream).map { "g\($0)" },
      pipeline: String(repeating: "p", count: Lineage.maxPipelineBytes)
    ).validate(group: "g")
    // Bytes, not characters: "é" is 2 bytes.
    expectStrataError(.invalidArgument, mentioning: ["lineage source is 2050 bytes"]) { () throws(StrataError) in
      try Lineage(source: String(repeating: "é", count: 1_025)).validate(group: "g")
    }
    expectStrataError(.invalidArgument, mentioning: ["lineage transformation is 65537 bytes"]) { () throws(StrataError) in
      try Lineage(transformation: String(repeating: "t", count: 65_537)).validate(group: "g")
    }
    expectStrataError(.invalidArgument, mentioning: ["lineage pipeline is 257 bytes"]) { () throws(StrataError) in
      try Lineage(pipeline: String(repeating: "p", count: 257)).validate(group: "g")
    }
    expectStrataError(.invalidArgument, mentioning: ["65 upstream groups; at most 64"]) { () throws(StrataError) in
      try Lineage(upstream: (0...64).map { "u\($0)" }).validate(group: "g")
    }
    expectStrataError(.invalidArgument, mentioning: ["upstream 'Orders' is not a group or stream reference"]) { () throws(StrataError) in
      try Lineage(upstream: ["Orders"]).validate(group: "g")
    }
    expectStrataError(.invalidArgument, mentioning: ["upstream 'g@2' is the group itself"]) { () throws(StrataError) in try Lineage(upstream: ["g@2"]).validate(group: "g") }
    expectStrataError(.invalidArgument, mentioning: ["upstream 'a' is listed twice"]) { () throws(StrataError) in try Lineage(upstream: ["a", "b", "a"]).validate(group: "g") }
    // The spec's own validation applies the lineage's.
    expectStrataError(.invalidArgument, mentioning: ["group 'g': lineage upstream 'g'"]) { () throws(StrataError) in try group("g", lineage: Lineage(upstream: ["g"])).validate() }
  }

  @Test("upstream names must exist after the apply (registered before or in the same call, any order); all or nothing")
  func upstreamExists() throws {
    var catalog = Catalog()
    // The group is listed before the stream it names: both are in the call.
    let derived = group("user_stats", lineage: Lineage(source: "warehouse.orders", upstream: ["purchases", "purchases@1"], pipeline: "daily"))
    let (results, registered) = try catalog.apply([derived, stream("purchases")], now: t0)
    #expect(results.map(\.outcome) == [.created, .created])
    #expect(registered.first { $0.name == "user_stats" }?.spec.lineage == derived.lineage)

    let before = catalog
    expectStrataError(.notFound, mentioning: ["lineage upstream 'orders' is not a registered group or stream"]) { () throws(StrataError) in
      try catalog.apply([group("b", lineage: Lineage(upstream: ["orders"])), group("c")], now: t0)
    }
    expectStrataError(.notFound, mentioning: ["purchases has versions 1 to 1"]) { () throws(StrataError) in
      try catalog.apply([group("b", lineage: Lineage(upstream: ["purchases@2"]))], now: t0)
    }
    #expect(catalog.groups == before.groups, "a refused apply registers nothing, not even the valid groups of the call")
  }

  @Test("the lineage is part of the definition: changing it registers a new version, the same one is unchanged")
  func lineageIsVersioned() throws {
    var catalog = Catalog()
    _ = try catalog.apply([group("g", lineage: Lineage(source: "a"))], now: t0)
    #expect(try catalog.apply([group("g", lineage: Lineage(source: "a"))], now: t0).results[0].outcome == .unchanged)
    let changed = try catalog.apply([group("g", lineage: Lineage(source: "a", transformation: "SELECT 2"))], now: t0)
    #expect(changed.results[0].outcome == .newVersion)
    #expect(changed.results[0].group.version == 2)
    #expect(try catalog.group(named: "g", version: 1).spec.lineage == Lineage(source: "a"))
  }
}
