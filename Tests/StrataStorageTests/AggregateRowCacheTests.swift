import StrataCore
import Testing

@testable import StrataStorage

/// The cache's own rules, one at a time: the validity interval, invalidation racing a read (a row
/// computed from a snapshot older than an invalidation is never stored), clearing, and the bound.
@Suite("Aggregate row cache")
struct AggregateRowCacheTests {
  private func row(_ v: Double) -> StoredRow {
    StoredRow(eventTime: .seconds(10), createdTime: .seconds(11), sequence: 1, values: [.float(v)])
  }

  @Test("a row answers request times in from..<until only, per stream, group and entity")
  func interval() {
    let cache = AggregateRowCache()
    let g = cache.beginRead()
    cache.store(stream: 1, group: 2, entityID: "a", row: row(1), from: .seconds(100), until: .seconds(200), readGeneration: g)
    cache.endRead()
    #expect(cache.row(stream: 1, group: 2, entityID: "a", at: .seconds(99)) == nil)
    #expect(cache.row(stream: 1, group: 2, entityID: "a", at: .seconds(100)) == row(1))
    #expect(cache.row(stream: 1, group: 2, entityID: "a", at: Timestamp(microseconds: 200_000_000 - 1)) == row(1))
    #expect(cache.row(stream: 1, group: 2, entityID: "a", at: .seconds(200)) == nil)
    #expect(cache.row(stream: 1, group: 3, entityID: "a", at: .seconds(150)) == nil)
    #expect(cache.row(stream: 2, group: 2, entityID: "a", at: .seconds(150)) == nil)
    #expect(cache.row(stream: 1, group: 2, entityID: "b", at: .seconds(150)) == nil)
    #expect(cache.counters.hits == 2)
    #expect(cache.rows(stream: 1, group: 2, entityIDs: ["b", "a", "a"], at: .seconds(150)) == [nil, row(1), row(1)])
    #expect(cache.counters.hits == 4 && cache.counters.misses == 6)
  }

  @Test("a row read before an invalidation of its entity (or a clear) is not stored; other entities' rows are")
  func invalidationRacesARead() {
    let cache = AggregateRowCache()
    let before = cache.beginRead()
    cache.invalidate(stream: 1, entityIDs: ["a"])
    cache.store(stream: 1, group: 2, entityID: "a", row: row(1), from: .seconds(0), until: .max, readGeneration: before)
    cache.store(stream: 1, group: 2, entityID: "b", row: row(2), from: .seconds(0), until: .max, readGeneration: before)
    #expect(cache.row(stream: 1, group: 2, entityID: "a", at: .seconds(5)) == nil)
    #expect(cache.row(stream: 1, group: 2, entityID: "b", at: .seconds(5)) == row(2))
    let after = cache.beginRead()
    cache.store(stream: 1, group: 2, entityID: "a", row: row(3), from: .seconds(0), until: .max, readGeneration: after)
    #expect(cache.row(stream: 1, group: 2, entityID: "a", at: .seconds(5)) == row(3))
    // An invalidation removes what is stored.
    cache.invalidate(stream: 1, entityIDs: ["a"])
    #expect(cache.row(stream: 1, group: 2, entityID: "a", at: .seconds(5)) == nil)
    // A clear removes everything, and drops rows read before it.
    cache.clear()
    #expect(cache.row(stream: 1, group: 2, entityID: "b", at: .seconds(5)) == nil)
    cache.store(stream: 1, group: 2, entityID: "c", row: row(4), from: .seconds(0), until: .max, readGeneration: after)
    #expect(cache.row(stream: 1, group: 2, entityID: "c", at: .seconds(5)) == nil)
    cache.endRead()
    cache.endRead()
  }

  @Test("invalidations are recorded only while reads are in flight, and forgotten when none is")
  func invalidationRecords() {
    let cache = AggregateRowCache()
    cache.invalidate(stream: 1, entityIDs: ["a", "b"])
    #expect(cache.recordedInvalidations == 0)
    let first = cache.beginRead()
    cache.invalidate(stream: 1, entityIDs: ["a"])
    let second = cache.beginRead()
    cache.invalidate(stream: 1, entityIDs: ["b"])
    #expect(cache.recordedInvalidations == 2)
    cache.endRead()
    // The read still in flight (either one) must still have its rows of "a" and "b" dropped.
    cache.store(stream: 1, group: 2, entityID: "a", row: row(1), from: .seconds(0), until: .max, readGeneration: first)
    cache.store(stream: 1, group: 2, entityID: "b", row: row(2), from: .seconds(0), until: .max, readGeneration: second)
    #expect(cache.row(stream: 1, group: 2, entityID: "a", at: .seconds(1)) == nil)
    #expect(cache.row(stream: 1, group: 2, entityID: "b", at: .seconds(1)) == nil)
    cache.endRead()
    #expect(cache.recordedInvalidations == 0)
    let third = cache.beginRead()
    cache.store(stream: 1, group: 2, entityID: "a", row: row(3), from: .seconds(0), until: .max, readGeneration: third)
    cache.endRead()
    #expect(cache.row(stream: 1, group: 2, entityID: "a", at: .seconds(1)) == row(3))
  }

  @Test("past its capacity the cache empties itself instead of growing")
  func bounded() {
    let cache = AggregateRowCache(capacity: 2)
    for (i, e) in ["a", "b", "c"].enumerated() {
      cache.store(stream: 1, group: 2, entityID: e, row: row(Double(i)), from: .seconds(0), until: .max, readGeneration: cache.beginRead())
      cache.endRead()
    }
    #expect(cache.row(stream: 1, group: 2, entityID: "a", at: .seconds(1)) == nil)
    #expect(cache.row(stream: 1, group: 2, entityID: "c", at: .seconds(1)) == row(2))
  }
}

extension AggregateRowCache {
  /// One entity's cached row at `time`, counted like a lookup (`rows(stream:group:entityIDs:at:)`).
  fileprivate func row(stream: UInt32, group: UInt32, entityID: String, at time: Timestamp) -> StoredRow? {
    rows(stream: stream, group: group, entityIDs: [entityID], at: time)[0]
  }
}
