import Foundation
import StrataCore
import Testing

@testable import StrataCLI

/// Parses `yaml` as `features.yaml` and returns the error it throws (nil if it parses).
private func failure(_ yaml: String) -> StrataError? {
  do {
    _ = try DefinitionFile.parse(yaml: yaml, fileName: "features.yaml")
    return nil
  } catch {
    return error
  }
}

/// The message of the error `yaml` must produce (records an issue if it parses).
private func message(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) -> String {
  guard let error = failure(yaml) else {
    Issue.record("expected the definition to be rejected", sourceLocation: sourceLocation)
    return ""
  }
  #expect(error.code == .invalidArgument, sourceLocation: sourceLocation)
  return error.message
}

/// A one-group file whose only feature has the given extra lines (indented under the feature).
private func oneFeature(dtype: String, _ extra: String = "") -> String {
  """
  groups:
    - name: g
      features:
        - name: f
          dtype: \(dtype)
  \(extra.split(separator: "\n", omittingEmptySubsequences: false).map { "        " + $0 }.joined(separator: "\n"))
  """
}

@Suite("DefinitionFile: parsing feature group definitions from YAML")
struct DefinitionFileTests {

  // MARK: Happy path

  @Test("a file using every field produces the corresponding specs")
  func fullFile() throws {
    let yaml = """
      # Feature definitions for the recommender.
      groups:
        - name: user_stats
          entity_type: USER
          description: "Purchase statistics per user"
          owner: "ml-platform"
          refresh_interval: 1d
          max_age: 30d
          features:
            - name: purchases_30d
              dtype: INT
              default: 0
              description: "Purchases in the last 30 days"
            - name: avg_basket
              dtype: FLOAT
              default: 12           # an integer is accepted for FLOAT
            - name: ctr
              dtype: float
              default: 0.25
            - name: segment
              dtype: STRING
              default: "unknown"
            - name: zip
              dtype: STRING
              default: 01234        # a STRING default keeps the text as written
            - name: embedding
              dtype: EMBEDDING(3)
              default: [0, 0.5, -1.25]
            - name: no_default
              dtype: INT
              default: null
        - name: item_facts
          entity_type: item
          refresh_interval: 3600
          features:
            - name: price
              dtype: FLOAT
        - name: session_state
          entity_type: SESSION
          refresh_interval: 90s
          max_age: 2w
          features: [{name: step, dtype: embedding( 2 ), default: [1, 2]}]
      """
    let specs = try DefinitionFile.parse(yaml: yaml, fileName: "features.yaml")
    #expect(specs.count == 3)

    let expectedUserStats = FeatureGroupSpec(
      name: "user_stats",
      entityType: .user,
      description: "Purchase statistics per user",
      owner: "ml-platform",
      refreshIntervalSeconds: 86_400,
      maxAgeSeconds: 30 * 86_400,
      features: [
        FeatureSpec(name: "purchases_30d", dtype: .int, defaultValue: .int(0), description: "Purchases in the last 30 days"),
        FeatureSpec(name: "avg_basket", dtype: .float, defaultValue: .float(12)),
        FeatureSpec(name: "ctr", dtype: .float, defaultValue: .float(0.25)),
        FeatureSpec(name: "segment", dtype: .string, defaultValue: .string("unknown")),
        FeatureSpec(name: "zip", dtype: .string, defaultValue: .string("01234")),
        FeatureSpec(name: "embedding", dtype: .embedding(dimension: 3), defaultValue: .embedding([0, 0.5, -1.25])),
        FeatureSpec(name: "no_default", dtype: .int, defaultValue: nil),
      ]
    )
    #expect(specs[0] == expectedUserStats)
    #expect(
      specs[1]
        == FeatureGroupSpec(
          name: "item_facts", entityType: .item, refreshIntervalSeconds: 3_600, maxAgeSeconds: nil,
          features: [FeatureSpec(name: "price", dtype: .float)]
        )
    )
    #expect(
      specs[2]
        == FeatureGroupSpec(
          name: "session_state", entityType: .session, refreshIntervalSeconds: 90, maxAgeSeconds: 14 * 86_400,
          features: [FeatureSpec(name: "step", dtype: .embedding(dimension: 2), defaultValue: .embedding([1, 2]))]
        )
    )
  }

  @Test("omitted optional fields take their defaults: USER, empty texts, no refresh interval, no expiry")
  func minimalGroup() throws {
    let specs = try DefinitionFile.parse(yaml: oneFeature(dtype: "INT"), fileName: "features.yaml")
    #expect(specs == [FeatureGroupSpec(name: "g", features: [FeatureSpec(name: "f", dtype: .int)])])
    #expect(specs[0].entityType == .user)
    #expect(specs[0].maxAgeSeconds == nil)
    #expect(specs[0].refreshIntervalSeconds == nil)
  }

  @Test("an empty groups list is a valid file with no groups")
  func emptyGroups() throws {
    #expect(try DefinitionFile.parse(yaml: "groups: []\n", fileName: "features.yaml").isEmpty)
  }

  // MARK: Durations

  @Test(
    "durations with a unit or in plain seconds",
    arguments: [
      ("30s", 30), ("5m", 300), ("1h", 3_600), ("1d", 86_400), ("2w", 1_209_600), ("45", 45), (" 7d ", 604_800),
      ("0", 0),
    ] as [(String, Int64)]
  )
  func durations(text: String, seconds: Int64) {
    #expect(DefinitionFile.parseDuration(text) == seconds)
  }

  @Test("malformed or overflowing durations are rejected", arguments: ["", "d", "1x", "1.5h", "10 d", "-5s", "1H", "1h30m", "99999999999999999w"])
  func badDurationTexts(text: String) {
    #expect(DefinitionFile.parseDuration(text) == nil)
  }

  @Test("a duration field's value reaches the spec", arguments: [("30s", 30), ("5m", 300), ("2w", 1_209_600), ("120", 120)] as [(String, Int64)])
  func durationFields(text: String, seconds: Int64) throws {
    let yaml = """
      groups:
        - name: g
          refresh_interval: \(text)
          max_age: \(text)
          features: [{name: f, dtype: INT}]
      """
    let spec = try #require(try DefinitionFile.parse(yaml: yaml, fileName: "f.yaml").first)
    #expect(spec.refreshIntervalSeconds == seconds)
    #expect(spec.maxAgeSeconds == seconds)
  }

  @Test("a bad duration names the group and the field")
  func badDuration() {
    let text = message(
      """
      groups:
        - name: user_stats
          refresh_interval: 1x
          features: [{name: f, dtype: INT}]
      """
    )
    #expect(text.hasPrefix("features.yaml: group 'user_stats': refresh_interval '1x' is not a duration"))
    #expect(text.contains("30s, 5m, 1h, 1d, 2w"))
  }

  @Test("a zero or negative duration is rejected as not positive")
  func nonPositiveDuration() {
    let zero = message("groups:\n  - name: g\n    max_age: 0s\n    features: [{name: f, dtype: INT}]\n")
    #expect(zero == "features.yaml: group 'g': max_age must be positive (omit it for no expiry), got '0s'")
    let negative = message("groups:\n  - name: g\n    refresh_interval: -5\n    features: [{name: f, dtype: INT}]\n")
    #expect(negative == "features.yaml: group 'g': refresh_interval must be positive, got '-5'")
  }

  // MARK: File structure errors

  @Test("a YAML syntax error names the file and Yams' line and column")
  func syntaxError() {
    let text = message(
      """
      groups:
        - name: g
          features:
            - name: "unterminated
              dtype: INT
      """
    )
    #expect(text.hasPrefix("features.yaml line "))
    #expect(text.contains(", column "))
    #expect(text.contains("invalid YAML"))
    #expect(text.contains("quoted scalar"))
  }

  @Test("a bad indentation is reported with its line")
  func badIndentation() {
    let text = message("groups:\n  - name: g\n   features: []\n")
    #expect(text.hasPrefix("features.yaml line 3, column "))
    #expect(text.contains("invalid YAML"))
  }

  @Test("an empty file, a null or missing groups key and a non-list groups are rejected")
  func missingGroups() {
    #expect(message("") == "features.yaml: the file is empty; expected a top-level 'groups:' list")
    #expect(message("# only a comment\n") == "features.yaml: the file is empty; expected a top-level 'groups:' list")
    #expect(message("groups:\n") == "features.yaml: missing the top-level 'groups:' list")
    #expect(message("{}\n") == "features.yaml: missing the top-level 'groups:' list")
    #expect(message("groups: user_stats\n").hasPrefix("features.yaml: 'groups' must be a list of groups"))
    #expect(message("- name: g\n").hasPrefix("features.yaml: expected a mapping with a 'groups:' list at the top level, found a list"))
  }

  @Test("an unknown top-level key is rejected with a suggestion")
  func unknownTopLevelKey() {
    let text = message("group:\n  - name: g\n    features: [{name: f, dtype: INT}]\n")
    #expect(text.hasPrefix("features.yaml: unknown key 'group'; did you mean 'groups'?"))
  }

  @Test("a group that is not a mapping is rejected with its position")
  func groupNotMapping() {
    #expect(message("groups:\n  - user_stats\n") == "features.yaml: group #1 (line 2): expected a mapping with 'name', 'features', ..., found the value 'user_stats'")
  }

  @Test("an unknown group-level key is rejected, naming the group and suggesting the right key")
  func unknownGroupKey() {
    let text = message(
      """
      groups:
        - name: user_stats
          refesh_interval: 1d
          features: [{name: f, dtype: INT}]
      """
    )
    #expect(text.hasPrefix("features.yaml: group 'user_stats': unknown key 'refesh_interval'; did you mean 'refresh_interval'?"))
    #expect(text.contains("Allowed keys: name, entity_type, description, owner, refresh_interval, max_age, features"))
  }

  @Test("an unknown key with no close match lists the allowed keys without a suggestion")
  func unknownKeyWithoutSuggestion() {
    let text = message("groups:\n  - name: g\n    color: blue\n    features: [{name: f, dtype: INT}]\n")
    #expect(text.hasPrefix("features.yaml: group 'g': unknown key 'color'. Allowed keys:"))
    #expect(!text.contains("did you mean"))
  }

  @Test("an unknown feature-level key is rejected, naming the group and the feature")
  func unknownFeatureKey() {
    let text = message(oneFeature(dtype: "INT", "descripton: typo"))
    #expect(text.hasPrefix("features.yaml: group 'g', feature 'f': unknown key 'descripton'; did you mean 'description'?"))
    #expect(text.contains("Allowed keys: name, dtype, default, description"))
  }

  @Test("a group without a name is identified by its position and line")
  func missingGroupName() {
    let text = message("groups:\n  - name: ok\n    features: [{name: f, dtype: INT}]\n  - owner: me\n    features: [{name: f, dtype: INT}]\n")
    #expect(text == "features.yaml: group #2 (line 4): missing required key 'name'")
  }

  @Test("a feature without a name or without a dtype is rejected")
  func missingFeatureFields() {
    let noName = message("groups:\n  - name: g\n    features:\n      - name: a\n        dtype: INT\n      - dtype: INT\n")
    #expect(noName == "features.yaml: group 'g', feature #2 (line 6): missing required key 'name'")
    let noDType = message("groups:\n  - name: g\n    features:\n      - name: a\n")
    #expect(noDType == "features.yaml: group 'g', feature 'a': missing required key 'dtype'")
    let emptyName = message("groups:\n  - name: ''\n    features: [{name: f, dtype: INT}]\n")
    #expect(emptyName == "features.yaml: group #1 (line 2): 'name' must not be empty")
  }

  @Test("a group without features is rejected")
  func missingFeatures() {
    #expect(
      message("groups:\n  - name: g\n")
        == "features.yaml: group 'g': missing required key 'features' (a list of features, each with 'name' and 'dtype')"
    )
    #expect(message("groups:\n  - name: g\n    features: []\n") == "features.yaml: group 'g' has no features; define at least one")
    #expect(message("groups:\n  - name: g\n    features: price\n").hasPrefix("features.yaml: group 'g': 'features' must be a list"))
  }

  @Test("an unknown dtype is rejected with the list of valid ones")
  func unknownDType() {
    let text = message(
      """
      groups:
        - name: user_stats
          features:
            - name: x
              dtype: FLOT
      """
    )
    #expect(text == "features.yaml: group 'user_stats', feature 'x': unknown dtype 'FLOT'; use FLOAT, INT, STRING or EMBEDDING(dim)")
  }

  @Test("an unknown entity type is rejected with the list of valid ones")
  func unknownEntityType() {
    let text = message("groups:\n  - name: g\n    entity_type: CUSTOMER\n    features: [{name: f, dtype: INT}]\n")
    #expect(text == "features.yaml: group 'g': unknown entity_type 'CUSTOMER'; use USER, ITEM or SESSION")
  }

  @Test("a list where a single value is expected is rejected")
  func listForScalar() {
    let text = message("groups:\n  - name: g\n    owner: [a, b]\n    features: [{name: f, dtype: INT}]\n")
    #expect(text == "features.yaml: group 'g': 'owner' must be a single value, found a list")
  }

  // MARK: Defaults

  @Test("an INT default must be an integer")
  func intDefaultNotInteger() {
    #expect(
      message(oneFeature(dtype: "INT", "default: 1.5"))
        == "features.yaml: group 'g', feature 'f': default 1.5 is not an integer; the feature is INT (use FLOAT for fractional values)"
    )
    #expect(message(oneFeature(dtype: "INT", "default: many")) == "features.yaml: group 'g', feature 'f': default many is not an integer; the feature is INT")
    #expect(message(oneFeature(dtype: "INT", "default: \"5\"")) == "features.yaml: group 'g', feature 'f': default '5' is not an integer; the feature is INT")
    #expect(message(oneFeature(dtype: "INT", "default: [1]")) == "features.yaml: group 'g', feature 'f': default (a list) is not an integer; the feature is INT")
  }

  @Test("an INT default beyond 64 bits is out of range")
  func intDefaultOutOfRange() {
    #expect(message(oneFeature(dtype: "INT", "default: 99999999999999999999")).contains("default 99999999999999999999 is out of range for INT"))
  }

  @Test("a FLOAT default must be a number, not a string or a boolean")
  func floatDefaultNotNumber() {
    #expect(message(oneFeature(dtype: "FLOAT", "default: \"0.5\"")) == "features.yaml: group 'g', feature 'f': default '0.5' is not a number; the feature is FLOAT")
    #expect(message(oneFeature(dtype: "FLOAT", "default: abc")) == "features.yaml: group 'g', feature 'f': default abc is not a number; the feature is FLOAT")
    #expect(message(oneFeature(dtype: "FLOAT", "default: true")) == "features.yaml: group 'g', feature 'f': default true is not a number; the feature is FLOAT")
  }

  @Test("a NaN FLOAT default is rejected by spec validation, with the file name")
  func floatDefaultNaN() {
    #expect(message(oneFeature(dtype: "FLOAT", "default: .nan")) == "features.yaml: group 'g': default of feature 'f' is NaN or infinite")
  }

  @Test("an EMBEDDING default must be a list of numbers")
  func embeddingDefaultElements() {
    #expect(
      message(oneFeature(dtype: "EMBEDDING(3)", "default: [1, x, 3]"))
        == "features.yaml: group 'g', feature 'f': default element #2 x is not a number; EMBEDDING defaults are lists of numbers"
    )
    #expect(message(oneFeature(dtype: "EMBEDDING(3)", "default: [1, \"2\", 3]")).contains("default element #2 '2' is not a number"))
    #expect(message(oneFeature(dtype: "EMBEDDING(3)", "default: 0.5")).hasPrefix("features.yaml: group 'g', feature 'f': default 0.5 is not a list of numbers"))
  }

  @Test("an EMBEDDING default of the wrong length is rejected by spec validation")
  func embeddingDefaultLength() {
    #expect(
      message(oneFeature(dtype: "EMBEDDING(3)", "default: [1, 2]"))
        == "features.yaml: group 'g': default of feature 'f' has 2 elements; the embedding dimension is 3"
    )
  }

  @Test("a STRING default must be a single value")
  func stringDefaultList() {
    #expect(message(oneFeature(dtype: "STRING", "default: [a]")) == "features.yaml: group 'g', feature 'f': default must be a string for a STRING feature, found a list")
  }

  // MARK: Duplicates

  @Test("a key repeated in a group mapping is rejected with its line")
  func duplicateGroupKey() {
    let text = message(
      """
      groups:
        - name: g
          owner: a
          owner: b
          features: [{name: f, dtype: INT}]
      """
    )
    #expect(text.hasPrefix("features.yaml line 3: duplicate key 'owner' in the same mapping"))
  }

  @Test("a key repeated in a feature mapping is rejected")
  func duplicateFeatureKey() {
    let text = message(oneFeature(dtype: "INT", "dtype: FLOAT"))
    #expect(text.hasPrefix("features.yaml line 5: duplicate key 'dtype' in the same mapping"))
  }

  @Test("a repeated top-level groups key is rejected")
  func duplicateTopLevelKey() {
    let text = message("groups: []\ngroups:\n  - name: g\n    features: [{name: f, dtype: INT}]\n")
    #expect(text.contains("duplicate key 'groups'"))
  }

  @Test("keys that differ only in YAML type (1 and '1') count as duplicates")
  func duplicateKeyDifferentTags() {
    let text = message("groups:\n  - name: g\n    1: a\n    '1': b\n    features: [{name: f, dtype: INT}]\n")
    #expect(text == "features.yaml: group #1 (line 2): key '1' appears more than once (line 4); each key may appear only once")
  }

  @Test("two groups with the same name are rejected")
  func duplicateGroupNames() {
    let text = message(
      """
      groups:
        - name: user_stats
          features: [{name: f, dtype: INT}]
        - name: other
          features: [{name: f, dtype: INT}]
        - name: user_stats
          features: [{name: g, dtype: INT}]
      """
    )
    #expect(text == "features.yaml: group 'user_stats' is defined more than once (groups #1 and #3); group names must be unique")
  }

  @Test("two features with the same name are rejected by spec validation, with the file name")
  func duplicateFeatureNames() {
    let text = message("groups:\n  - name: g\n    features: [{name: f, dtype: INT}, {name: f, dtype: FLOAT}]\n")
    #expect(text == "features.yaml: group 'g': feature 'f' is defined more than once")
  }

  @Test("invalid names and embedding dimensions are rejected by spec validation")
  func specValidation() {
    #expect(message("groups:\n  - name: UserStats\n    features: [{name: f, dtype: INT}]\n").hasPrefix("features.yaml: group name 'UserStats' is invalid"))
    #expect(message("groups:\n  - name: g\n    features: [{name: 1f, dtype: INT}]\n").hasPrefix("features.yaml: group 'g': feature name '1f' is invalid"))
    #expect(
      message(oneFeature(dtype: "EMBEDDING(0)"))
        == "features.yaml: group 'g': feature 'f' has embedding dimension 0; it must be between 1 and 65536"
    )
  }

  // MARK: Loading files

  @Test("load reads and parses a file")
  func loadFile() throws {
    let path = temporaryPath("defs.yaml")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try oneFeature(dtype: "STRING", "default: hello").write(toFile: path, atomically: true, encoding: .utf8)
    let specs = try DefinitionFile.load(path: path)
    #expect(specs == [FeatureGroupSpec(name: "g", features: [FeatureSpec(name: "f", dtype: .string, defaultValue: .string("hello"))])])
  }

  @Test("load uses the path in error messages")
  func loadErrorNamesPath() throws {
    let path = temporaryPath("bad.yaml")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try oneFeature(dtype: "FLOT").write(toFile: path, atomically: true, encoding: .utf8)
    #expect(throws: StrataError.invalidArgument("\(path): group 'g', feature 'f': unknown dtype 'FLOT'; use FLOAT, INT, STRING or EMBEDDING(dim)")) {
      try DefinitionFile.load(path: path)
    }
  }

  @Test("load of a missing file is NOT_FOUND naming the path")
  func loadMissing() {
    let path = temporaryPath("missing.yaml")
    #expect(throws: StrataError(.notFound, "definition file '\(path)' does not exist")) {
      try DefinitionFile.load(path: path)
    }
  }

  @Test("load of a directory or of a non-UTF-8 file is INVALID_ARGUMENT")
  func loadUnreadable() throws {
    let directory = NSTemporaryDirectory()
    #expect(throws: StrataError.invalidArgument("'\(directory)' is a directory; pass the path of a YAML definition file")) {
      try DefinitionFile.load(path: directory)
    }
    let path = temporaryPath("latin1.yaml")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try Data([0x67, 0x72, 0x6F, 0x75, 0x70, 0x73, 0x3A, 0x20, 0xE9, 0x0A]).write(to: URL(fileURLWithPath: path))
    #expect(throws: StrataError.invalidArgument("definition file '\(path)' is not valid UTF-8")) {
      try DefinitionFile.load(path: path)
    }
  }
}

func temporaryPath(_ name: String) -> String {
  (NSTemporaryDirectory() as NSString).appendingPathComponent("strata-cli-test-\(UUID().uuidString)-\(name)")
}
