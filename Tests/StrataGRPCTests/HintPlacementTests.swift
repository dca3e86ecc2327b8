import GRPCCore
import GRPCInProcessTransport
import StrataCluster
import StrataProto
import SwiftProtobuf
import Testing

@testable import StrataGRPC

/// A hint is delivered with only the rows of entities its node still replicates: after a membership
/// change's cleanup, the other rows would be copies nothing deletes.
@Suite("hint delivery and placement")
struct HintPlacementTests {
  typealias Delivery = InternodeHintDelivery<InProcessTransport.Client>

  static func request(_ entities: [String]) -> Strata_V1_WriteFeaturesRequest {
    .with { r in
      r.group = "g"
      r.features = ["f"]
      r.rows = entities.enumerated().map { i, e in
        .with {
          $0.entityID = e
          $0.eventTimestampMicros = Int64(i)
        }
      }
    }
  }

  @Test("rows of entities the node no longer replicates are dropped, in order; none left: nothing to send")
  func keepsReplicatedRows() {
    // n2 replicates the entities whose names start with "a".
    let replicas: (String) -> [String] = { $0.hasPrefix("a") ? ["n1", "n2"] : ["n1", "n3"] }
    func plan(_ request: Strata_V1_WriteFeaturesRequest) -> ReplicaPlan {
      ReplicaPlan(replicaSets: request.rows.map { [replicas($0.entityID)] })
    }
    let mixed = Self.request(["a1", "b1", "a2", "a1", "b2"])
    let kept = Delivery.rows(for: "n2", of: mixed, plan: plan(mixed))
    #expect(kept?.rows.map(\.entityID) == ["a1", "a2", "a1"])
    #expect(kept?.rows.map(\.eventTimestampMicros) == [0, 2, 3])
    #expect(kept?.group == "g" && kept?.features == ["f"])
    #expect(Delivery.rows(for: "n1", of: mixed, plan: plan(mixed)) == mixed)
    let others = Self.request(["b1", "b2"])
    #expect(Delivery.rows(for: "n2", of: others, plan: plan(others)) == nil)
    #expect(Delivery.rows(for: "n4", of: mixed, plan: plan(mixed)) == nil)
  }
}
