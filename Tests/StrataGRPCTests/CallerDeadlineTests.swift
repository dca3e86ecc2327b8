import GRPCCore
import GRPCInProcessTransport
import StrataCore
import StrataGRPC
import StrataProto
import Testing

@Suite("CallerDeadline: grpc-timeout parsing and internode timeouts")
struct CallerDeadlineTests {
  @Test("grpc-timeout values in every unit parse; malformed ones are ignored")
  func parse() {
    #expect(CallerDeadline.parseTimeout("1H") == .seconds(3600))
    #expect(CallerDeadline.parseTimeout("2M") == .seconds(120))
    #expect(CallerDeadline.parseTimeout("30S") == .seconds(30))
    #expect(CallerDeadline.parseTimeout("250m") == .milliseconds(250))
    #expect(CallerDeadline.parseTimeout("99999999u") == .microseconds(99_999_999))
    #expect(CallerDeadline.parseTimeout("7n") == .nanoseconds(7))
    for bad in ["", "m", "10", "10x", "-5m", "123456789m", "1.5S", " 5m", "5 m"] {
      #expect(CallerDeadline.parseTimeout(bad) == nil, "\(bad)")
    }
  }

  @Test("an internode call gets the call timeout, or the caller's remaining time when that is sooner")
  func viewTimeout() async throws {
    let ring = try HashRing(nodes: ["n1"], epoch: 1)
    let view = ClusterView<InProcessTransport.Client>(
      ring: ring, selfID: "n1", leaderID: "n1", peers: [:], addresses: [:], callTimeout: .seconds(30))
    #expect(view.timeout == .seconds(30))
    #expect(view.options.timeout == .seconds(30))
    #expect(!CallerDeadline.hasPassed)
    CallerDeadline.$current.withValue(.now + .seconds(2)) {
      #expect(view.timeout <= .seconds(2) && view.timeout > .seconds(1))
      #expect(view.options.timeout.map { $0 <= .seconds(2) } == true)
      #expect(!CallerDeadline.hasPassed)
    }
    CallerDeadline.$current.withValue(.now + .seconds(300)) {
      #expect(view.timeout == .seconds(30))
    }
    CallerDeadline.$current.withValue(.now - .seconds(1)) {
      #expect(view.timeout == .zero)
      #expect(CallerDeadline.hasPassed)
      let failure = view.failure(RPCError(code: .cancelled, message: "cancelled"), node: "n1")
      #expect(failure.code == .deadlineExceeded)
    }
  }
}
