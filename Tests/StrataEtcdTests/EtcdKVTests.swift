import StrataEtcd
import StrataTestSupport
import Testing

extension EtcdTests {
  @Suite("get, put, delete")
  struct KV {
    @Test("put returns increasing revisions; get sees create/mod revision and version; old revisions stay readable")
    func putGetRevisions() async throws {
      try await withEtcdAndClient { _, etcd in
        #expect(try await etcd.get("k") == nil)
        let r1 = try await etcd.put("k", "one")
        let r2 = try await etcd.put("k", "two")
        let other = try await etcd.put("other", "x")
        #expect(r1 < r2 && r2 < other)

        let kv = try #require(try await etcd.get("k"))
        #expect(kv.valueString == "two")
        #expect(kv.createRevision == r1)
        #expect(kv.modRevision == r2)
        #expect(kv.version == 2)
        #expect(kv.lease == 0)

        // The store as of r1: the first value, and "other" did not exist yet.
        #expect(try await etcd.get("k", revision: r1)?.valueString == "one")
        #expect(try await etcd.get("other", revision: r1) == nil)
        let latest = try await etcd.get(.key("k"))
        #expect(latest.revision == other, "a read reports the store revision, not the key's")

        await #expect {
          _ = try await etcd.get("k", revision: other + 100)
        } throws: { ($0 as? EtcdError)?.code == .futureRevision }
      }
    }

    @Test("a prefix range returns exactly the keys with the prefix, in key order, with limit and count")
    func prefixRange() async throws {
      try await withEtcdAndClient { _, etcd in
        for key in ["a/3", "a/1", "a0", "a", "a/2", "b/1", "a/"] { try await etcd.put(key, "v-\(key)") }
        let all = try await etcd.get(.prefix("a/"))
        #expect(all.keyValues.map(\.key) == ["a/", "a/1", "a/2", "a/3"])
        #expect(all.keyValues.map(\.valueString) == ["v-a/", "v-a/1", "v-a/2", "v-a/3"])
        #expect(all.count == 4)
        #expect(!all.more)

        let two = try await etcd.get(.prefix("a/"), limit: 2)
        #expect(two.keyValues.map(\.key) == ["a/", "a/1"])
        #expect(two.more)
        #expect(two.count == 4)

        let everything = try await etcd.get(.prefix(""))
        #expect(everything.keyValues.count == 7)
      }
    }

    @Test("delete removes a key or a prefix and reports the count; the history before it stays readable")
    func delete() async throws {
      try await withEtcdAndClient { _, etcd in
        for key in ["p/1", "p/2", "p/3", "q"] { try await etcd.put(key, key) }
        let before = try await etcd.get(.prefix("")).revision

        let none = try await etcd.delete(.key("missing"))
        #expect(none.deleted == 0)
        #expect(none.revision == before, "deleting nothing does not change the revision")

        let one = try await etcd.delete(.key("q"))
        #expect(one.deleted == 1)
        #expect(one.revision == before + 1)
        #expect(try await etcd.get("q") == nil)

        let prefix = try await etcd.delete(.prefix("p/"))
        #expect(prefix.deleted == 3)
        #expect(prefix.revision == before + 2, "one delete of many keys is one revision")
        #expect(try await etcd.get(.prefix("")).keyValues.isEmpty)
        #expect(try await etcd.get(.prefix("p/"), revision: before).keyValues.count == 3)
      }
    }
  }
}
