import Testing

@testable import StrataCore

private let t0 = Timestamp.seconds(1_700_000_000)

private func rows(_ name: String, upstream: [String] = [], x: DType = .float) -> FeatureGroupSpec {
  FeatureGroupSpec(name: name, features: [FeatureSpec(name: "x", dtype: x)], lineage: Lineage(upstream: upstream))
}

private func names(_ nodes: [LineageGraph.Node]) -> [String] { nodes.map { "\($0.depth):\($0.group.qualifiedName)" } }

@Suite("LineageGraph: versions derived from and derived into, from the registry")
struct LineageGraphTests {
  @Test("upstream and downstream are transitive, nearest first, each version once; an aggregate group is derived from its stream version")
  func transitive() throws {
    var catalog = Catalog()
    let stream = FeatureGroupSpec(name: "events", features: [FeatureSpec(name: "amount", dtype: .float)], source: .events)
    let spend = FeatureGroupSpec(
      name: "spend",
      features: [FeatureSpec(name: "s", dtype: .float, aggregation: FeatureAggregation(field: "amount", function: .sum, window: try AggregationWindow(seconds: 3_600)))],
      source: .aggregates(stream: "events", streamVersion: 0))
    _ = try catalog.apply([stream, spend, rows("a", upstream: ["events"]), rows("b", upstream: ["a", "spend"]), rows("c", upstream: ["b"]), rows("z")], now: t0)
    let c = try catalog.group(named: "c")
    let up = LineageGraph(of: c, in: catalog).upstream
    #expect(names(up) == ["1:b@1", "2:a@1", "2:spend@1", "3:events@1"])
    #expect(up.first { $0.group.name == "b" }?.derivedFrom == ["a@1", "spend@1"])
    #expect(up.first { $0.group.name == "spend" }?.derivedFrom == ["events@1"])
    let events = try catalog.group(named: "events")
    let graph = LineageGraph(of: events, in: catalog)
    #expect(graph.upstream.isEmpty)
    #expect(names(graph.downstream) == ["1:a@1", "1:spend@1", "2:b@1", "3:c@1"])
    let alone = LineageGraph(of: try catalog.group(named: "z"), in: catalog)
    #expect(alone.upstream.isEmpty && alone.downstream.isEmpty)
  }

  @Test("NAME follows the newest ACTIVE version (the newest when none is ACTIVE), NAME@V stays on V; cycles end")
  func resolution() throws {
    var catalog = Catalog()
    _ = try catalog.apply([rows("a"), rows("p", upstream: ["a"]), rows("q", upstream: ["a@1"])], now: t0)
    _ = try catalog.apply([rows("a", x: .int)], now: t0)  // a@2
    let a1 = try catalog.group(named: "a", version: 1)
    let a2 = try catalog.group(named: "a", version: 2)
    #expect(names(LineageGraph(of: a2, in: catalog).downstream) == ["1:p@1"])
    #expect(names(LineageGraph(of: a1, in: catalog).downstream) == ["1:q@1"])
    _ = try catalog.setStatus(.deprecated, group: "a", version: 2)
    #expect(names(LineageGraph(of: a1, in: catalog).downstream) == ["1:p@1", "1:q@1"], "a@1 is a's newest ACTIVE version now")
    _ = try catalog.setStatus(.deprecated, group: "a", version: 1)
    #expect(names(LineageGraph(of: a2, in: catalog).downstream) == ["1:p@1"], "no ACTIVE version: the newest")
    // A cycle through unpinned names: m -> n -> m.
    _ = try catalog.apply([rows("m"), rows("n", upstream: ["m"])], now: t0)
    _ = try catalog.apply([rows("m", upstream: ["n"])], now: t0)  // m@2
    let m2 = try catalog.group(named: "m")
    let graph = LineageGraph(of: m2, in: catalog)
    #expect(names(graph.upstream) == ["1:n@1"])
    #expect(names(graph.downstream) == ["1:n@1"])
  }
}
