import Foundation
import GRPCCore
import StrataProto
import StrataTestSupport
import SwiftProtobuf
import Testing

@testable import StrataGRPC

/// `OnlineResponseEncoder` must produce exactly SwiftProtobuf's bytes for every answer the server can
/// build (and more): random answers with every value kind, null values, unset values, empty and
/// non-ASCII strings, negative numbers, -0.0, NaN payloads, empty embeddings, unknown statuses, and
/// row orders (internode answers).
@Suite("OnlineResponseEncoder: byte-identical to SwiftProtobuf")
struct OnlineResponseEncoderTests {
  @Test("random answers encode to SwiftProtobuf's bytes and decode back to the same message")
  func randomAnswers() throws {
    var rng = SplitMix64.forTest("OnlineResponseEncoder.random")
    for round in 0..<400 {
      let response = Self.randomResponse(&rng, rowOrders: true)
      let expected: [UInt8] = try response.serializedBytes()
      let got = try OnlineResponseEncoder.encode(response)
      #expect(got == expected, "round \(round); \(rng.seedDescription)")
      if got != expected { return }
      // Decodes back to the same message (compared as bytes: NaN != NaN).
      let decoded = try Strata_V1_GetOnlineFeaturesResponse(serializedBytes: got)
      #expect(try decoded.serializedBytes() as [UInt8] == expected)
    }
  }

  @Test("the serializer hands gRPC the same bytes")
  func serializer() throws {
    var rng = SplitMix64.forTest("OnlineResponseEncoder.serializer")
    let response = Self.randomResponse(&rng, rowOrders: true)
    let bytes: [UInt8] = try OnlineResponseSerializer().serialize(response)
    #expect(bytes == (try response.serializedBytes() as [UInt8]))
  }

  /// A random answer; with `rowOrders`, half of them carry row orders (an internode answer).
  static func randomResponse(_ rng: inout SplitMix64, rowOrders: Bool = false) -> Strata_V1_GetOnlineFeaturesResponse {
    let strings = ["", "u1", "é", "ünïcödé-😀", String(repeating: "x", count: 200)]
    var response = Strata_V1_GetOnlineFeaturesResponse()
    let columns = rng.below(4)
    response.columns = (0..<columns).map { i in
      .with {
        $0.ref = "g@\(i + 1):f\(i)"
        $0.group = "g"
        $0.version = UInt32(i + 1)
        $0.feature = "f\(i)"
        $0.dtype = Strata_V1_DType(rawValue: rng.below(6)) ?? .unspecified
        $0.embeddingDim = UInt32(rng.below(3))
      }
    }
    response.vectors = (0..<rng.below(40)).map { _ in
      Strata_V1_FeatureVector.with { v in
        v.entityID = rng.element(of: strings)
        v.results = (0..<rng.below(6)).map { _ in
          Strata_V1_FeatureResult.with { r in
            switch rng.below(7) {
            case 0: break  // no value at all
            case 1: r.value = Strata_V1_Value()  // a null: set, no kind
            case 2: r.value.floatValue = rng.element(of: [0.0, -0.0, 1.5, -3e300, .nan, .infinity, Double(bitPattern: rng.next())])
            case 3: r.value.intValue = rng.element(of: [0, 1, -1, .max, .min, Int64(bitPattern: rng.next())])
            case 4: r.value.stringValue = rng.element(of: strings)
            default:
              r.value.embeddingValue = .with { e in
                e.values = (0..<rng.below(5)).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
              }
            }
            r.status = Strata_V1_ValueStatus(rawValue: rng.below(6)) ?? .unspecified
            if rng.below(3) > 0 { r.eventTimestampMicros = rng.element(of: [0, 1, -1, 1_700_000_000_000_000, .min, .max]) }
          }
        }
      }
    }
    // Internode answers (with_row_order): row orders after the vectors, sometimes with empty arrays.
    if rowOrders && rng.oneIn(2) {
      let n = rng.below(6)
      response.rowOrders = (0..<(1 + rng.below(3))).map { _ in
        Strata_V1_JoinedRowOrder.with { o in
          o.found = Data((0..<n).map { _ in UInt8(rng.below(2)) })
          o.eventTimestampsMicros = (0..<n).map { _ in rng.element(of: [0, -1, 1_700_000_000_000_000, .min, .max]) }
          o.createdTimestampsMicros = (0..<n).map { _ in rng.element(of: [0, 1, Int64(bitPattern: rng.next())]) }
          o.writeIds = (0..<n).map { _ in rng.element(of: [0, 1, .max, rng.next()]) }
        }
      }
    }
    return response
  }
}
