import StrataEtcd
import StrataTestSupport
import Testing

extension EtcdTests {
  /// etcd answers nearly every request with a PING (grpc-go's bandwidth estimate), and swift-nio-http2
  /// closes a connection that receives more than 200 PINGs in 30 s, failing the calls open on it
  /// (`EtcdCallConnection`). A client under steady traffic must keep working through that.
  @Suite("steady traffic")
  struct SteadyTraffic {
    @Test("600 writes in a row all succeed, and a watch and a lease opened before them keep working")
    func manyWritesInARow() async throws {
      try await withEtcdAndClient { _, etcd in
        let start = try await etcd.put("steady/start", "0")
        let lease = try await etcd.grantLease(ttl: .seconds(5))
        let count = 600
        try await withThrowingTaskGroup(of: Void.self) { group in
          group.addTask { try await etcd.keepAlive(lease) }
          // Every write is a plain put: one that fails because its connection closed is not retried
          // (it may have been applied), so a closed connection fails the test.
          for i in 1...count {
            _ = try await etcd.put("steady/k\(i % 7)", "\(i)")
          }
          let events = try await etcd.watch(.prefix("steady/k"), fromRevision: start + 1) { events in
            var iterator = events.makeAsyncIterator()
            return try await collect(from: &iterator) { $0.keyValue.valueString == "\(count)" }
          }
          #expect(events.count == count)
          #expect(events.map(\.keyValue.valueString) == (1...count).map { "\($0)" })
          // The lease was renewed throughout, on the streams' connection.
          _ = try await etcd.put("steady/leased", "1", lease: lease.id)
          group.cancelAll()
        }
        #expect(try await etcd.get("steady/leased")?.valueString == "1")
      }
    }
  }
}
