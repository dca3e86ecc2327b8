import Foundation
import GRPCCore
import StrataCore
import StrataGRPC
import StrataProto
import StrataStorage
import SwiftProtobuf
import Testing

/// The columnar form of GetHistoricalFeatures (`columnar: true`) carries exactly what the row form
/// carries, for every dtype and status, across several request messages and several response slices.
@Suite("Historical reads: columnar form")
struct ColumnarRPCTests {
  /// Converts the columnar responses back into per-row results, checking the slice structure.
  /// Without `eventTimes` the columns must carry no event times, and the results get none.
  static func rowsFromBatches(
    _ responses: [Strata_V1_GetHistoricalFeaturesResponse], columns: [Strata_V1_FeatureColumn], eventTimes: Bool = true
  ) throws -> [[Strata_V1_FeatureResult]] {
    var rows: [[Strata_V1_FeatureResult]] = []
    for response in responses where response.hasBatch {
      let batch = response.batch
      let n = Int(batch.rowCount)
      try #require(batch.columns.count == columns.count)
      for i in 0..<n {
        var row: [Strata_V1_FeatureResult] = []
        for (c, col) in zip(columns, batch.columns) {
          try #require(col.statuses.count == n && col.valueMask.count == n && col.eventTimestampsMicros.count == (eventTimes ? n : 0))
          var r = Strata_V1_FeatureResult()
          r.status = Strata_V1_ValueStatus(rawValue: Int(col.statuses[col.statuses.startIndex + i]))!
          if eventTimes { r.eventTimestampMicros = col.eventTimestampsMicros[i] }
          if col.valueMask[col.valueMask.startIndex + i] == 1 {
            switch c.dtype {
            case .float: r.value = .float(col.floatValues[i])
            case .int: r.value = .int(col.intValues[i])
            case .string: r.value = .string(col.stringValues[i])
            default:
              let d = Int(c.embeddingDim)
              r.value = .embedding(Array(col.embeddingValues[(i * d)..<((i + 1) * d)]))
            }
          }
          row.append(r)
        }
        rows.append(row)
      }
    }
    return rows
  }

  /// With `.defaults` the 1000-label messages are answered from storage; with `imagesAlways` from a
  /// history image built by the first message (the row form always reads storage): both must agree.
  static let imagesAlways = HistoryImagePolicy(budgetBytes: 1 << 30, minLabelsToBuild: 1, maxStaleFraction: 0.02)

  @Test(
    "columnar answers equal row answers: all dtypes and statuses, 3 request messages, several response slices",
    arguments: [HistoryImagePolicy.defaults, imagesAlways])
  func columnarEqualsRows(policy: HistoryImagePolicy) async throws {
    try await withStrata(imagePolicy: policy) { s in
      // 60 wide columns make each response slice only ~700 rows, so 3000 labels span several slices.
      var wide = (0..<56).map { featureSpec("f\($0)", .float) }
      wide += [featureSpec("clicks", .int, default: .int(7)), featureSpec("name", .string), featureSpec("emb", .embedding, dim: 2), featureSpec("n", .int)]
      _ = try await s.apply(groupSpec("wide", maxAgeSeconds: 50, wide))
      var rng = SystemRandomNumberGenerator()
      var rows: [Strata_V1_WriteRow] = []
      let names = wide.map(\.name)
      for i in 0..<600 {
        var values: [Strata_V1_Value] = (0..<56).map { k in i % 7 == k % 7 ? Strata_V1_Value() : .float(Double(i * 100 + k) / 8) }
        values += [i % 5 == 0 ? Strata_V1_Value() : .int(Int64(i)), .string("s\(i % 13)"), .embedding([Float(i), -Float(i)]), .int(Int64(-i))]
        rows.append(writeRow("e\(i % 40)", .t0(-1000 + Int64.random(in: 0..<900, using: &rng)), values))
      }
      _ = try await s.write("wide", features: names, rows: rows)
      let labels = (0..<3000).map { i in label(i % 11 == 0 ? "nobody" : "e\(i % 41)", .t0(-1000 + Int64(i % 1000))) }
      var messages = [
        historicalRequest(features: ["wide:*"], labels: Array(labels[0..<1000])),
        historicalRequest(labels: Array(labels[1000..<2000])), historicalRequest(labels: Array(labels[2000...])),
      ]
      let rowForm = try await s.historical(messages)
      messages[0].columnar = true
      let withoutTimes = try await s.historical(messages)
      messages[0].withEventTimestamps = true
      let columnar = try await s.historical(messages)
      #expect(s.store.historyImages.builds == (policy == Self.imagesAlways ? 1 : 0))
      let columns = try #require(columnar.first?.columns)
      #expect(columns == rowForm.first?.columns)
      #expect(columnar.allSatisfy { $0.rows.isEmpty }, "the columnar form sends no JoinedRow")
      #expect(columnar.filter(\.hasBatch).count > 4, "the answers come in several slices")
      let expected = rowForm.flatMap(\.rows).map(\.results)
      let got = try Self.rowsFromBatches(columnar, columns: columns)
      #expect(got.count == 3000)
      #expect(got == expected)
      let expectedWithoutTimes = expected.map { $0.map { r in var r = r; r.eventTimestampMicros = 0; return r } }
      #expect(try Self.rowsFromBatches(withoutTimes, columns: columns, eventTimes: false) == expectedWithoutTimes)
      let statuses = Set(expected.flatMap { $0.map(\.status) })
      #expect(statuses == [.present, .defaulted, .missing, .expired], "the data exercises every status")
    }
  }
}
