import Foundation

/// The seeded generator behind every property test (Steele, Lea & Flood's SplitMix64).
///
/// Tests print their seed; `STRATA_TEST_SEED` (decimal or 0x-hex) replays a run.
public struct SplitMix64: RandomNumberGenerator, Sendable {
  public static let seedVariable = "STRATA_TEST_SEED"

  public let seed: UInt64
  private var state: UInt64

  public init(seed: UInt64) {
    self.seed = seed
    self.state = seed
  }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// A value in `0..<bound`.
  public mutating func below(_ bound: Int) -> Int {
    precondition(bound > 0)
    return Int(next() % UInt64(bound))
  }

  public mutating func element<T>(of elements: [T]) -> T {
    elements[below(elements.count)]
  }

  /// True with probability 1/n.
  public mutating func oneIn(_ n: Int) -> Bool { below(n) == 0 }

  /// `STRATA_TEST_SEED` if set, else a fresh random seed.
  public static func testSeed() -> UInt64 {
    if let raw = ProcessInfo.processInfo.environment[seedVariable] {
      let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
      let parsed: UInt64? =
        text.lowercased().hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
      guard let parsed else {
        fatalError("\(seedVariable)='\(raw)' is not a UInt64 (decimal or 0x-prefixed hex)")
      }
      return parsed
    }
    return UInt64.random(in: .min ... .max)
  }

  /// A generator seeded by `testSeed()`, after printing the seed under `name`.
  public static func forTest(_ name: String) -> SplitMix64 {
    let seed = testSeed()
    print("[\(name)] seed \(hex(seed)) (replay with \(seedVariable)=\(hex(seed)))")
    return SplitMix64(seed: seed)
  }

  public static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

  public var seedDescription: String { "seed \(Self.hex(seed)) (\(Self.seedVariable)=\(Self.hex(seed)))" }
}
