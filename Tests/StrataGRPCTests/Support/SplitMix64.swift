import Foundation

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, well-mixed generator. Its own helpers (rather
/// than the standard library's `random(in:using:)`) keep a seed reproducing the same run on every
/// toolchain.
struct SplitMix64 {
  private var state: UInt64

  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// A number in `0..<bound` (modulo bias is irrelevant for tests).
  mutating func below(_ bound: Int) -> Int {
    precondition(bound > 0)
    return Int(next() % UInt64(bound))
  }

  mutating func element<T>(of elements: [T]) -> T {
    elements[below(elements.count)]
  }

  /// True with probability 1/`n`.
  mutating func oneIn(_ n: Int) -> Bool { below(n) == 0 }

  /// `STRATA_TEST_SEED` if set (decimal or 0x-hex), else a fresh random seed.
  static func testSeed() -> UInt64 {
    if let text = ProcessInfo.processInfo.environment["STRATA_TEST_SEED"] {
      let parsed = text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
      guard let parsed else { fatalError("STRATA_TEST_SEED=\(text) is not a UInt64") }
      return parsed
    }
    return UInt64.random(in: .min ... .max)
  }
}
