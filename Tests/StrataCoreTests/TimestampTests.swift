import Testing

@testable import StrataCore

@Suite("Timestamp: construction, ordering and saturating arithmetic")
struct TimestampTests {
  @Test("seconds(_:) converts to microseconds exactly", arguments: [0, 1, -1, 1_714_564_800, -62_135_596_800] as [Int64])
  func seconds(value: Int64) {
    #expect(Timestamp.seconds(value).microseconds == value * 1_000_000)
  }

  @Test("ordering is the numeric order of microseconds, including negative times")
  func ordering() {
    let sorted: [Timestamp] = [.min, Timestamp(microseconds: -1), .epoch, Timestamp(microseconds: 1), .max]
    #expect(sorted.shuffled().sorted() == sorted)
    #expect(Timestamp.min < Timestamp.epoch && Timestamp.epoch < Timestamp.max)
    #expect(Timestamp.epoch.microseconds == 0)
  }

  @Test("adding and subtracting in range are exact")
  func arithmetic() {
    let t = Timestamp(microseconds: 1_000)
    #expect(t.adding(microseconds: 5).microseconds == 1_005)
    #expect(t.adding(microseconds: -5).microseconds == 995)
    #expect(t.subtracting(microseconds: 5).microseconds == 995)
    #expect(t.subtracting(microseconds: -5).microseconds == 1_005)
    #expect(Timestamp.max.subtracting(microseconds: .max).microseconds == 0)
    #expect(Timestamp.min.adding(microseconds: .max).microseconds == -1)
  }

  @Test("overflow past the top saturates at max, past the bottom at min (non-negative arguments)")
  func saturation() {
    #expect(Timestamp.max.adding(microseconds: 1) == .max)
    #expect(Timestamp(microseconds: 1).adding(microseconds: .max) == .max)
    #expect(Timestamp.min.subtracting(microseconds: 1) == .min)
    #expect(Timestamp(microseconds: -2).subtracting(microseconds: .max) == .min)
    #expect(Timestamp.seconds(.max) == .max)
    #expect(Timestamp.seconds(9_223_372_036_855) == .max)  // the first whole second past Int64.max microseconds
    #expect(Timestamp.seconds(9_223_372_036_854).microseconds == 9_223_372_036_854_000_000)  // the last that fits
    #expect(Timestamp.seconds(-9_223_372_036_854).microseconds == -9_223_372_036_854_000_000)
  }

  /// BUG (StrataCore/Timestamp.swift): `seconds(_:)`, `adding` and `subtracting` pick the saturation
  /// end from the operation, not from the sign of the overflow, so a result below Int64.min becomes
  /// Timestamp.max (year 294247) and a result above Int64.max becomes Timestamp.min (year -290308).
  @Test("overflow with a negative argument saturates toward the true result, not at the opposite end")
  func saturationNegativeArguments() {
    #expect(Timestamp.seconds(.min) == .min)
    #expect(Timestamp.seconds(-9_223_372_036_855) == .min)  // true value just below Int64.min
    #expect(Timestamp.min.adding(microseconds: -1) == .min)
    #expect(Timestamp.max.subtracting(microseconds: -1) == .max)
    #expect(Timestamp.epoch.adding(microseconds: .min).adding(microseconds: -1) == .min)
  }

  @Test("the extreme timestamps print without trapping")
  func extremesPrint() {
    for t in [Timestamp.min, .max, Timestamp(microseconds: .min + 1)] {
      let text = t.description
      #expect(text.hasSuffix("Z"), "\(text)")
      #expect(text.contains("T"), "\(text)")
    }
    #expect(Timestamp.max.description.hasSuffix(".775807Z"))
    #expect(Timestamp.min.description.hasSuffix(".224192Z"))
  }
}
