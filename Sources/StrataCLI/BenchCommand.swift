internal import ArgumentParser
internal import Foundation
internal import GRPCCore
internal import StrataCore
internal import StrataProto
internal import SwiftProtobuf

struct BenchCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench-get",
    abstract: "Measure online lookup latency over one connection (after warm-up): median, p90, p99.",
    discussion: """
      Looks up random entities among --entity-prefix0 ... --entity-prefix<N-1> (for data written with
      such ids), --batch entities per call, one call at a time, and prints latency percentiles measured
      in the client around each call.
      """)

  @Option(help: "Feature references, comma-separated.") var features: String
  @Option(name: .customLong("entity-prefix"), help: "Entity ids are <prefix><i>.") var entityPrefix = "u"
  @Option(help: "Number of distinct entities to draw from.") var entities = 10_000
  @Option(help: "Entities per call.") var batch = 1
  @Option(help: "Measured calls.") var iterations = 5_000
  @Option(help: "Unmeasured warm-up calls.") var warmup = 500
  @Option(help: "Random seed.") var seed: UInt64 = 42
  @Flag(help: "Call Ping instead: the transport floor (a unary call on which the server does no work), as a baseline.") var ping = false
  @OptionGroup var client: ClientOptions

  func run() async throws {
    let refs = features.split(separator: ",").map { String($0).trimmingWhitespace }
    let (entities, batch, iterations, warmup, prefix) = (self.entities, self.batch, self.iterations, self.warmup, entityPrefix)
    var rng = seed
    func next() -> UInt64 {
      rng &+= 0x9e37_79b9_7f4a_7c15
      var z = rng
      z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
      z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
      return z ^ (z >> 31)
    }
    let pingOnly = ping
    var requests: [Strata_V1_GetOnlineFeaturesRequest] = []
    for _ in 0..<(warmup + iterations) {
      requests.append(.with { r in
        r.features = refs
        r.entityIds = (0..<batch).map { _ in "\(prefix)\(next() % UInt64(entities))" }
      })
    }
    let calls = requests
    let (latencies, present) = try await client.withFeatureStore { store in
      var latencies: [Double] = []
      latencies.reserveCapacity(iterations)
      var present = 0
      for (i, request) in calls.enumerated() {
        let start = ContinuousClock.now
        let response = pingOnly ? Strata_V1_GetOnlineFeaturesResponse() : try await store.getOnlineFeatures(request)
        if pingOnly { _ = try await store.ping(.init()) }
        let micros = Elapsed.seconds(since: start) * 1e6
        if i >= warmup {
          latencies.append(micros)
          present += response.vectors.reduce(0) { $0 + $1.results.filter { $0.status == .present }.count }
        }
      }
      return (latencies, present)
    }
    let sorted = latencies.sorted()
    func pct(_ p: Double) -> String { String(format: "%.0f", sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) }
    let total = latencies.reduce(0, +)
    let what = pingOnly ? "Ping round trip" : "online lookup, \(batch) entities x \(refs.count) refs per call"
    print(
      "\(what), \(iterations) calls: median \(pct(0.5)) µs, p90 \(pct(0.9)) µs, p99 \(pct(0.99)) µs, \(String(format: "%.0f", Double(iterations) / (total / 1e6))) calls/s sequential"
        + (pingOnly ? "" : "; \(present) PRESENT values"))
  }
}
