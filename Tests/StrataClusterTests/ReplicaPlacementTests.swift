import StrataCluster
import StrataCore
import StrataTestSupport
import Testing

@Suite("Replica placement")
struct ReplicaPlacementTests {
  @Test("without zones the replicas are the ring's owners: RF distinct nodes, primary first")
  func ringOwners() throws {
    var rng = SplitMix64.forTest("ReplicaPlacement.ringOwners")
    for _ in 0..<100 {
      let n = 1 + rng.below(7)
      let ring = try HashRing(nodes: (1...n).map { "n\($0)" }, virtualNodes: 32, epoch: 1)
      let rf = 1 + rng.below(n)
      let placement = try ReplicaPlacement(ring: ring, replicationFactor: rf)
      for _ in 0..<50 {
        let id = "e\(rng.next())"
        let replicas = placement.replicas(of: id)
        #expect(replicas == ring.owners(of: id, replicas: rf), "seed \(SplitMix64.hex(rng.seed))")
        #expect(Set(replicas).count == rf && replicas[0] == ring.primary(of: id))
      }
    }
  }

  @Test("with zones every replica set spans as many zones as it can, keeps the ring's primary, and is the same on every call")
  func zones() throws {
    var rng = SplitMix64.forTest("ReplicaPlacement.zones")
    for _ in 0..<60 {
      let n = 2 + rng.below(8)
      let ids = (1...n).map { "n\($0)" }
      let zoneCount = 1 + rng.below(4)
      // Some nodes have no zone: each counts as a zone of its own.
      let zones = Dictionary(uniqueKeysWithValues: ids.map { ($0, rng.below(5) == 0 ? "" : "z\(rng.below(zoneCount))") })
      let ring = try HashRing(nodes: ids, virtualNodes: 32, epoch: 1)
      let rf = 1 + rng.below(n)
      let placement = try ReplicaPlacement(ring: ring, replicationFactor: rf, zones: zones)
      func zone(_ node: String) -> String { zones[node]!.isEmpty ? "own:\(node)" : zones[node]! }
      let distinctZones = Set(ids.map(zone)).count
      for _ in 0..<40 {
        let id = "e\(rng.next())"
        let replicas = placement.replicas(of: id)
        #expect(Set(replicas).count == rf, "seed \(SplitMix64.hex(rng.seed))")
        #expect(replicas[0] == ring.primary(of: id))
        #expect(Set(replicas.map(zone)).count == min(rf, distinctZones), "as many zones as possible: \(replicas)")
        #expect(placement.replicas(of: id) == replicas)
      }
    }
  }

  @Test("three zones of two nodes with RF 3: one replica in each zone, for every token")
  func oneCopyPerZone() throws {
    let zones = ["a1": "a", "a2": "a", "b1": "b", "b2": "b", "c1": "c", "c2": "c"]
    let placement = try ReplicaPlacement(
      ring: try HashRing(nodes: Array(zones.keys), virtualNodes: 64, epoch: 1), replicationFactor: 3, zones: zones)
    for i in 0..<2_000 {
      #expect(Set(placement.replicas(of: "user_\(i)").map { zones[$0]! }) == ["a", "b", "c"])
    }
  }

  @Test("a replication factor outside 1...nodes is refused, naming the range")
  func badFactor() throws {
    let ring = try HashRing(nodes: ["n1", "n2"], epoch: 1)
    for rf in [0, 3, -1] {
      #expect(throws: StrataError.invalidArgument("the replication factor must be between 1 and the number of nodes (2), got \(rf)")) {
        try ReplicaPlacement(ring: ring, replicationFactor: rf)
      }
    }
    #expect(ReplicaPlacement.defaultReplicationFactor(nodeCount: 1) == 1)
    #expect(ReplicaPlacement.defaultReplicationFactor(nodeCount: 2) == 2)
    #expect(ReplicaPlacement.defaultReplicationFactor(nodeCount: 5) == 3)
  }

  @Test("required replicas: ONE 1, QUORUM a majority, ALL every replica")
  func required() throws {
    for (rf, quorum) in [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)] {
      let placement = try ReplicaPlacement(ring: try HashRing(nodes: (1...5).map { "n\($0)" }, epoch: 1), replicationFactor: rf)
      #expect(placement.required(.one) == 1)
      #expect(placement.required(.quorum) == quorum)
      #expect(placement.required(.all) == rf)
    }
  }
}

@Suite("Peer health")
struct PeerHealthTests {
  @Test("a failed peer is avoided for the quarantine, and no longer once it answers")
  func quarantine() {
    let health = PeerHealth(quarantine: .seconds(1))
    let t0 = ContinuousClock.now
    health.failed("n2", at: t0)
    #expect(health.avoided(at: t0 + .milliseconds(999)) == ["n2"])
    #expect(health.avoided(at: t0 + .seconds(1)).isEmpty)
    health.failed("n3", at: t0)
    health.answered("n3", after: .microseconds(300))
    #expect(health.avoided(at: t0) == ["n2"])
  }

  @Test("the hedging delay is the recent p99 within its bounds, over the last 128 answers")
  func hedge() {
    let health = PeerHealth(minimumHedge: .milliseconds(2), maximumHedge: .milliseconds(250), initialHedge: .milliseconds(50))
    #expect(health.hedgeDelay(for: "n1") == .milliseconds(50))
    for i in 0..<100 { health.answered("n1", after: .milliseconds(i < 98 ? 1 : 10)) }
    #expect(health.hedgeDelay(for: "n1") == .milliseconds(10))
    for _ in 0..<128 { health.answered("n1", after: .microseconds(100)) }
    #expect(health.hedgeDelay(for: "n1") == .milliseconds(2), "old answers leave the window; the floor holds")
    for _ in 0..<128 { health.answered("n1", after: .seconds(3)) }
    #expect(health.hedgeDelay(for: "n1") == .milliseconds(250))
  }
}

@Suite("Peer health: avoidance time")
struct PeerHealthAvoidanceTests {
  @Test("a failure may set its own avoidance time")
  func avoidFor() {
    let health = PeerHealth(quarantine: .seconds(1))
    let t0 = ContinuousClock.now
    health.failed("leader", at: t0, avoidFor: .seconds(30))
    #expect(health.avoided(at: t0 + .seconds(29)) == ["leader"])
    #expect(health.avoided(at: t0 + .seconds(30)).isEmpty)
  }
}

@Suite("Peer health: a fixed hedging delay")
struct PeerHealthFixedHedgeTests {
  @Test("equal bounds fix the delay whatever the answers")
  func fixed() {
    let health = PeerHealth(minimumHedge: .milliseconds(40), maximumHedge: .milliseconds(40), initialHedge: .milliseconds(40))
    #expect(health.hedgeDelay(for: "n1") == .milliseconds(40))
    for _ in 0..<50 { health.answered("n1", after: .microseconds(200)) }
    #expect(health.hedgeDelay(for: "n1") == .milliseconds(40))
  }
}
