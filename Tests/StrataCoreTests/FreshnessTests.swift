import Testing

@testable import StrataCore

@Suite("Freshness: tiers and states")
struct FreshnessTests {
  @Test("tiers: BATCH from 1 day, NEAR_REAL_TIME from 1 hour, STREAMING below; undeclared by source")
  func tiers() {
    #expect(FreshnessTier(refreshIntervalSeconds: 86_400, source: .rows) == .batch)
    #expect(FreshnessTier(refreshIntervalSeconds: 86_399, source: .rows) == .nearRealTime)
    #expect(FreshnessTier(refreshIntervalSeconds: 3_600, source: .events) == .nearRealTime)
    #expect(FreshnessTier(refreshIntervalSeconds: 3_599, source: .rows) == .streaming)
    #expect(FreshnessTier(refreshIntervalSeconds: 1, source: .rows) == .streaming)
    #expect(FreshnessTier(refreshIntervalSeconds: nil, source: .rows) == .batch)
    #expect(FreshnessTier(refreshIntervalSeconds: nil, source: .events) == .streaming)
    #expect(FreshnessTier(refreshIntervalSeconds: nil, source: .aggregates(stream: "s", streamVersion: 1)) == .streaming)
    #expect(FreshnessTier.allCases.map(\.defaultCacheTTLSeconds) == [3_600, 60, 60])
  }

  @Test("states: FRESH up to 1 interval (inclusive), LATE up to 2, ALERT beyond; never written counts from registration")
  func states() {
    let t0 = Timestamp.seconds(1_700_000_000)
    func state(_ ageMicros: Int64, interval: Int64? = 60, lastWrite: Bool = true) -> FreshnessState {
      let now = t0.adding(microseconds: ageMicros)
      return FreshnessState.of(lastWrite: lastWrite ? t0 : nil, registeredAt: t0, intervalSeconds: interval, now: now)
    }
    #expect(state(0) == .fresh)
    #expect(state(60_000_000) == .fresh)
    #expect(state(60_000_001) == .late)
    #expect(state(120_000_000) == .late)
    #expect(state(120_000_001) == .alert)
    #expect(state(120_000_001, lastWrite: false) == .alert)
    #expect(state(-5_000_000) == .fresh, "a write stamped slightly ahead of the clock")
    #expect(state(10_000_000_000, interval: nil) == .untracked)
  }
}
