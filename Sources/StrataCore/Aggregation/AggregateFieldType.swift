/// The type of the event field an aggregate reads: the scalar feature types only.
///
/// Embeddings cannot be aggregated. Floats are finite everywhere in Strata (NaN and infinities are
/// rejected when an event is written), so no aggregate ever sees a non-finite input.
public enum AggregateFieldType: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
  /// 64-bit IEEE float, finite.
  case float = 1
  /// 64-bit signed integer.
  case int = 2
  /// UTF-8 string.
  case string = 3

  /// The field type for a feature type, or nil for an embedding.
  public init?(_ dtype: DType) {
    switch dtype {
    case .float: self = .float
    case .int: self = .int
    case .string: self = .string
    case .embedding: return nil
    }
  }

  /// The matching feature type.
  public var dtype: DType {
    switch self {
    case .float: .float
    case .int: .int
    case .string: .string
    }
  }

  public var description: String { dtype.description }

  /// Whether `value` may be a value of a field of this type (a null always may): the same kind, and a
  /// finite float.
  public func accepts(_ value: FeatureValue?) -> Bool {
    switch (self, value) {
    case (_, nil): true
    case (.float, .float(let v)?): v.isFinite
    case (.int, .int?), (.string, .string?): true
    default: false
    }
  }

  /// Throws INVALID_ARGUMENT unless `accepts(value)`, naming `field` in the message.
  public func validate(_ value: FeatureValue?, field: String) throws(StrataError) {
    guard !accepts(value), let value else { return }
    if case .float = value, self == .float {
      throw .invalidArgument("field '\(field)' is FLOAT and must be finite; send a null to mean \"no value\"")
    }
    throw .invalidArgument("field '\(field)' is \(self) but the event carries a \(value.kindName) value")
  }
}
