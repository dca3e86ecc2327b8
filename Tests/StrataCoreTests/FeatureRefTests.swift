import Testing

@testable import StrataCore

@Suite("FeatureRef: parsing group:feature references")
struct FeatureRefTests {
  @Test(
    "every form parses to group, version and feature",
    arguments: [
      ("user_stats:avg_purchase", FeatureRef(group: "user_stats", version: nil, feature: "avg_purchase")),
      ("user_stats@2:avg_purchase", FeatureRef(group: "user_stats", version: 2, feature: "avg_purchase")),
      ("user_stats:*", FeatureRef(group: "user_stats", version: nil, feature: nil)),
      ("user_stats@12:*", FeatureRef(group: "user_stats", version: 12, feature: nil)),
      ("g@1:f", FeatureRef(group: "g", version: 1, feature: "f")),
      // Leading and trailing whitespace (spaces, tabs, newlines) is ignored.
      ("  user_stats:avg_purchase  ", FeatureRef(group: "user_stats", version: nil, feature: "avg_purchase")),
      ("\tuser_stats@3:*\n", FeatureRef(group: "user_stats", version: 3, feature: nil)),
      (" g@1:f\r\n", FeatureRef(group: "g", version: 1, feature: "f")),
    ]
  )
  func parses(text: String, expected: FeatureRef) throws {
    let ref = try FeatureRef(parsing: text)
    #expect(ref == expected)
    #expect(ref.group == expected.group)
    #expect(ref.version == expected.version)
    #expect(ref.feature == expected.feature)
  }

  @Test(
    "description prints the canonical form, which parses back to the same reference",
    arguments: [
      (FeatureRef(group: "g", version: nil, feature: "f"), "g:f"),
      (FeatureRef(group: "g", version: 2, feature: "f"), "g@2:f"),
      (FeatureRef(group: "g", version: nil, feature: nil), "g:*"),
      (FeatureRef(group: "g", version: 7, feature: nil), "g@7:*"),
    ]
  )
  func description(ref: FeatureRef, text: String) throws {
    #expect(ref.description == text)
    #expect(try FeatureRef(parsing: text) == ref)
  }

  @Test(
    "malformed references are INVALID_ARGUMENT with a message naming the problem",
    arguments: [
      ("user_stats", "has no ':'"),  // no colon
      ("user_stats.avg", "has no ':'"),
      ("", "has no ':'"),
      ("   ", "has no ':'"),
      ("g@0:f", "invalid version '0'"),  // versions start at 1
      ("g@-1:f", "invalid version '-1'"),
      ("g@x:f", "invalid version 'x'"),
      ("g@:f", "invalid version ''"),
      ("g@1.5:f", "invalid version '1.5'"),
      ("g@1@2:f", "invalid version"),
      ("g@99999999999999999999:f", "invalid version"),  // overflows Int
      (":f", "empty group name"),
      ("@2:f", "empty group name"),
      ("g:", "empty feature name"),
      ("g@2:", "empty feature name"),
      (":", "empty group name"),
    ]
  )
  func rejects(text: String, fragment: String) {
    let error = expectStrataError(.invalidArgument, mentioning: [fragment]) {
      () throws(StrataError) in try FeatureRef(parsing: text)
    }
    // The message quotes what the user wrote, so they can find it.
    if let error { #expect(error.message.contains("'\(text)'")) }
  }

  @Test("the memberwise initializer keeps nil version and nil feature as 'latest' and '*'")
  func memberwise() {
    let ref = FeatureRef(group: "g", feature: nil)
    #expect(ref.version == nil)
    #expect(ref.feature == nil)
    #expect(ref.description == "g:*")
  }
}
