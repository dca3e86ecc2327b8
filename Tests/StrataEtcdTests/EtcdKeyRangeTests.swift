import StrataEtcd
import Testing

@Suite("EtcdKeyRange and EtcdEndpoint (no etcd needed)")
struct EtcdKeyRangeTests {
  @Test("a prefix range ends at the prefix with its last byte below 0xff incremented")
  func prefixEnd() {
    #expect(EtcdKeyRange.prefix("a/").rangeEnd == Array("a0".utf8))
    #expect(EtcdKeyRange.prefix("a\u{7f}").rangeEnd == [0x61, 0x80])
    #expect(EtcdKeyRange.prefix("").key == [0])
    #expect(EtcdKeyRange.prefix("").rangeEnd == [0])
    #expect(EtcdKeyRange.key("k").rangeEnd.isEmpty)
  }

  @Test("contains: a prefix range holds exactly the keys with the prefix")
  func contains() {
    let range = EtcdKeyRange.prefix("a/")
    for key in ["a/", "a/b", "a/\u{10FFFF}"] { #expect(range.contains(Array(key.utf8)), "\(key)") }
    for key in ["a", "a0", "b", "a."] { #expect(!range.contains(Array(key.utf8)), "\(key)") }
    #expect(EtcdKeyRange.key("k").contains(Array("k".utf8)))
    #expect(!EtcdKeyRange.key("k").contains(Array("k2".utf8)))
  }

  @Test("endpoint lists parse host:port, drop http:// and duplicates, and reject junk with the text")
  func endpoints() throws {
    let parsed = try EtcdEndpoint.parseList("127.0.0.1:2379, http://etcd-2:22379/,127.0.0.1:2379,[::1]:2379")
    #expect(parsed.map(\.description) == ["127.0.0.1:2379", "etcd-2:22379", "[::1]:2379"])
    #expect(parsed[2].host == "::1")
    for junk in ["", "host", "host:0", "host:70000", ":2379", "a:b"] {
      #expect(throws: EtcdError.self, "\(junk)") { try EtcdEndpoint.parseList(junk) }
    }
    do {
      _ = try EtcdEndpoint.parseList("nohost")
    } catch {
      #expect(error.code == .invalidArgument)
      #expect(error.message.contains("nohost"))
    }
  }
}
