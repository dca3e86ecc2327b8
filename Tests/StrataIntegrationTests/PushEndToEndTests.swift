import Foundation
import Testing

/// Streams through the CLI against a real node: `apply` of streams and aggregate groups, `push` with
/// its idempotency keys, and the aggregates `get` reads.
@Suite("CLI streams against a real node", .serialized)
struct PushEndToEndTests {
  static let definitions = """
    streams:
      - name: purchases
        fields:
          - {name: amount, dtype: FLOAT}
          - {name: category, dtype: STRING}
    groups:
      - name: user_spend
        stream: purchases
        features:
          - {name: spend_1h, field: amount, function: sum, window: 1h, default: 0}
          - {name: purchases_1h, field: amount, function: count, window: 1h}
          - {name: spend_1d, field: amount, function: sum, window: 1d}
          - {name: last_category_1d, field: category, function: last, window: 1d}
      - name: user_stats
        features: [{name: n, dtype: INT}]
    """

  /// A group over the registered stream, from a file that does not define it: `default: 0` must be
  /// read as the FLOAT the sum of `amount` is.
  static let laterGroup = """
    groups:
      - name: user_spend_5m
        stream: purchases
        features: [{name: spend_5m, field: amount, function: sum, window: 5m, default: 0}]
    """

  /// `seconds` ago, RFC 3339.
  static func ago(_ seconds: Int) -> String {
    let formatter = ISO8601DateFormatter()
    return formatter.string(from: Date().addingTimeInterval(-Double(seconds)))
  }

  @Test("apply + push + rerun (duplicates) + get of the aggregates")
  func pushAndRead() throws {
    let (dir, server) = try startNode()
    defer { dir.cleanup() }
    let s = server.address

    var r = try strata(["apply", try dir.file("defs.yaml", Self.definitions)], server: s)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("purchases@1\tcreated\t(stream)"), "\(r.stdout)")
    #expect(r.stdout.contains("user_spend@1\tcreated\t(aggregates of purchases)"), "\(r.stdout)")
    r = try strata(["apply", try dir.file("later.yaml", Self.laterGroup)], server: s)
    #expect(r.status == 0, "a default of a group over a registered stream takes the field's type: \(r.stderr)")

    let events = try dir.file(
      "events.csv",
      """
      entity_id,event_timestamp,amount,category
      u1,\(Self.ago(7_200)),5,books
      u1,\(Self.ago(120)),10,music
      u2,\(Self.ago(100)),1.5,
      u1,\(Self.ago(60)),20,

      """)
    r = try strata(["push", "--stream", "purchases", "--batch-rows", "2", events], server: s)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.hasPrefix("pushed 4 events into purchases@1 in 2 batches"), "\(r.stdout)")
    #expect(r.stdout.contains("0 late events, 0 batches already applied (duplicates)"), "\(r.stdout)")

    r = try strata(["push", "--stream", "purchases", "--batch-rows", "2", events], server: s)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.hasPrefix("pushed 0 events into purchases@1 in 2 batches"), "the rerun stores nothing: \(r.stdout)")
    #expect(r.stdout.contains("2 batches already applied (duplicates): their 4 events were not stored again"), "\(r.stdout)")

    r = try strata(["get", "--entity", "u1", "--features", "user_spend:*,user_spend_5m:spend_5m", "--json"], server: s)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("\"user_spend@1:spend_1h\":{\"value\":30.0,"), "\(r.stdout)")
    #expect(r.stdout.contains("\"user_spend@1:purchases_1h\":{\"value\":2,"), "\(r.stdout)")
    #expect(r.stdout.contains("\"user_spend@1:spend_1d\":{\"value\":35.0,"), "\(r.stdout)")
    #expect(r.stdout.contains("\"user_spend@1:last_category_1d\":{\"value\":\"music\","), "the latest non-null category: \(r.stdout)")
    #expect(r.stdout.contains("\"user_spend_5m@1:spend_5m\":{\"value\":30.0,"), "\(r.stdout)")

    r = try strata(["describe", "user_spend"], server: s)
    #expect(r.stdout.contains("kind:         aggregates of purchases@1"), "\(r.stdout)")
    #expect(r.stdout.contains("sum(amount) over 1h"), "\(r.stdout)")
  }

  @Test("push refuses groups that are not streams, and a bad row stops it naming the lines stored")
  func pushErrors() throws {
    let (dir, server) = try startNode(definitions: Self.definitions)
    defer { dir.cleanup() }
    let s = server.address

    let good = try dir.file("good.csv", "entity_id,event_timestamp,amount\nu1,\(Self.ago(10)),1\n")
    var r = try strata(["push", "--stream", "user_stats", good], server: s)
    #expect(r.status != 0)
    #expect(r.stderr.contains("user_stats@1 is a feature group of rows, not a stream"), "\(r.stderr)")
    r = try strata(["push", "--stream", "user_spend", good], server: s)
    #expect(r.stderr.contains("aggregates the stream 'purchases'"), "\(r.stderr)")

    let bad = try dir.file(
      "bad.csv",
      "entity_id,event_timestamp,amount\nu1,\(Self.ago(30)),1\nu1,\(Self.ago(20)),2\nu1,\(Self.ago(10)),lots\n")
    r = try strata(["push", "--stream", "purchases", "--batch-rows", "2", bad], server: s)
    #expect(r.status != 0)
    #expect(r.stderr.contains("bad.csv line 4, column 'amount': 'lots' is not a number (the field is FLOAT)"), "\(r.stderr)")
    #expect(r.stderr.contains("stopped: 1 batches (2 events, lines 2-3) were acknowledged"), "\(r.stderr)")
  }
}
