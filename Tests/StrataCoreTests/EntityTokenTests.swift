import Testing

@testable import StrataCore

/// A 1000-character id: "abcdefghij" repeated 100 times.
private let longID = String(repeating: "abcdefghij", count: 100)
/// "ünïcødé" in NFC, spelled with escapes so that no editor can renormalize it (11 UTF-8 bytes).
private let unicodeID = "\u{FC}n\u{EF}c\u{F8}d\u{E9}"

@Suite("EntityToken: the placement hash")
struct EntityTokenTests {
  /// Golden vectors: these pin the ring placement and the storage key prefix forever. They were computed
  /// once by an independent implementation of FNV-1a 64 + MurmurHash3 fmix64 (Python) and agree with the
  /// Swift code. If this test fails, existing data would be placed and keyed differently: do NOT update
  /// the constants, fix the function.
  @Test(
    "golden vectors",
    arguments: [
      ("", 0xefd0_1f60_ba99_2926),
      ("a", 0x82a2_a958_a9be_ce5b),
      ("u1", 0x63b9_b7f5_2c45_b2b1),
      ("user_42", 0x9d55_e35d_ebc8_bcaf),
      (unicodeID, 0xc4b3_c4eb_f61b_c14d),
      (longID, 0x3d47_f9e4_ccba_2685),
    ] as [(String, UInt64)]
  )
  func golden(id: String, token: UInt64) {
    #expect(EntityToken.of(id) == token)
  }

  @Test("the golden inputs are what they claim to be")
  func goldenInputs() {
    #expect(unicodeID.utf8.count == 11)
    #expect(unicodeID == "ünïcødé")
    #expect(longID.count == 1000)
  }

  @Test("the token depends on the UTF-8 bytes, not on Unicode canonical equivalence")
  func bytesNotCharacters() {
    let composed = "\u{E9}"  // é
    let decomposed = "e\u{301}"  // e + combining acute
    #expect(composed == decomposed)  // Swift String equality is canonical...
    #expect(EntityToken.of(composed) != EntityToken.of(decomposed))  // ...the token is byte-based.
  }

  @Test("100k ids u0...u99999 spread over 16 buckets (top 4 bits) each within 5% of 1/16")
  func distribution() {
    let n = 100_000
    var buckets = [Int](repeating: 0, count: 16)
    for i in 0..<n {
      buckets[Int(EntityToken.of("u\(i)") >> 60)] += 1
    }
    let expected = Double(n) / 16
    for (bucket, count) in buckets.enumerated() {
      #expect(
        abs(Double(count) - expected) <= expected * 0.05,
        "bucket \(bucket) has \(count) ids, expected \(expected) ± 5%; all buckets: \(buckets)")
    }
  }

  @Test("no collisions among 100k sequential ids, and the low bits are spread too")
  func noCollisionsAndLowBits() {
    var seen = Set<UInt64>()
    var low = [Int](repeating: 0, count: 16)
    for i in 0..<100_000 {
      let token = EntityToken.of("u\(i)")
      seen.insert(token)
      low[Int(token & 0xF)] += 1
    }
    #expect(seen.count == 100_000)
    for count in low { #expect(abs(Double(count) - 6_250) <= 6_250 * 0.05, "low nibble buckets: \(low)") }
  }
}
