/// One non-null feature value. A null is represented as `Optional<FeatureValue>.none`.
public enum FeatureValue: Hashable, Sendable {
  case float(Double)
  case int(Int64)
  case string(String)
  case embedding([Float])

  /// Whether this value may be stored in a feature of type `dtype`.
  ///
  /// Exact match only: an `.int` is not accepted for a FLOAT feature (and the reverse), an embedding
  /// must have exactly the declared dimension, and floats must be finite (NaN/Inf are rejected; send a
  /// null to mean "no value").
  public func conformance(to dtype: DType) -> Conformance {
    switch (self, dtype) {
    case (.float(let v), .float):
      return v.isFinite ? .ok : .nonFinite
    case (.int, .int), (.string, .string):
      return .ok
    case (.embedding(let values), .embedding(let dimension)):
      guard values.count == dimension else { return .wrongDimension(got: values.count, expected: dimension) }
      return values.allSatisfy(\.isFinite) ? .ok : .nonFinite
    default:
      return .typeMismatch
    }
  }

  public enum Conformance: Equatable, Sendable {
    case ok
    case typeMismatch
    case nonFinite
    case wrongDimension(got: Int, expected: Int)
  }

  /// The kind of value as a dtype-like name, for error messages.
  public var kindName: String {
    switch self {
    case .float: "FLOAT"
    case .int: "INT"
    case .string: "STRING"
    case .embedding(let v): "EMBEDDING(\(v.count))"
    }
  }
}
