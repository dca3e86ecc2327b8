import Testing

@testable import StrataCore

@Suite("FeatureGroupSpec.validate: what a definition must satisfy")
struct FeatureGroupSpecTests {
  static func spec(
    name: String = "user_stats",
    refresh: Int64? = 3_600,
    maxAge: Int64? = 86_400,
    features: [FeatureSpec] = [FeatureSpec(name: "score", dtype: .float)]
  ) -> FeatureGroupSpec {
    FeatureGroupSpec(
      name: name, entityType: .user, description: "d", owner: "o", refreshIntervalSeconds: refresh,
      maxAgeSeconds: maxAge, features: features)
  }

  static let longestValidName = "a" + String(repeating: "b", count: 62)  // 63 characters

  @Test("a well-formed spec with every dtype and conforming defaults is valid")
  func valid() throws {
    let s = Self.spec(features: [
      FeatureSpec(name: "f", dtype: .float, defaultValue: .float(0)),
      FeatureSpec(name: "i", dtype: .int, defaultValue: .int(-1)),
      FeatureSpec(name: "s", dtype: .string, defaultValue: .string("")),
      FeatureSpec(name: "e", dtype: .embedding(dimension: 3), defaultValue: .embedding([0, 1, 2])),
      FeatureSpec(name: "e1", dtype: .embedding(dimension: 1)),
      FeatureSpec(name: "emax", dtype: .embedding(dimension: DType.maxEmbeddingDimension)),
      FeatureSpec(name: Self.longestValidName, dtype: .int),
    ])
    try s.validate()
    try Self.spec(refresh: nil, maxAge: nil).validate()
    try Self.spec(refresh: 1, maxAge: 1).validate()
  }

  @Test(
    "valid names: lowercase letter first, then lowercase letters, digits, '_'; at most 63 characters",
    arguments: ["a", "z", "user_stats", "a1", "a_", "x9_y8", "a__b", longestValidName]
  )
  func validNames(name: String) throws {
    #expect(FeatureGroupSpec.isValidName(name))
    try Self.spec(name: name).validate()
    try Self.spec(features: [FeatureSpec(name: name, dtype: .int)]).validate()
  }

  static let invalidNames = [
    "",  // empty
    "User_stats",  // uppercase
    "userStats",
    "USER",
    "1user",  // leading digit
    "_user",  // leading underscore
    "user-stats",  // '-'
    "user stats",
    "user.stats",
    "user:stats",
    "user@stats",
    "üser",  // non-ASCII
    "usér",
    longestValidName + "c",  // 64 characters
  ]

  @Test("invalid group names are INVALID_ARGUMENT naming the group", arguments: invalidNames)
  func invalidGroupName(name: String) {
    #expect(!FeatureGroupSpec.isValidName(name))
    expectStrataError(.invalidArgument, mentioning: ["group name '\(name)' is invalid"]) {
      () throws(StrataError) in try Self.spec(name: name).validate()
    }
  }

  @Test("invalid feature names are INVALID_ARGUMENT naming group and feature", arguments: invalidNames)
  func invalidFeatureName(name: String) {
    expectStrataError(.invalidArgument, mentioning: ["user_stats", "feature name '\(name)' is invalid"]) {
      () throws(StrataError) in
      try Self.spec(features: [FeatureSpec(name: "ok", dtype: .int), FeatureSpec(name: name, dtype: .int)]).validate()
    }
  }

  @Test("a feature defined twice is rejected")
  func duplicateFeature() {
    expectStrataError(.invalidArgument, mentioning: ["user_stats", "'score'", "more than once"]) {
      () throws(StrataError) in
      try Self.spec(features: [
        FeatureSpec(name: "score", dtype: .float),
        FeatureSpec(name: "other", dtype: .int),
        FeatureSpec(name: "score", dtype: .int),
      ]).validate()
    }
  }

  @Test("a group without features is rejected")
  func noFeatures() {
    expectStrataError(.invalidArgument, mentioning: ["user_stats", "no features"]) {
      () throws(StrataError) in try Self.spec(features: []).validate()
    }
  }

  @Test("more than maxFeatures features is rejected; exactly maxFeatures is fine")
  func tooManyFeatures() throws {
    let many = (0...FeatureGroupSpec.maxFeatures).map { FeatureSpec(name: "f\($0)", dtype: .int) }
    expectStrataError(.invalidArgument, mentioning: ["\(FeatureGroupSpec.maxFeatures + 1) features"]) {
      () throws(StrataError) in try Self.spec(features: many).validate()
    }
    try Self.spec(features: Array(many.dropLast())).validate()
  }

  @Test("embedding dimension must be between 1 and 65536", arguments: [0, -1, 65_537, Int.max])
  func embeddingDimension(dimension: Int) {
    expectStrataError(.invalidArgument, mentioning: ["'vec'", "embedding dimension \(dimension)"]) {
      () throws(StrataError) in
      try Self.spec(features: [FeatureSpec(name: "vec", dtype: .embedding(dimension: dimension))]).validate()
    }
  }

  @Test(
    "a default of the wrong type is rejected (exact dtype match, no int/float coercion)",
    arguments: [
      (DType.float, FeatureValue.int(1)),
      (.int, .float(1)),
      (.string, .int(1)),
      (.int, .string("1")),
      (.float, .embedding([1])),
      (.embedding(dimension: 1), .float(1)),
    ]
  )
  func defaultWrongType(dtype: DType, value: FeatureValue) {
    expectStrataError(.invalidArgument, mentioning: ["default of feature 'x'", value.kindName, dtype.description]) {
      () throws(StrataError) in
      try Self.spec(features: [FeatureSpec(name: "x", dtype: dtype, defaultValue: value)]).validate()
    }
  }

  @Test(
    "a NaN or infinite default is rejected",
    arguments: [
      (DType.float, FeatureValue.float(.nan)),
      (.float, .float(.infinity)),
      (.float, .float(-.infinity)),
      (.float, .float(.signalingNaN)),
      (.embedding(dimension: 2), .embedding([1, .nan])),
      (.embedding(dimension: 2), .embedding([.infinity, 0])),
    ]
  )
  func nonFiniteDefault(dtype: DType, value: FeatureValue) {
    expectStrataError(.invalidArgument, mentioning: ["default of feature 'x'", "NaN or infinite"]) {
      () throws(StrataError) in
      try Self.spec(features: [FeatureSpec(name: "x", dtype: dtype, defaultValue: value)]).validate()
    }
  }

  @Test("an embedding default with the wrong number of elements is rejected")
  func embeddingDefaultDimension() {
    expectStrataError(.invalidArgument, mentioning: ["'x'", "2 elements", "dimension is 3"]) {
      () throws(StrataError) in
      try Self.spec(features: [FeatureSpec(name: "x", dtype: .embedding(dimension: 3), defaultValue: .embedding([1, 2]))])
        .validate()
    }
  }

  @Test("max age must be positive when declared", arguments: [0, -1, Int64.min])
  func maxAge(seconds: Int64) {
    expectStrataError(.invalidArgument, mentioning: ["user_stats", "max age", "\(seconds)"]) {
      () throws(StrataError) in try Self.spec(maxAge: seconds).validate()
    }
  }

  @Test("refresh interval must be positive when declared", arguments: [0, -1, Int64.min])
  func refreshInterval(seconds: Int64) {
    expectStrataError(.invalidArgument, mentioning: ["user_stats", "refresh interval", "\(seconds)"]) {
      () throws(StrataError) in try Self.spec(refresh: seconds).validate()
    }
  }

  @Test("specs are equal exactly when every field is equal (the catalog's change detection)")
  func equality() {
    let base = Self.spec()
    #expect(base == Self.spec())
    var changed = base
    changed.description = "other"
    #expect(changed != base)
    changed = base
    changed.features[0].defaultValue = .float(1)
    #expect(changed != base)
    changed = base
    changed.maxAgeSeconds = nil
    #expect(changed != base)
    changed = base
    changed.features.append(FeatureSpec(name: "more", dtype: .int))
    #expect(changed != base)
  }
}

@Suite("DType: parsing and printing")
struct DTypeTests {
  @Test(
    "type names parse case-insensitively",
    arguments: [
      ("FLOAT", DType.float), ("float", .float), ("double", .float), ("INT", .int), ("int64", .int),
      ("Integer", .int), ("string", .string), ("EMBEDDING(64)", .embedding(dimension: 64)),
      ("embedding( 3 )", .embedding(dimension: 3)),
    ]
  )
  func parse(text: String, dtype: DType) {
    #expect(DType(parsing: text) == dtype)
  }

  @Test("unknown type names do not parse", arguments: ["", "bool", "EMBEDDING", "EMBEDDING()", "EMBEDDING(x)", "EMBEDDING(3"])
  func parseInvalid(text: String) {
    #expect(DType(parsing: text) == nil)
  }

  @Test("description is the canonical upper-case name")
  func description() {
    #expect(DType.float.description == "FLOAT")
    #expect(DType.int.description == "INT")
    #expect(DType.string.description == "STRING")
    #expect(DType.embedding(dimension: 8).description == "EMBEDDING(8)")
  }
}
