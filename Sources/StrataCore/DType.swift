/// The data type of a feature.
public enum DType: Hashable, Sendable, CustomStringConvertible {
  /// 64-bit IEEE float. NaN and infinities are never stored (rejected on write).
  case float
  /// 64-bit signed integer.
  case int
  /// UTF-8 string.
  case string
  /// A vector of exactly `dimension` 32-bit floats (finite values only).
  case embedding(dimension: Int)

  public static let maxEmbeddingDimension = 65_536

  public var description: String {
    switch self {
    case .float: "FLOAT"
    case .int: "INT"
    case .string: "STRING"
    case .embedding(let d): "EMBEDDING(\(d))"
    }
  }

  /// Parses `FLOAT`, `INT`, `STRING`, `EMBEDDING(64)` (case-insensitive).
  public init?(parsing text: String) {
    let t = text.uppercased().filter { $0 != " " }
    switch t {
    case "FLOAT", "DOUBLE": self = .float
    case "INT", "INT64", "INTEGER": self = .int
    case "STRING": self = .string
    default:
      guard t.hasPrefix("EMBEDDING("), t.hasSuffix(")"),
        let d = Int(t.dropFirst("EMBEDDING(".count).dropLast())
      else { return nil }
      self = .embedding(dimension: d)
    }
  }
}
