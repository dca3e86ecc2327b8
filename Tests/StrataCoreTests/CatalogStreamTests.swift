import Testing

@testable import StrataCore

private let t0 = Timestamp.seconds(1_700_000_000)
private let t1 = Timestamp.seconds(1_700_000_100)

private func stream(_ name: String = "purchases", _ fields: [(String, DType)] = [("amount", .float), ("category", .string)]) -> FeatureGroupSpec {
  FeatureGroupSpec(name: name, features: fields.map { FeatureSpec(name: $0.0, dtype: $0.1) }, source: .events)
}

private func aggregate(_ name: String, _ field: String, _ function: AggregateFunction, _ seconds: Int64 = 3_600) -> FeatureSpec {
  FeatureSpec(name: name, dtype: .float, aggregation: FeatureAggregation(field: field, function: function, window: try! AggregationWindow(seconds: seconds)))
}

private func spend(_ features: [FeatureSpec], over streamName: String = "purchases") -> FeatureGroupSpec {
  FeatureGroupSpec(name: "user_spend", features: features, source: .aggregates(stream: streamName, streamVersion: 0))
}

private func expectError(_ code: StrataError.Code, _ fragment: String, _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
  do {
    try body()
    Issue.record("expected \(code) containing '\(fragment)'", sourceLocation: sourceLocation)
  } catch let error as StrataError {
    #expect(error.code == code && error.message.contains(fragment), "\(error)", sourceLocation: sourceLocation)
  } catch {
    Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
  }
}

@Suite("Catalog: streams and aggregate groups")
struct CatalogStreamTests {
  @Test("an aggregate group applied with its stream (in either order in one apply) records the stream version and derives each type")
  func resolvesStreamAndTypes() throws {
    var catalog = Catalog()
    let group = spend([
      aggregate("n_1h", "amount", .count), aggregate("spend_1h", "amount", .sum), aggregate("avg_1h", "amount", .avg),
      aggregate("top_category", "category", .max), aggregate("last_category", "category", .last),
    ])
    let (results, registered) = try catalog.apply([group, stream()], now: t0)
    #expect(results.map(\.group.name) == ["user_spend", "purchases"], "results in request order")
    #expect(registered.map(\.name) == ["purchases", "user_spend"], "the stream registers first")
    let resolved = results[0].group.spec
    #expect(resolved.source == .aggregates(stream: "purchases", streamVersion: 1))
    #expect(resolved.features.map(\.dtype) == [.int, .float, .float, .string, .string])
    // Re-applying the same files changes nothing.
    let again = try catalog.apply([stream(), group], now: t1)
    #expect(again.results.map(\.outcome) == [.unchanged, .unchanged])
    #expect(again.registered.isEmpty)
  }

  @Test("a new stream version makes a re-applied aggregate group a new version reading it; the old version keeps reading the old stream")
  func newStreamVersion() throws {
    var catalog = Catalog()
    let group = spend([aggregate("spend_1h", "amount", .sum)])
    _ = try catalog.apply([stream(), group], now: t0)
    _ = try catalog.apply([stream("purchases", [("amount", .float), ("category", .string), ("store", .string)])], now: t1)
    let (results, _) = try catalog.apply([group], now: t1)
    #expect(results[0].outcome == .newVersion)
    #expect(results[0].group.spec.source == .aggregates(stream: "purchases", streamVersion: 2))
    #expect(try catalog.group(named: "user_spend", version: 1).spec.source == .aggregates(stream: "purchases", streamVersion: 1))
  }

  @Test("bad definitions are refused with what to fix, and change nothing")
  func refusals() throws {
    var catalog = Catalog()
    _ = try catalog.apply([stream(), FeatureGroupSpec(name: "plain", features: [FeatureSpec(name: "x", dtype: .float)])], now: t0)
    let before = catalog
    expectError(.notFound, "does not exist") { _ = try catalog.apply([spend([aggregate("a", "amount", .sum)], over: "clicks")], now: t1) }
    expectError(.invalidArgument, "is a feature group of written rows; name a stream") { _ = try catalog.apply([spend([aggregate("a", "x", .sum)], over: "plain")], now: t1) }
    expectError(.notFound, "its fields are: amount, category") { _ = try catalog.apply([spend([aggregate("a", "price", .sum)])], now: t1) }
    expectError(.invalidArgument, "needs FLOAT or INT") { _ = try catalog.apply([spend([aggregate("a", "category", .avg)])], now: t1) }
    expectError(.invalidArgument, "has no aggregation") {
      _ = try catalog.apply([spend([aggregate("a", "amount", .sum), FeatureSpec(name: "b", dtype: .float)])], now: t1)
    }
    expectError(.invalidArgument, "reads no stream") {
      _ = try catalog.apply([FeatureGroupSpec(name: "g", features: [aggregate("a", "amount", .sum)])], now: t1)
    }
    expectError(.invalidArgument, "FLOAT, INT or STRING") {
      _ = try catalog.apply([FeatureGroupSpec(name: "s", features: [FeatureSpec(name: "v", dtype: .embedding(dimension: 3))], source: .events)], now: t1)
    }
    expectError(.invalidArgument, "take none") {
      _ = try catalog.apply([FeatureGroupSpec(name: "s", features: [FeatureSpec(name: "v", dtype: .int, defaultValue: .int(0))], source: .events)], now: t1)
    }
    expectError(.invalidArgument, "takes no max age") {
      var g = spend([aggregate("a", "amount", .sum)])
      g.maxAgeSeconds = 60
      _ = try catalog.apply([g], now: t1)
    }
    expectError(.failedPrecondition, "cannot change between stream and feature group") {
      _ = try catalog.apply([FeatureGroupSpec(name: "plain", features: [FeatureSpec(name: "x", dtype: .float)], source: .events)], now: t1)
    }
    expectError(.invalidArgument, "is for ITEM entities, but stream 'purchases' carries USER events") {
      var g = spend([aggregate("a", "amount", .sum)])
      g.entityType = .item
      _ = try catalog.apply([g], now: t1)
    }
    expectError(.invalidArgument, "only a stream has a retention") {
      var g = FeatureGroupSpec(name: "rows", features: [FeatureSpec(name: "x", dtype: .float)])
      g.retentionSeconds = 86_400
      _ = try catalog.apply([g], now: t1)
    }
    expectError(.invalidArgument, "retention must be at most 100 years") {
      var s = stream("forever")
      s.retentionSeconds = 10_000_000_000_000  // microseconds would overflow Int64
      _ = try catalog.apply([s], now: t1)
    }
    expectError(.invalidArgument, "retention must be at least 1 minute") {
      var s = stream("brief")
      s.retentionSeconds = 59
      _ = try catalog.apply([s], now: t1)
    }
    expectError(.invalidArgument, "longer than stream short@1's retention of 3600 seconds") {
      var s = stream("short")
      s.retentionSeconds = 3_600
      _ = try catalog.apply([s, spend([aggregate("a", "amount", .sum, 7_200)], over: "short")], now: t1)
    }
    // A bad aggregate group in an apply with a good stream: nothing of the apply is registered.
    expectError(.notFound, "does not have") { _ = try catalog.apply([stream("views"), spend([aggregate("a", "nope", .sum)], over: "views")], now: t1) }
    #expect(catalog == before)
  }
}
