#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// SplitMix64 (Steele, Lea, Flood 2014; Vigna's reference constants): a tiny, fast, fully
/// deterministic generator, so that a failing property test can be replayed exactly from its seed.
///
/// Property tests get their generator from `SplitMix64.forTest(_:)`, which prints the seed. To replay a
/// failure, run with the printed seed:
///
///     STRATA_TEST_SEED=0x1234abcd swift test --disable-xctest --filter StrataCoreTests
struct SplitMix64: RandomNumberGenerator, Sendable {
  /// The environment variable that overrides the seed of every property test.
  static let seedVariable = "STRATA_TEST_SEED"

  let seed: UInt64
  private var state: UInt64

  init(seed: UInt64) {
    self.seed = seed
    self.state = seed
  }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// The seed from `STRATA_TEST_SEED` (decimal or `0x` hex) when set, else a fresh random one.
  static func chosenSeed() -> UInt64 {
    if let raw = environmentValue(seedVariable) {
      let text = raw.trimmingCharacters(in: " \t\n")
      let parsed: UInt64? =
        text.lowercased().hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
      guard let parsed else {
        fatalError("\(seedVariable)='\(raw)' is not a UInt64 (decimal or 0x-prefixed hex)")
      }
      return parsed
    }
    var system = SystemRandomNumberGenerator()
    return system.next()
  }

  /// A generator for the property test `name`; prints the seed and how to replay it.
  static func forTest(_ name: String) -> SplitMix64 {
    let seed = chosenSeed()
    print("[\(name)] seed \(hex(seed)) (replay with \(seedVariable)=\(hex(seed)))")
    return SplitMix64(seed: seed)
  }

  static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

  /// `seed 0x...`, for failure comments.
  var seedDescription: String { "seed \(Self.hex(seed)) (\(Self.seedVariable)=\(Self.hex(seed)))" }

  private static func environmentValue(_ name: String) -> String? {
    guard let pointer = getenv(name) else { return nil }
    return String(cString: pointer)
  }
}

extension String {
  fileprivate func trimmingCharacters(in set: String) -> String {
    var s = Substring(self)
    while let c = s.first, set.contains(c) { s.removeFirst() }
    while let c = s.last, set.contains(c) { s.removeLast() }
    return String(s)
  }
}
