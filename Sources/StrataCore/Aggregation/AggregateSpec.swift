/// One aggregate feature: a function of one event field over a sliding window, e.g. the sum of
/// `amount` over 1 hour (`spend_1h`). Validated on construction.
///
/// ```swift
/// let spend1h = try AggregateSpec(function: .sum, fieldType: .float, window: AggregationWindow(seconds: 3_600))
/// state.value(of: spend1h, at: now, knownAt: nil)  // .present(.float(...))
/// ```
public struct AggregateSpec: Hashable, Sendable, CustomStringConvertible {
  public let function: AggregateFunction
  /// The type of the field the function reads.
  public let fieldType: AggregateFieldType
  public let window: AggregationWindow

  /// Throws INVALID_ARGUMENT when `function` is not defined on `fieldType` (sum or avg of a STRING).
  public init(function: AggregateFunction, fieldType: AggregateFieldType, window: AggregationWindow) throws(StrataError) {
    guard function.accepts(fieldType) else {
      throw .invalidArgument("aggregate '\(function)' needs a FLOAT or INT field, not \(fieldType); use count, min, max or last")
    }
    self.function = function
    self.fieldType = fieldType
    self.window = window
  }

  /// The type of the values this aggregate returns (INT for count, FLOAT for avg, else the field type).
  public var resultType: AggregateFieldType { function.resultType(for: fieldType) }

  public var description: String { "\(function)(\(fieldType)) over \(window)" }
}
