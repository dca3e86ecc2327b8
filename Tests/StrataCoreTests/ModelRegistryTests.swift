import Testing

@testable import StrataCore

private let t0 = Timestamp.seconds(1_700_000_000)

private func spec(_ name: String, _ features: [String]) -> FeatureGroupSpec {
  FeatureGroupSpec(name: name, features: features.map { FeatureSpec(name: $0, dtype: .float) })
}

private func refs(_ texts: String...) throws(StrataError) -> [FeatureRef] {
  var out: [FeatureRef] = []
  for t in texts { out.append(try FeatureRef(parsing: t)) }
  return out
}

private func labels(_ rows: [(String, Int64, Int64?)]) -> LabelSummary {
  var d = LabelDigest()
  for (e, t, k) in rows { d.add(entityID: e, time: Timestamp(microseconds: t), knownAt: k.map { Timestamp(microseconds: $0) }) }
  return d.summary()
}

/// users@1 (a, b), users@2 (a, b, c), one training set `ts1` over users@1.
private func registry() throws -> Catalog {
  var c = Catalog()
  _ = try c.apply([spec("users", ["a", "b"])], now: t0)
  _ = try c.apply([spec("users", ["a", "b", "c"])], now: t0)
  try c.saveTrainingSet(
    TrainingSet(name: "ts1", features: try refs("users@1:a", "users@1:b"), labels: labels([("u1", 1, nil)]), createdAt: t0, createdBy: "ann"))
  return c
}

@Suite("Models and training sets in the registry: registration, serving by model, deprecation and retirement")
struct ModelRegistryTests {
  @Test("SHA-256 matches the standard test vectors")
  func sha256() {
    func digest(_ s: [UInt8]) -> String {
      var h = SHA256()
      h.update(s)
      return SHA256.hex(h.finalize())
    }
    #expect(digest([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(digest(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    #expect(
      digest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmmnlmnomnopnopq".utf8))
        == "12ac64dda9dcf8cb1dd245b1d042cd78203b5a2d1d1804fcb96fcaf8875c08de")
    // 56 bytes pads into a second block; 1,000 bytes spans many (values from Python's hashlib).
    #expect(digest(Array(repeating: UInt8(ascii: "a"), count: 1_000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
  }

  @Test("the label checksum is the documented encoding (the value Python's hashlib computes), with range and known_at")
  func labelDigest() {
    let s = labels([("u1", 1_000, nil), ("ü2", -2_000, 1_500)])
    #expect(s.checksum == "sha256:99854020ac62da18b377394a9e2fc7d9d1c5f3c2f3d0ffd490d6392b242dc90e")
    #expect(s.rows == 2)
    #expect(s.firstLabelTime == Timestamp(microseconds: -2_000) && s.lastLabelTime == Timestamp(microseconds: 1_000))
    #expect(s.usedKnownAt)
    let none = labels([])
    #expect(none.rows == 0 && none.firstLabelTime == nil && !none.usedKnownAt)
    #expect(none.checksum == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(labels([("u1", 1, nil)]).checksum != labels([("u1", 1, 1)]).checksum, "known_at is part of the input")
  }

  @Test("a model pins its features: unpinned references and group:* resolve now, in order")
  func registerPins() throws {
    var c = try registry()
    let (m, created) = try c.registerModel(ModelRegistration(name: "ranker", features: try refs("users:c", "users@1:*")), at: t0)
    #expect(created && m.version == 1 && m.status == .active)
    #expect(m.features.map(\.description) == ["users@2:c", "users@1:a", "users@1:b"])
    // Registering the same again is a no-op; a changed definition without a version is the next one.
    let again = try c.registerModel(ModelRegistration(name: "ranker", features: try refs("users@2:c", "users@1:a", "users@1:b")), at: t0)
    #expect(!again.created && again.model.version == 1)
    let next = try c.registerModel(ModelRegistration(name: "ranker", features: try refs("users@2:a")), at: t0)
    #expect(next.created && next.model.version == 2)
    // A taken version with another definition is refused; a chosen free one is fine.
    expectStrataError(.alreadyExists, mentioning: ["ranker@1 is already registered", "register version 3"]) { () throws(StrataError) in
      _ = try c.registerModel(ModelRegistration(name: "ranker", version: 1, features: try refs("users@2:b")), at: t0)
    }
    let ten = try c.registerModel(ModelRegistration(name: "ranker", version: 10, features: try refs("users@2:b")), at: t0)
    #expect(ten.model.version == 10 && c.models["ranker"]!.map(\.version) == [1, 2, 10])
  }

  @Test("registration refuses unknown and duplicate features, bad names, retired and (unless forced) deprecated versions")
  func registerRefusals() throws {
    var c = try registry()
    let before = c
    expectStrataError(.notFound, mentioning: ["model 'm'", "no feature 'zz'"]) { () throws(StrataError) in
      _ = try c.registerModel(ModelRegistration(name: "m", features: try refs("users:zz")), at: t0)
    }
    expectStrataError(.notFound, mentioning: ["'nope' does not exist"]) { () throws(StrataError) in
      _ = try c.registerModel(ModelRegistration(name: "m", features: try refs("nope:a")), at: t0)
    }
    expectStrataError(.invalidArgument, mentioning: ["names users@2:a more than once"]) { () throws(StrataError) in
      _ = try c.registerModel(ModelRegistration(name: "m", features: try refs("users:a", "users@2:a")), at: t0)
    }
    expectStrataError(.invalidArgument, mentioning: ["model name 'bad name'"]) { () throws(StrataError) in
      _ = try c.registerModel(ModelRegistration(name: "bad name", features: try refs("users:a")), at: t0)
    }
    expectStrataError(.invalidArgument, mentioning: ["name its features", "training set"]) { () throws(StrataError) in
      _ = try c.registerModel(ModelRegistration(name: "m"), at: t0)
    }
    expectStrataError(.notFound, mentioning: ["training set 'ts9' does not exist"]) { () throws(StrataError) in
      _ = try c.registerModel(ModelRegistration(name: "m", trainingSet: "ts9"), at: t0)
    }
    expectStrataError(.invalidArgument, mentioning: ["reads users@2:a, which training set 'ts1' does not have", "users@1:a, users@1:b"]) {
      () throws(StrataError) in
      _ = try c.registerModel(ModelRegistration(name: "m", features: try refs("users:a"), trainingSet: "ts1"), at: t0)
    }
    #expect(c == before, "refusals change nothing")
    _ = try c.setStatus(.deprecated, group: "users", version: 1)
    expectStrataError(.failedPrecondition, mentioning: ["users@1 is DEPRECATED", "use users@2", "force"]) { () throws(StrataError) in
      _ = try c.registerModel(ModelRegistration(name: "m", trainingSet: "ts1"), at: t0)
    }
    let forced = try c.registerModel(ModelRegistration(name: "m", trainingSet: "ts1", force: true), at: t0)
    #expect(forced.model.features.map(\.description) == ["users@1:a", "users@1:b"] && forced.model.trainingSet == "ts1")
  }

  @Test("serving by model resolves exactly its columns; an archived model is refused; NAME is its newest ACTIVE version")
  func serveByModel() throws {
    var c = try registry()
    _ = try c.registerModel(ModelRegistration(name: "ranker", trainingSet: "ts1"), at: t0)
    _ = try c.registerModel(ModelRegistration(name: "ranker", features: try refs("users@2:c")), at: t0)
    let (m1, columns) = try c.resolve(model: try ModelReference(parsing: "ranker@1"))
    #expect(m1.version == 1 && columns.map(\.qualifiedName) == ["users@1:a", "users@1:b"])
    #expect(try c.resolve(model: ModelReference(name: "ranker")).model.version == 2)
    _ = try c.setModelStatus(.archived, model: "ranker", version: 2, at: t0, note: StatusNote(by: "ann", reason: "rolled back"))
    #expect(try c.resolve(model: ModelReference(name: "ranker")).model.version == 1)
    expectStrataError(.failedPrecondition, mentioning: ["ranker@2 is ARCHIVED", "serve ranker@1"]) { () throws(StrataError) in
      _ = try c.resolve(model: ModelReference(name: "ranker", version: 2))
    }
    expectStrataError(.notFound, mentioning: ["no version 7", "1, 2"]) { () throws(StrataError) in
      _ = try c.resolve(model: ModelReference(name: "ranker", version: 7))
    }
    expectStrataError(.invalidArgument, mentioning: ["not NAME or NAME@VERSION"]) { () throws(StrataError) in
      _ = try ModelReference(parsing: "a@b@c")
    }
    #expect(c.models["ranker"]![1].statusChanges == [ModelStatusChange(from: .active, to: .archived, at: t0, by: "ann", reason: "rolled back")])
  }

  @Test("RETIRED is refused while an ACTIVE model reads the version; archiving releases it; exports name the models")
  func deprecationWorkflow() throws {
    var c = try registry()
    _ = try c.registerModel(ModelRegistration(name: "ranker", trainingSet: "ts1"), at: t0)
    _ = try c.setStatus(.deprecated, group: "users", version: 1)
    let v1 = try c.group(named: "users", version: 1)
    let columns = try c.resolve(try refs("users@1:a"))
    expectStrataError(.failedPrecondition, mentioning: ["users@1 is DEPRECATED (still used by model ranker@1)", "users@2"]) {
      () throws(StrataError) in try c.checkExport(of: columns, force: false)
    }
    // Serving by the model goes on.
    #expect(try c.resolve(model: ModelReference(name: "ranker")).columns.map(\.group.version) == [1, 1])
    let before = c
    expectStrataError(.failedPrecondition, mentioning: ["users@1 cannot be RETIRED", "model ranker@1 still uses it", "strata models archive ranker@1"]) {
      () throws(StrataError) in _ = try c.setStatus(.retired, group: "users", version: 1)
    }
    #expect(c == before)
    // The next model version on v2, then the old one archived: v1 can be retired.
    _ = try c.registerModel(ModelRegistration(name: "ranker", features: try refs("users:a", "users:b")), at: t0)
    _ = try c.setModelStatus(.archived, model: "ranker", version: 1, at: t0)
    _ = try c.setStatus(.retired, group: "users", version: 1)
    #expect(c.activeModels(reading: v1).isEmpty)
    expectStrataError(.failedPrecondition, mentioning: ["ranker@1 cannot be ACTIVE again", "users@1, which is RETIRED"]) {
      () throws(StrataError) in _ = try c.setModelStatus(.active, model: "ranker", version: 1, at: t0)
    }
  }

  @Test("training sets: names are never reused, columns must be pinned registered features")
  func trainingSets() throws {
    var c = try registry()
    let set = try c.trainingSet(named: "ts1")
    try c.saveTrainingSet(set)  // the same manifest again: a no-op
    var other = set
    other.createdBy = "bob"
    expectStrataError(.alreadyExists, mentioning: ["training set 'ts1' already exists", "by ann"]) { () throws(StrataError) in
      try c.saveTrainingSet(other)
    }
    other.name = "ts2"
    other.features = try refs("users@3:a")
    expectStrataError(.notFound, mentioning: ["no version 3"]) { () throws(StrataError) in try c.saveTrainingSet(other) }
    other.features = try refs("users:a")
    expectStrataError(.invalidArgument, mentioning: ["not one pinned feature"]) { () throws(StrataError) in try c.saveTrainingSet(other) }
    expectStrataError(.invalidArgument, mentioning: ["training set name '-x'"]) { () throws(StrataError) in try c.checkNewTrainingSet(named: "-x") }
    #expect(c.allTrainingSets.map(\.name) == ["ts1"])
  }

  @Test("entries round trip: changes(since:) lists what a change made, adopt(entries:) takes them on another node")
  func entries() throws {
    let old = try registry()
    var c = old
    _ = try c.registerModel(ModelRegistration(name: "ranker", trainingSet: "ts1"), at: t0)
    _ = try c.setStatus(.deprecated, group: "users", version: 1)
    let changes = c.changes(since: old)
    #expect(changes.map(\.label) == ["users@1", "model ranker@1"])
    var follower = Catalog(entries: old.entries)
    #expect(follower == old)
    let adopted = try follower.adopt(entries: changes)
    #expect(adopted.map(\.label) == ["users@1", "model ranker@1"])
    #expect(follower == c)
    #expect(try follower.adopt(entries: changes).isEmpty, "adopting again changes nothing")
    var diverged = c.models["ranker"]![0]
    diverged.features = try refs("users@2:a")
    expectStrataError(.failedPrecondition, mentioning: ["model ranker@1 has another definition"]) { () throws(StrataError) in
      _ = try follower.adopt(entries: [.model(diverged)])
    }
  }

  @Test("the lineage graph lists the models and training sets reading the version or one derived from it")
  func lineage() throws {
    var c = try registry()
    var derived = spec("scores", ["s"])
    derived.lineage = Lineage(upstream: ["users@1"])
    _ = try c.apply([derived], now: t0)
    _ = try c.registerModel(ModelRegistration(name: "direct", trainingSet: "ts1"), at: t0)
    _ = try c.registerModel(ModelRegistration(name: "via", features: try refs("scores:s")), at: t0)
    _ = try c.registerModel(ModelRegistration(name: "other", features: try refs("users@2:a")), at: t0)
    let graph = LineageGraph(of: try c.group(named: "users", version: 1), in: c)
    #expect(graph.downstream.map(\.group.qualifiedName) == ["scores@1"])
    #expect(graph.models.map(\.qualifiedName) == ["direct@1", "via@1"])
    #expect(graph.trainingSets.map(\.name) == ["ts1"])
  }
}
