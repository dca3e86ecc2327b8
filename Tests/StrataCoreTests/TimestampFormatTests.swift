import StrataTestSupport
import Testing

@testable import StrataCore

// Expected values computed independently (Python `datetime`), in microseconds since the epoch.
private let may1Noon: Int64 = 1_714_564_800_000_000  // 2024-05-01T12:00:00Z

@Suite("TimestampFormat: parsing and printing timestamps")
struct TimestampFormatTests {

  @Test(
    "RFC 3339 with Z or a numeric offset is converted to UTC",
    arguments: [
      ("2024-05-01T12:00:00Z", may1Noon),
      ("2024-05-01t12:00:00z", may1Noon),
      ("2024-05-01T12:00:00+00:00", may1Noon),
      ("2024-05-01T12:00:00-00:00", may1Noon),
      ("2024-05-01T12:00:00+02:00", 1_714_557_600_000_000),  // 10:00Z
      ("2024-05-01T12:00:00-05:30", 1_714_584_600_000_000),  // 17:30Z
      ("2024-05-01T00:30:00+01:00", 1_714_519_800_000_000),  // previous day 23:30Z
      ("2024-05-01 12:00:00Z", may1Noon),  // space separator
      ("2024-05-01 12:00:00.5+02:00", 1_714_557_600_500_000),
      ("1969-07-20T20:17:40Z", -14_182_940_000_000),
      ("0001-01-01T00:00:00Z", -62_135_596_800_000_000),
      ("9999-12-31T23:59:59.999999Z", 253_402_300_799_999_999),
    ] as [(String, Int64)]
  )
  func rfc3339(text: String, micros: Int64) {
    #expect(TimestampFormat.parse(text) == Timestamp(microseconds: micros))
  }

  @Test(
    "fractional seconds of 1 to 6 digits are exact microseconds",
    arguments: [
      ("2024-05-01T12:00:00.1Z", 100_000),
      ("2024-05-01T12:00:00.12Z", 120_000),
      ("2024-05-01T12:00:00.123Z", 123_000),
      ("2024-05-01T12:00:00.1234Z", 123_400),
      ("2024-05-01T12:00:00.12345Z", 123_450),
      ("2024-05-01T12:00:00.123456Z", 123_456),
      ("2024-05-01T12:00:00.000001Z", 1),
      ("2024-05-01T12:00:00.000000Z", 0),
      ("2024-05-01T12:00:00.999999Z", 999_999),
    ] as [(String, Int64)]
  )
  func fractions(text: String, fractionMicros: Int64) {
    #expect(TimestampFormat.parse(text) == Timestamp(microseconds: may1Noon + fractionMicros))
  }

  @Test("a date alone means midnight UTC of that day")
  func dateOnly() {
    #expect(TimestampFormat.parse("2024-05-01") == Timestamp(microseconds: 1_714_521_600_000_000))
    #expect(TimestampFormat.parse("1970-01-01") == .epoch)
    #expect(TimestampFormat.parse("2000-02-29") == Timestamp(microseconds: 951_782_400_000_000))
    #expect(TimestampFormat.parse("2024-02-29") == Timestamp(microseconds: 1_709_164_800_000_000))
  }

  @Test(
    "malformed or impossible timestamps are rejected, not guessed",
    arguments: [
      "",
      "hello",
      "2024-05-01T12:00:00.1234567Z",  // 7 fractional digits: rejected rather than truncated
      "2024-05-01T12:00:00.Z",  // a dot without digits
      "2023-02-29",  // not a leap year
      "1900-02-29",  // century, not a leap year
      "2024-02-30",
      "2024-04-31",
      "2024-13-01",  // month 13
      "2024-00-10",
      "2024-05-00",
      "2024-05-32",
      "2024-05-01T24:00:00Z",  // hour 24
      "2024-05-01T12:60:00Z",
      "2024-05-01T12:00:60Z",
      "2024-05-01T12:00:00+24:00",
      "2024-05-01T12:00:00+02:60",
      "2024-05-01T12:00:00+0200",
      "2024-05-01T12:00:00ZZ",
      "2024-05-01T12:00:00 ",
      "2024-05-01T",
      "2024-05-01X12:00:00Z",
      "2024-5-1",
      "24-05-01",
      "2024/05/01",
      "-",
      "--1",
      "1.5",
      "12a",
    ]
  )
  func rejected(text: String) {
    #expect(TimestampFormat.parse(text) == nil)
  }

  @Test(
    "epoch integers: up to 11 digits are seconds, 12-14 milliseconds, 15-17 microseconds",
    arguments: [
      ("0", 0),
      ("1", 1_000_000),
      ("1714564800", 1_714_564_800_000_000),  // 10 digits: seconds
      ("99999999999", 99_999_999_999_000_000),  // 11 digits: seconds (year 5138)
      ("100000000000", 100_000_000_000_000),  // 12 digits: milliseconds (year 1973)
      ("1714564800123", 1_714_564_800_123_000),  // 13 digits: milliseconds
      ("99999999999999", 99_999_999_999_999_000),  // 14 digits: milliseconds
      ("100000000000000", 100_000_000_000_000),  // 15 digits: microseconds
      ("1714564800123456", 1_714_564_800_123_456),  // 16 digits: microseconds
      ("99999999999999999", 99_999_999_999_999_999),  // 17 digits: microseconds
      ("-1", -1_000_000),  // negative: before 1970
      ("-1714564800", -1_714_564_800_000_000),
      ("-1714564800123", -1_714_564_800_123_000),
      ("-1714564800123456", -1_714_564_800_123_456),
    ] as [(String, Int64)]
  )
  func epoch(text: String, micros: Int64) {
    #expect(TimestampFormat.parse(text) == Timestamp(microseconds: micros))
  }

  @Test("epoch integers of 18 or more digits are rejected")
  func epochTooLong() {
    #expect(TimestampFormat.parse("171456480012345678") == nil)
    #expect(TimestampFormat.parse("-171456480012345678") == nil)
    #expect(TimestampFormat.parse("99999999999999999999999") == nil)
  }

  @Test("parsing a Substring equals parsing the String")
  func substring() {
    let line = "id,2024-05-01T12:00:00Z,x"
    let field = line.split(separator: ",")[1]
    #expect(TimestampFormat.parse(field) == Timestamp(microseconds: may1Noon))
  }

  @Test(
    "rfc3339 prints UTC with the fraction only when non-zero, without trailing zeros",
    arguments: [
      (0, "1970-01-01T00:00:00Z"),
      (250, "1970-01-01T00:00:00.00025Z"),
      (1, "1970-01-01T00:00:00.000001Z"),
      (-1, "1969-12-31T23:59:59.999999Z"),
      (-1_000_000, "1969-12-31T23:59:59Z"),
      (may1Noon + 500_000, "2024-05-01T12:00:00.5Z"),
      (may1Noon + 120_000, "2024-05-01T12:00:00.12Z"),
      (-62_135_596_800_000_000, "0001-01-01T00:00:00Z"),
      (253_402_300_799_999_999, "9999-12-31T23:59:59.999999Z"),
      (951_782_400_000_000, "2000-02-29T00:00:00Z"),
    ] as [(Int64, String)]
  )
  func printing(micros: Int64, text: String) {
    let t = Timestamp(microseconds: micros)
    #expect(TimestampFormat.rfc3339(t) == text)
    #expect(t.description == text)
  }

  // MARK: - Properties

  static let year1: Int64 = -62_135_596_800_000_000  // 0001-01-01T00:00:00Z
  static let year10000: Int64 = 253_402_300_800_000_000  // 10000-01-01T00:00:00Z

  @Test("round trip: any microsecond between year 1 and 9999 -> rfc3339 -> parse gives it back")
  func roundTrip() {
    var rng = SplitMix64.forTest("TimestampFormat.roundTrip")
    for i in 0..<20_000 {
      // Mix uniform instants with whole seconds/days, so the "no fraction" path is exercised too.
      var micros = Int64.random(in: Self.year1..<Self.year10000, using: &rng)
      switch i % 4 {
      case 1: micros -= ((micros % 1_000_000) + 1_000_000) % 1_000_000
      case 2: micros -= ((micros % 86_400_000_000) + 86_400_000_000) % 86_400_000_000
      default: break
      }
      let t = Timestamp(microseconds: micros)
      let text = TimestampFormat.rfc3339(t)
      let back = TimestampFormat.parse(text)
      #expect(back == t, "\(micros) printed as \(text) parsed as \(String(describing: back)); \(rng.seedDescription)")
      if back != t { return }
    }
  }

  /// Days from 0001-01-01 to y-m-d, counted plainly (independent of the Hinnant algorithm under test).
  static func oracleDays(year y: Int, month m: Int, day d: Int) -> Int64 {
    func leap(_ y: Int) -> Bool { y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) }
    let monthLengths = [31, leap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    let beforeYear = (y - 1) * 365 + (y - 1) / 4 - (y - 1) / 100 + (y - 1) / 400
    let beforeMonth = monthLengths.prefix(m - 1).reduce(0, +)
    return Int64(beforeYear + beforeMonth + d - 1)
  }

  static func pad(_ v: Int, _ width: Int) -> String {
    let s = String(v)
    return String(repeating: "0", count: max(0, width - s.count)) + s
  }

  @Test("random calendar fields with random offsets parse to the independently computed instant")
  func calendarOracle() {
    var rng = SplitMix64.forTest("TimestampFormat.calendarOracle")
    let daysFrom1To1970: Int64 = 719_162
    for _ in 0..<20_000 {
      let y = Int.random(in: 1...9999, using: &rng)
      let m = Int.random(in: 1...12, using: &rng)
      let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
      let dim = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
      let d = Int.random(in: 1...dim, using: &rng)
      let hh = Int.random(in: 0...23, using: &rng)
      let mm = Int.random(in: 0...59, using: &rng)
      let ss = Int.random(in: 0...59, using: &rng)
      let fractionDigits = Int.random(in: 0...6, using: &rng)
      var fraction = 0
      var fractionText = ""
      if fractionDigits > 0 {
        var p = 1
        for _ in 0..<fractionDigits { p *= 10 }
        fraction = Int.random(in: 0..<p, using: &rng)
        fractionText = "." + Self.pad(fraction, fractionDigits)
        for _ in fractionDigits..<6 { fraction *= 10 }
      }
      let offsetMinutes = Bool.random(using: &rng) ? 0 : Int.random(in: -(23 * 60 + 59)...(23 * 60 + 59), using: &rng)
      let offsetText: String
      if offsetMinutes == 0 && Bool.random(using: &rng) {
        offsetText = "Z"
      } else {
        offsetText =
          (offsetMinutes < 0 ? "-" : "+") + Self.pad(abs(offsetMinutes) / 60, 2) + ":" + Self.pad(abs(offsetMinutes) % 60, 2)
      }
      let separator = Bool.random(using: &rng) ? "T" : " "
      let text =
        "\(Self.pad(y, 4))-\(Self.pad(m, 2))-\(Self.pad(d, 2))\(separator)\(Self.pad(hh, 2)):\(Self.pad(mm, 2)):\(Self.pad(ss, 2))\(fractionText)\(offsetText)"

      let days = Self.oracleDays(year: y, month: m, day: d) - daysFrom1To1970
      let seconds = days * 86_400 + Int64(hh * 3600 + mm * 60 + ss) - Int64(offsetMinutes * 60)
      let expected = Timestamp(microseconds: seconds * 1_000_000 + Int64(fraction))
      let got = TimestampFormat.parse(text)
      #expect(got == expected, "\(text): expected \(expected.microseconds), got \(String(describing: got?.microseconds)); \(rng.seedDescription)")
      if got != expected { return }
      if offsetMinutes == 0 {
        // Printing the UTC instant gives back the canonical form of the same fields.
        let date = "\(Self.pad(y, 4))-\(Self.pad(m, 2))-\(Self.pad(d, 2))T\(Self.pad(hh, 2)):\(Self.pad(mm, 2)):\(Self.pad(ss, 2))"
        var frac = fraction == 0 ? "" : Self.pad(fraction, 6)
        while frac.hasSuffix("0") { frac.removeLast() }
        let canonical = date + (frac.isEmpty ? "" : "." + frac) + "Z"
        #expect(TimestampFormat.rfc3339(expected) == canonical, "\(rng.seedDescription)")
      }
    }
  }
}
