public import StrataCore

/// Converting between CSV/command-line text and feature values.
public enum ValueText {
  /// Parses one CSV cell for a feature of type `dtype`. An empty cell is a null.
  ///
  /// FLOAT: a decimal number (`1.5`, `-2`, `3e-4`); NaN and infinities are rejected (use an empty cell).
  /// INT: a base-10 integer. STRING: the cell as is. EMBEDDING: numbers separated by commas, semicolons
  /// or spaces, optionally in brackets: `[0.1, 0.2, 0.3]`.
  public static func parse(_ cell: String, as dtype: DType) -> Result<FeatureValue?, ParseError> {
    if cell.isEmpty { return .success(nil) }
    switch dtype {
    case .float:
      guard let d = Double(cell.trimmingWhitespace) else { return .failure(.init("'\(cell)' is not a number")) }
      guard d.isFinite else { return .failure(.init("'\(cell)' is not finite; leave the cell empty for a missing value")) }
      return .success(.float(d))
    case .int:
      guard let i = Int64(cell.trimmingWhitespace) else { return .failure(.init("'\(cell)' is not a 64-bit integer")) }
      return .success(.int(i))
    case .string:
      return .success(.string(cell))
    case .embedding(let dimension):
      var body = Substring(cell.trimmingWhitespace)
      if body.first == "[" && body.last == "]" { body = body.dropFirst().dropLast() }
      var values: [Float] = []
      values.reserveCapacity(dimension)
      for part in body.split(whereSeparator: { $0 == "," || $0 == ";" || $0 == " " || $0 == "\t" }) {
        guard let f = Float(part), f.isFinite else { return .failure(.init("embedding element '\(part)' is not a finite number")) }
        values.append(f)
      }
      guard values.count == dimension else {
        return .failure(.init("embedding has \(values.count) elements; the feature is EMBEDDING(\(dimension))"))
      }
      return .success(.embedding(values))
    }
  }

  /// Formats a value for CSV or a terminal table; null is the empty string.
  public static func format(_ value: FeatureValue?) -> String {
    switch value {
    case nil: ""
    case .float(let d)?: formatDouble(d)
    case .int(let i)?: String(i)
    case .string(let s)?: s
    case .embedding(let e)?: "[" + e.map { String($0) }.joined(separator: ",") + "]"
    }
  }

  /// Shortest text that parses back to the same double, integral values as "3.0"; the sign of zero
  /// is kept ("-0.0"), so that text round-trips bit for bit.
  static func formatDouble(_ d: Double) -> String {
    if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
    if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) + ".0" }
    return String(d)
  }

  public struct ParseError: Error, Equatable {
    public var message: String
    init(_ message: String) { self.message = message }
  }
}

extension ValueStatus {
  public var name: String {
    switch self {
    case .present: "PRESENT"
    case .defaulted: "DEFAULTED"
    case .missing: "MISSING"
    case .expired: "EXPIRED"
    }
  }
}

extension String {
  var trimmingWhitespace: String {
    var s = Substring(self)
    while s.first?.isWhitespace == true { s.removeFirst() }
    while s.last?.isWhitespace == true { s.removeLast() }
    return String(s)
  }
}
