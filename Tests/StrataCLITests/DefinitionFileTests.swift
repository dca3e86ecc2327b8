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

  @Test("an empty file, null or missing groups and streams keys and a non-list groups or streams are rejected")
  func missingGroups() {
    #expect(message("") == "features.yaml: the file is empty; expected a top-level 'groups:' or 'streams:' list")
    #expect(message("# only a comment\n") == "features.yaml: the file is empty; expected a top-level 'groups:' or 'streams:' list")
    #expect(message("groups:\n") == "features.yaml: missing a top-level 'groups:' or 'streams:' list")
    #expect(message("groups:\nstreams:\n") == "features.yaml: missing a top-level 'groups:' or 'streams:' list")
    #expect(message("{}\n") == "features.yaml: missing a top-level 'groups:' or 'streams:' list")
    #expect(message("groups: user_stats\n").hasPrefix("features.yaml: 'groups' must be a list of groups"))
    #expect(message("streams: purchases\n").hasPrefix("features.yaml: 'streams' must be a list of streams"))
    #expect(
      message("- name: g\n").hasPrefix("features.yaml: expected a mapping with a 'groups:' or 'streams:' list at the top level, found a list"))
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

// MARK: - Streams and aggregate groups

/// The `purchases` stream of the examples, as a file's `streams:` section.
private let purchasesStream = """
  streams:
    - name: purchases
      fields:
        - {name: amount, dtype: FLOAT}
        - {name: quantity, dtype: INT}
        - {name: category, dtype: STRING}
  """

/// `purchasesStream` and a group over it whose only feature has the given lines.
private func oneAggregate(_ lines: String, groupExtra: String = "") -> String {
  purchasesStream + "\n" + """
    groups:
      - name: g
        stream: purchases\(groupExtra.isEmpty ? "" : "\n    " + groupExtra)
        features:
          - name: f
    \(lines.split(separator: "\n").map { "        " + $0 }.joined(separator: "\n"))
    """
}

/// The spec of feature `f` of `oneAggregate(lines)`.
private func aggregate(_ lines: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> FeatureSpec {
  let specs = try DefinitionFile.parse(yaml: oneAggregate(lines), fileName: "features.yaml")
  return try #require(specs.last?.features.first, sourceLocation: sourceLocation)
}

private let purchasesSpec = FeatureGroupSpec(
  name: "purchases",
  features: [
    FeatureSpec(name: "amount", dtype: .float), FeatureSpec(name: "quantity", dtype: .int),
    FeatureSpec(name: "category", dtype: .string),
  ],
  source: .events)

private func window(_ seconds: Int64) -> AggregationWindow {
  try! AggregationWindow(seconds: seconds)
}

@Suite("DefinitionFile: streams and aggregate groups")
struct StreamDefinitionTests {
  @Test("a file with a stream and an aggregate group over it produces the specs, streams first")
  func fullExample() throws {
    let yaml = """
      groups:                          # before streams: the result still lists the stream first
        - name: user_spend
          stream: purchases
          entity_type: USER
          description: "Spend per user"
          owner: ml-platform
          refresh_interval: 1m
          features:
            - name: spend_5m
              field: amount
              function: sum
              window: 5m
              default: 0
              description: "Spend in the last 5 minutes"
            - name: spend_30d
              field: amount
              function: SUM
              window: 30d
            - name: purchases_1h
              field: amount
              function: count
              window: 1h
              default: 0
            - name: avg_quantity_1h
              field: quantity
              function: avg
              window: 3600
            - name: max_quantity_2w
              field: quantity
              function: max
              window: 2w
              default: -1
            - name: last_category_90d
              field: category
              function: last
              window: 90d
              default: "none"
      streams:
        - name: purchases
          entity_type: user
          description: "One event per checkout"
          owner: checkout
          refresh_interval: 1m
          retention: 120d
          fields:
            - name: amount
              dtype: FLOAT
              description: "Order total"
            - name: quantity
              dtype: int
            - name: category
              dtype: STRING
      """
    let specs = try DefinitionFile.parse(yaml: yaml, fileName: "features.yaml")
    let stream = FeatureGroupSpec(
      name: "purchases", entityType: .user, description: "One event per checkout", owner: "checkout", refreshIntervalSeconds: 60,
      features: [
        FeatureSpec(name: "amount", dtype: .float, description: "Order total"),
        FeatureSpec(name: "quantity", dtype: .int),
        FeatureSpec(name: "category", dtype: .string),
      ],
      source: .events, retentionSeconds: 120 * 86_400)
    func agg(_ field: String, _ function: AggregateFunction, _ seconds: Int64) -> FeatureAggregation {
      FeatureAggregation(field: field, function: function, window: window(seconds))
    }
    let group = FeatureGroupSpec(
      name: "user_spend", entityType: .user, description: "Spend per user", owner: "ml-platform", refreshIntervalSeconds: 60,
      features: [
        FeatureSpec(
          name: "spend_5m", dtype: .float, defaultValue: .float(0), description: "Spend in the last 5 minutes",
          aggregation: agg("amount", .sum, 300)),
        FeatureSpec(name: "spend_30d", dtype: .float, aggregation: agg("amount", .sum, 30 * 86_400)),
        FeatureSpec(name: "purchases_1h", dtype: .int, defaultValue: .int(0), aggregation: agg("amount", .count, 3_600)),
        FeatureSpec(name: "avg_quantity_1h", dtype: .float, aggregation: agg("quantity", .avg, 3_600)),
        FeatureSpec(name: "max_quantity_2w", dtype: .int, defaultValue: .int(-1), aggregation: agg("quantity", .max, 14 * 86_400)),
        FeatureSpec(
          name: "last_category_90d", dtype: .string, defaultValue: .string("none"), aggregation: agg("category", .last, 90 * 86_400)),
      ],
      source: .aggregates(stream: "purchases", streamVersion: 0))
    #expect(specs == [stream, group])
    #expect(DefinitionFile.externalStreams(of: specs).isEmpty)
  }

  @Test("examples/streaming.yaml parses into the purchases stream and the user_spend group")
  func bundledExample() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let specs = try DefinitionFile.load(path: root.appendingPathComponent("examples/streaming.yaml").path)
    #expect(specs.map(\.name) == ["purchases", "user_spend"])
    #expect(specs[0].source == .events)
    #expect(specs[0].features.map(\.name) == ["amount", "category"])
    #expect(specs[1].source == .aggregates(stream: "purchases", streamVersion: 0))
    #expect(
      specs[1].features.map { "\($0.name): \($0.dtype) = \($0.aggregation.map(String.init(describing:)) ?? "-")" } == [
        "spend_5m: FLOAT = sum(amount) over 5m", "spend_1h: FLOAT = sum(amount) over 1h", "spend_30d: FLOAT = sum(amount) over 30d",
        "purchases_1h: INT = count(amount) over 1h", "avg_amount_1h: FLOAT = avg(amount) over 1h",
        "last_category_30d: STRING = last(category) over 30d",
      ])
  }

  @Test("a file with only streams is valid")
  func onlyStreams() throws {
    #expect(try DefinitionFile.parse(yaml: purchasesStream, fileName: "f.yaml") == [purchasesSpec])
  }

  // MARK: Derived types and defaults

  @Test(
    "an aggregate's type is derived: INT for count, FLOAT for avg, the field's type otherwise",
    arguments: [
      ("amount", "count", DType.int), ("category", "count", .int), ("quantity", "avg", .float), ("amount", "avg", .float),
      ("quantity", "sum", .int), ("amount", "sum", .float), ("category", "min", .string), ("quantity", "max", .int),
      ("amount", "last", .float), ("category", "last", .string),
    ] as [(String, String, DType)]
  )
  func derivedType(field: String, function: String, dtype: DType) throws {
    #expect(try aggregate("field: \(field)\nfunction: \(function)\nwindow: 1h").dtype == dtype)
  }

  @Test("a default is read with the derived type")
  func typedDefaults() throws {
    #expect(try aggregate("field: amount\nfunction: sum\nwindow: 1h\ndefault: 0").defaultValue == .float(0))
    #expect(try aggregate("field: quantity\nfunction: sum\nwindow: 1h\ndefault: 0").defaultValue == .int(0))
    #expect(try aggregate("field: category\nfunction: last\nwindow: 1h\ndefault: 42").defaultValue == .string("42"))
    let text = message(oneAggregate("field: amount\nfunction: count\nwindow: 1h\ndefault: 0.5"))
    #expect(text == "features.yaml: group 'g', feature 'f': default 0.5 is not an integer; the feature is INT (use FLOAT for fractional values)")
    let list = message(oneAggregate("field: amount\nfunction: avg\nwindow: 1h\ndefault: [1]"))
    #expect(list == "features.yaml: group 'g', feature 'f': default (a list) is not a number; the feature is FLOAT")
  }

  @Test("a group over a stream not in the file: types count and avg fix, else the default's YAML type, else a FLOAT placeholder")
  func unknownStream() throws {
    let yaml = """
      groups:
        - name: g
          stream: clicks
          features:
            - {name: n, field: x, function: count, window: 1h}
            - {name: s, field: x, function: sum, window: 1h, default: 0}
            - {name: t, field: x, function: sum, window: 1h, default: 0.5}
            - {name: l, field: x, function: last, window: 1h, default: none}
            - {name: m, field: x, function: min, window: 1h}
      """
    let spec = try #require(try DefinitionFile.parse(yaml: yaml, fileName: "f.yaml").first)
    #expect(spec.source == .aggregates(stream: "clicks", streamVersion: 0))
    #expect(spec.features.map(\.dtype) == [.int, .int, .float, .string, .float])
    #expect(spec.features.map(\.defaultValue) == [nil, .int(0), .float(0.5), .string("none"), nil])
    #expect(DefinitionFile.externalStreams(of: [spec]) == ["clicks"])
    let list = message("groups:\n  - name: g\n    stream: clicks\n    features: [{name: f, field: x, function: last, window: 1h, default: [1]}]\n")
    #expect(list == "features.yaml: group 'g', feature 'f': default (a list) is not a single value; an aggregate's default is a number or a string")
  }

  @Test("a registered stream passed as knownStreams types the aggregates; the file's own stream takes precedence")
  func knownStreams() throws {
    let yaml = "groups:\n  - name: g\n    stream: purchases\n    features: [{name: f, field: amount, function: sum, window: 1h, default: 0}]\n"
    let spec = try #require(try DefinitionFile.parse(yaml: yaml, fileName: "f.yaml", knownStreams: ["purchases": purchasesSpec]).first)
    #expect(spec.features[0].dtype == .float)
    #expect(spec.features[0].defaultValue == .float(0))
    // A registered group of rows with that name is no stream: the node reports it when applying.
    var rows = purchasesSpec
    rows.source = .rows
    let unchecked = try #require(try DefinitionFile.parse(yaml: yaml, fileName: "f.yaml", knownStreams: ["purchases": rows]).first)
    #expect(unchecked.features[0].defaultValue == .int(0))
    // The file's stream, where amount is an INT, wins over the registered one.
    let own = "streams:\n  - name: purchases\n    fields: [{name: amount, dtype: INT}]\n" + yaml
    let specs = try DefinitionFile.parse(yaml: own, fileName: "f.yaml", knownStreams: ["purchases": purchasesSpec])
    #expect(specs[1].features[0].dtype == .int)
    #expect(DefinitionFile.externalStreams(of: specs).isEmpty)
  }

  @Test("a field the stream lacks is rejected naming its fields and the closest one")
  func unknownField() {
    let text = message(oneAggregate("field: amout\nfunction: sum\nwindow: 1h"))
    #expect(
      text == "features.yaml: group 'g', feature 'f': stream 'purchases' has no field 'amout'; did you mean 'amount'? Its fields: amount, quantity, category")
  }

  @Test("sum and avg of a STRING field are rejected")
  func functionFieldMismatch() {
    for function in ["sum", "avg"] {
      let text = message(oneAggregate("field: category\nfunction: \(function)\nwindow: 1h"))
      #expect(
        text == "features.yaml: group 'g', feature 'f': \(function) needs a FLOAT or INT field, but 'category' of stream 'purchases' is STRING; count, min, max and last take any field")
    }
  }

  // MARK: Keys of aggregates

  @Test("an aggregate with a dtype is rejected: the type is derived")
  func aggregateWithDtype() {
    let text = message(oneAggregate("dtype: FLOAT\nfield: amount\nfunction: sum\nwindow: 1h"))
    #expect(
      text == "features.yaml: group 'g', feature 'f': remove 'dtype': the type of an aggregate is derived (INT for count, FLOAT for avg, the field's type for sum, min, max and last)")
  }

  @Test("an aggregate needs field, function and window", arguments: ["field", "function", "window"])
  func missingAggregationKey(key: String) {
    let lines = ["field: amount", "function: sum", "window: 1h"].filter { !$0.hasPrefix(key + ":") }.joined(separator: "\n")
    let text = message(oneAggregate(lines))
    #expect(
      text == "features.yaml: group 'g', feature 'f': missing required key '\(key)': every feature of a group over stream 'purchases' aggregates one of its fields, with field, function and window (e.g. field: amount, function: sum, window: 1h)")
    let null = message(oneAggregate(["field: amount", "function: sum", "window: 1h"].map { $0.hasPrefix(key + ":") ? key + ": null" : $0 }.joined(separator: "\n")))
    #expect(null.contains("missing required key '\(key)'"))
  }

  @Test("an unknown key of an aggregate lists the aggregate's keys")
  func unknownAggregateKey() {
    let text = message(oneAggregate("field: amount\nfunction: sum\nwindow: 1h\nwindows: 2h"))
    #expect(text.hasPrefix("features.yaml: group 'g', feature 'f': unknown key 'windows'; did you mean 'window'?"))
    #expect(text.hasSuffix("Allowed keys: name, field, function, window, default, description"))
  }

  @Test("field, function or window in a group without a stream ask for the group's stream", arguments: ["field", "function", "window"])
  func aggregationKeyWithoutStream(key: String) {
    let text = message(oneFeature(dtype: "FLOAT", "\(key): x"))
    #expect(
      text == "features.yaml: group 'g', feature 'f': unknown key '\(key)': field, function and window define an aggregate, but group 'g' reads no stream; set the group's stream (stream: NAME) to aggregate a stream's fields")
  }

  @Test("an unknown function lists the valid ones; names are case-insensitive")
  func unknownFunction() throws {
    let text = message(oneAggregate("field: amount\nfunction: median\nwindow: 1h"))
    #expect(text == "features.yaml: group 'g', feature 'f': unknown function 'median'; use count, sum, avg, min, max or last")
    #expect(try aggregate("field: amount\nfunction: Avg\nwindow: 1h").aggregation?.function == .avg)
  }

  @Test(
    "windows from 1m to 90d, with the units of durations or in plain seconds",
    arguments: [("1m", 60), ("60s", 60), ("5m", 300), ("3600", 3_600), ("2w", 1_209_600), ("90d", 7_776_000)] as [(String, Int64)])
  func windows(text: String, seconds: Int64) throws {
    #expect(try aggregate("field: amount\nfunction: sum\nwindow: \(text)").aggregation?.window == window(seconds))
  }

  @Test("a window out of range says 1m to 90d", arguments: ["30s", "59", "0", "0m", "91d", "13w", "-5m"])
  func windowOutOfRange(text: String) {
    #expect(message(oneAggregate("field: amount\nfunction: sum\nwindow: \(text)")) == "features.yaml: group 'g', feature 'f': window '\(text)' is out of range: use 1m to 90d")
  }

  @Test("a window that is not a duration is rejected naming the forms", arguments: ["1h30m", "abc", "1.5h", "5 minutes"])
  func windowNotDuration(text: String) {
    let message = message(oneAggregate("field: amount\nfunction: sum\nwindow: \(text)"))
    #expect(message.hasPrefix("features.yaml: group 'g', feature 'f': window '\(text)' is not a duration; use a whole number followed by s, m, h, d or w"))
    #expect(message.hasSuffix("from 1m to 90d"))
  }

  @Test("max_age on a group over a stream is rejected")
  func maxAgeOnAggregates() {
    let text = message(oneAggregate("field: amount\nfunction: sum\nwindow: 1h", groupExtra: "max_age: 30d"))
    #expect(
      text == "features.yaml: group 'g': max_age does not apply to a group over a stream (stream: purchases): each feature's window bounds the events it reads; remove it")
  }

  @Test("an empty stream name is rejected; a null one means no stream")
  func emptyStreamName() throws {
    #expect(message("groups:\n  - name: g\n    stream: ''\n    features: []\n") == "features.yaml: group 'g': 'stream' must not be empty")
    let specs = try DefinitionFile.parse(yaml: "groups:\n  - name: g\n    stream: null\n    features: [{name: f, dtype: INT}]\n", fileName: "f.yaml")
    #expect(specs.map(\.source) == [.rows])
  }

  @Test("a group listing 'fields' is pointed at 'streams:'")
  func groupWithFields() {
    let text = message("groups:\n  - name: g\n    fields: [{name: f, dtype: INT}]\n")
    #expect(
      text == "features.yaml: group 'g': unknown key 'fields': a group lists its 'features'; a stream, which lists 'fields', is declared under the top-level 'streams:'")
  }

  // MARK: Streams

  @Test("a stream field with a default is rejected, even a null one")
  func streamFieldDefault() {
    for value in ["0", "null"] {
      let text = message("streams:\n  - name: s\n    fields: [{name: a, dtype: INT, default: \(value)}]\n")
      #expect(
        text == "features.yaml: stream 's', field 'a': a stream's fields take no default: each event carries its own values (a missing one is null); set defaults on the features of a group that reads the stream")
    }
  }

  @Test("a stream field of type EMBEDDING or an unknown type is rejected")
  func streamFieldType() {
    let embedding = message("streams:\n  - name: s\n    fields: [{name: a, dtype: EMBEDDING(4)}]\n")
    #expect(
      embedding == "features.yaml: stream 's', field 'a': dtype EMBEDDING(4) is not allowed for a stream field: fields are FLOAT, INT or STRING (aggregates read scalars)")
    let unknown = message("streams:\n  - name: s\n    fields: [{name: a, dtype: BOOL}]\n")
    #expect(unknown == "features.yaml: stream 's', field 'a': unknown dtype 'BOOL'; a stream's fields are FLOAT, INT or STRING")
    let missing = message("streams:\n  - name: s\n    fields: [{name: a}]\n")
    #expect(missing == "features.yaml: stream 's', field 'a': missing required key 'dtype'")
  }

  @Test("field, function or window on a stream field are rejected", arguments: ["field", "function", "window"])
  func streamFieldAggregation(key: String) {
    let text = message("streams:\n  - name: s\n    fields: [{name: a, dtype: INT, \(key): x}]\n")
    #expect(
      text == "features.yaml: stream 's', field 'a': unknown key '\(key)': a stream's fields are plain values; aggregate them in the features of a group with 'stream: s'")
  }

  @Test("a stream's unknown keys, 'features' instead of 'fields', and a missing or empty fields list are rejected")
  func streamKeys() {
    let unknown = message("streams:\n  - name: s\n    max_age: 1d\n    fields: [{name: a, dtype: INT}]\n")
    #expect(unknown.hasPrefix("features.yaml: stream 's': unknown key 'max_age'"))
    #expect(unknown.hasSuffix("Allowed keys: name, entity_type, description, owner, refresh_interval, retention, fields, lineage"))
    let features = message("streams:\n  - name: s\n    features: [{name: a, dtype: INT}]\n")
    #expect(
      features == "features.yaml: stream 's': unknown key 'features': a stream lists its 'fields' (the values each event carries); aggregates over them are the features of a group with 'stream: s'")
    let missing = message("streams:\n  - name: s\n")
    #expect(missing == "features.yaml: stream 's': missing required key 'fields' (a list of fields, each with 'name' and 'dtype')")
    #expect(message("streams:\n  - name: s\n    fields: []\n") == "features.yaml: stream 's': 'fields' is empty; define at least one field")
    let fieldKey = message("streams:\n  - name: s\n    fields: [{name: a, dtype: INT, descripton: x}]\n")
    #expect(fieldKey.hasPrefix("features.yaml: stream 's', field 'a': unknown key 'descripton'; did you mean 'description'?"))
    #expect(message("streams:\n  - purchases\n") == "features.yaml: stream #1 (line 2): expected a mapping with 'name', 'fields', ..., found the value 'purchases'")
    #expect(message("streams:\n  - fields: []\n") == "features.yaml: stream #1 (line 2): missing required key 'name'")
  }

  @Test("invalid stream and field names and repeated fields are rejected in the stream's words")
  func streamNames() {
    let stream = message("streams:\n  - name: Purchases\n    fields: [{name: a, dtype: INT}]\n")
    #expect(
      stream == "features.yaml: stream 'Purchases': the name is invalid: use a lowercase letter followed by lowercase letters, digits or '_' (at most 63 characters)")
    let field = message("streams:\n  - name: s\n    fields: [{name: 1a, dtype: INT}]\n")
    #expect(field.hasPrefix("features.yaml: stream 's', field '1a': the name is invalid"))
    let repeated = message("streams:\n  - name: s\n    fields: [{name: a, dtype: INT}, {name: a, dtype: FLOAT}]\n")
    #expect(repeated == "features.yaml: stream 's': field 'a' is defined more than once")
  }

  @Test("two streams with one name, or a stream and a group with one name, are rejected")
  func duplicateNames() {
    let streams = message(purchasesStream + "\n  - name: purchases\n    fields: [{name: a, dtype: INT}]\n")
    #expect(streams == "features.yaml: stream 'purchases' is defined more than once (streams #1 and #2); stream names must be unique")
    let both = message(purchasesStream + "\ngroups:\n  - name: purchases\n    features: [{name: f, dtype: INT}]\n")
    #expect(
      both == "features.yaml: 'purchases' is defined both as a stream (streams #1) and as a group (groups #1); streams and groups share one namespace, so rename one")
  }
  @Test("a stream's and a group's 'lineage' mapping is read whole; unknown keys, a non-list upstream and bad values are rejected")
  func lineage() throws {
    let yaml = """
      streams:
        - name: purchases
          fields: [{name: amount, dtype: FLOAT}]
          lineage:
            source: "kafka://orders"
            pipeline: checkout
      groups:
        - name: user_stats
          features: [{name: n, dtype: INT}]
          lineage:
            source: warehouse.orders
            transformation: |
              SELECT user_id, count(*)
              FROM orders GROUP BY 1
            upstream: [purchases, purchases@1]
            pipeline: nightly
      """
    let specs = try DefinitionFile.parse(yaml: yaml, fileName: "features.yaml")
    #expect(specs.first { $0.name == "purchases" }?.lineage == Lineage(source: "kafka://orders", pipeline: "checkout"))
    #expect(
      specs.first { $0.name == "user_stats" }?.lineage
        == Lineage(
          source: "warehouse.orders", transformation: "SELECT user_id, count(*)\nFROM orders GROUP BY 1\n",
          upstream: ["purchases", "purchases@1"], pipeline: "nightly"))
    #expect(try DefinitionFile.parse(yaml: oneFeature(dtype: "INT"), fileName: "f.yaml")[0].lineage.isEmpty)

    let group = "groups:\n  - name: g\n    features: [{name: f, dtype: INT}]\n    lineage: "
    #expect(message(group + "{sorce: x}\n").hasPrefix("features.yaml: group 'g': lineage: unknown key 'sorce'; did you mean 'source'?"))
    #expect(
      message(group + "{upstream: purchases}\n")
        == "features.yaml: group 'g': lineage: 'upstream' must be a list of group or stream names (NAME or NAME@VERSION), found the value 'purchases'")
    #expect(message(group + "{upstream: [g]}\n") == "features.yaml: group 'g': lineage upstream 'g' is the group itself; list the groups and streams it is derived from")
    #expect(message(group + "x\n").hasPrefix("features.yaml: group 'g': lineage: expected a mapping"))
  }
}
