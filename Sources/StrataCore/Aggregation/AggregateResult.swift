/// The value of an aggregate at one time.
public enum AggregateResult: Hashable, Sendable {
  /// A value: always for count, and for sum (0 over an empty window); for avg, min, max and last
  /// when the window holds at least one non-null value.
  case present(FeatureValue)
  /// avg, min, max or last over a window without a non-null value.
  case missing
  /// A sum outside its type's range: an INT sum outside Int64, or a FLOAT sum whose correctly
  /// rounded value is beyond the finite doubles. The exact sum is kept, so the value is back as soon
  /// as the window's sum is in range again (intermediate overflow never matters).
  case overflow

  /// The result as a feature value with its status:
  /// - `present` → PRESENT;
  /// - `missing` → DEFAULTED with `defaultValue` if there is one, else MISSING;
  /// - `overflow` → MISSING with a null value, never the default: a sum that does not fit is not
  ///   "no events", and a default (often 0) would pass for a real sum. Callers that can carry a
  ///   reason should report the overflow itself (the case above).
  /// `eventTime` is nil: an aggregate has no single source row.
  public func featureResult(defaultValue: FeatureValue?) -> FeatureResult {
    switch self {
    case .present(let value):
      return FeatureResult(value: value, status: .present, eventTime: nil)
    case .missing:
      return defaultValue.map { FeatureResult(value: $0, status: .defaulted, eventTime: nil) }
        ?? FeatureResult(value: nil, status: .missing, eventTime: nil)
    case .overflow:
      return FeatureResult(value: nil, status: .missing, eventTime: nil)
    }
  }
}
