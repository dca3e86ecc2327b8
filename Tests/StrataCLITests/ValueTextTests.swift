import StrataCore
import StrataTestSupport
import Testing

@testable import StrataCLI

@Suite("Value text")
struct ValueTextTests {
  /// The join's CSV writer and `ValueText` must print the same text.
  private func joinText(_ d: Double) -> String {
    var bytes: [UInt8] = []
    CSVText.appendDouble(d, to: &bytes)
    return String(decoding: bytes, as: UTF8.self)
  }

  @Test("negative zero keeps its sign in both formatters (the DuckDB differential found '0.0' for -0.0)")
  func negativeZero() {
    #expect(ValueText.format(.float(-0.0)) == "-0.0")
    #expect(joinText(-0.0) == "-0.0")
    #expect(ValueText.format(.float(0.0)) == "0.0")
    #expect(joinText(0.0) == "0.0")
  }

  @Test("every double's text parses back to the same bits, and both formatters agree")
  func roundTrip() throws {
    var rng = SplitMix64.forTest("ValueTextTests.roundTrip")
    let specials: [Double] = [
      -0.0, 0.0, 1, -1, 3, 0.1, 1e15, -1e15, 1e15 - 1, 1e16, 2.0e-308, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
      Double.greatestFiniteMagnitude, -Double.greatestFiniteMagnitude, 123_456_789_012_345_680,
    ]
    var values = specials
    for _ in 0..<20_000 {
      switch rng.below(3) {
      case 0: values.append(Double(bitPattern: rng.next()))
      case 1: values.append(Double(Int64(bitPattern: rng.next()) >> Int64(rng.below(64))))
      default: values.append(Double(rng.below(2_000_001) - 1_000_000) / 100)
      }
    }
    for d in values where d.isFinite {
      let text = ValueText.format(.float(d))
      let back = try #require(Double(text), "'\(text)' does not parse (seed \(SplitMix64.hex(rng.seed)))")
      #expect(back.bitPattern == d.bitPattern, "\(d) printed as '\(text)' (seed \(SplitMix64.hex(rng.seed)))")
      #expect(joinText(d) == text, "\(d): join writes '\(joinText(d))', ValueText '\(text)'")
    }
  }
}
