/// Parsing and printing of timestamps, without Foundation date formatters (which are slow and
/// locale-sensitive).
///
/// Accepted inputs (`parse`):
/// - RFC 3339: `2024-05-01T12:00:00Z`, `2024-05-01 12:00:00.5+02:00`, fractional seconds up to
///   microseconds (more digits are rejected rather than silently truncated), offset `Z` or `+hh:mm`.
/// - A date alone, `2024-05-01`, meaning midnight UTC.
/// - Epoch integers: up to 11 digits are seconds, 12-14 digits are milliseconds, 15-17 microseconds
///   (so every date between 1973 and 5138 is read in the unit it was most likely written in).
public enum TimestampFormat {
  public static func parse(_ text: Substring) -> Timestamp? {
    let s = text.utf8
    guard let first = s.first else { return nil }
    if first == UInt8(ascii: "-") || s.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
      return parseEpoch(text)
    }
    return parseRFC3339(Array(s))
  }

  public static func parse(_ text: String) -> Timestamp? { parse(Substring(text)) }

  private static func parseEpoch(_ text: Substring) -> Timestamp? {
    guard let value = Int64(text) else { return nil }
    let digits = text.utf8.count - (text.hasPrefix("-") ? 1 : 0)
    switch digits {
    case ...11: return value.multipliedReportingOverflow(by: 1_000_000).overflow ? nil : Timestamp(microseconds: value * 1_000_000)
    case 12...14: return Timestamp(microseconds: value * 1_000)
    case 15...17: return Timestamp(microseconds: value)
    default: return nil
    }
  }

  private static func parseRFC3339(_ b: [UInt8]) -> Timestamp? {
    var i = 0
    func number(_ count: Int) -> Int? {
      guard i + count <= b.count else { return nil }
      var v = 0
      for k in i..<(i + count) {
        let c = b[k]
        guard c >= 48 && c <= 57 else { return nil }
        v = v * 10 + Int(c - 48)
      }
      i += count
      return v
    }
    func expect(_ c: Character) -> Bool {
      guard i < b.count, b[i] == c.asciiValue! else { return false }
      i += 1
      return true
    }
    guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2) else { return nil }
    guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year) else { return nil }
    var hour = 0, minute = 0, second = 0, micros = 0, offsetSeconds = 0
    if i < b.count {
      guard b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: "t") || b[i] == UInt8(ascii: " ") else { return nil }
      i += 1
      guard let h = number(2), expect(":"), let m = number(2) else { return nil }
      hour = h; minute = m
      if i < b.count, b[i] == UInt8(ascii: ":") {
        i += 1
        guard let sec = number(2) else { return nil }
        second = sec
      }
      if i < b.count, b[i] == UInt8(ascii: ".") {
        i += 1
        var digits = 0
        while i < b.count, b[i] >= 48, b[i] <= 57 {
          guard digits < 6 else { return nil }
          micros = micros * 10 + Int(b[i] - 48)
          digits += 1
          i += 1
        }
        guard digits > 0 else { return nil }
        for _ in digits..<6 { micros *= 10 }
      }
      guard hour < 24, minute < 60, second < 60 else { return nil }
      if i < b.count {
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
          i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
          let sign = b[i] == UInt8(ascii: "+") ? 1 : -1
          i += 1
          guard let oh = number(2), expect(":"), let om = number(2), oh < 24, om < 60 else { return nil }
          offsetSeconds = sign * (oh * 3600 + om * 60)
        } else {
          return nil
        }
      }
    }
    guard i == b.count else { return nil }
    let days = daysFromCivil(year: year, month: month, day: day)
    let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second - offsetSeconds)
    return Timestamp(microseconds: seconds * 1_000_000 + Int64(micros))
  }

  /// Formats as RFC 3339 UTC; the fraction is printed only when non-zero (microsecond precision).
  public static func rfc3339(_ t: Timestamp) -> String {
    let micros = t.microseconds
    var seconds = micros / 1_000_000
    var fraction = micros % 1_000_000
    if fraction < 0 { fraction += 1_000_000; seconds -= 1 }
    var days = seconds / 86_400
    var secOfDay = seconds % 86_400
    if secOfDay < 0 { secOfDay += 86_400; days -= 1 }
    let (y, m, d) = civilFromDays(Int(days))
    func pad(_ v: Int, _ width: Int) -> String {
      let s = String(v)
      return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
    var out = "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(Int(secOfDay / 3600), 2)):\(pad(Int(secOfDay % 3600 / 60), 2)):\(pad(Int(secOfDay % 60), 2))"
    if fraction != 0 {
      var frac = pad(Int(fraction), 6)
      while frac.hasSuffix("0") { frac.removeLast() }
      out += "." + frac
    }
    return out + "Z"
  }

  static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

  static func daysIn(month: Int, year: Int) -> Int {
    switch month {
    case 2: return isLeap(year) ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
  }

  /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
  static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let mp = (month + 9) % 12
    let doy = (153 * mp + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
  }

  static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
    let z = z0 + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let y = yoe + era * 400
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    return (m <= 2 ? y + 1 : y, m, d)
  }
}
