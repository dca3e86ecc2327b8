/// How one feature of an aggregate group is computed: `function` of the stream's field `field` over
/// a sliding `window`, e.g. `{name: spend_1h, field: amount, function: sum, window: 1h}`. The value at
/// time T covers the entity's events with `T - window < event_time <= T` (`AggregationWindow`).
public struct FeatureAggregation: Hashable, Sendable, CustomStringConvertible {
  /// The name of a field of the stream.
  public var field: String
  public var function: AggregateFunction
  public var window: AggregationWindow

  public init(field: String, function: AggregateFunction, window: AggregationWindow) {
    self.field = field
    self.function = function
    self.window = window
  }

  public var description: String { "\(function)(\(field)) over \(window)" }

  /// Parses a window written as a number and a unit: `30s`, `5m`, `1h`, `30d` (seconds, minutes,
  /// hours, days), 1 minute to 90 days. Throws INVALID_ARGUMENT naming the accepted forms.
  public static func parseWindow(_ text: String) throws(StrataError) -> AggregationWindow {
    let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
    let trimmed = Substring(text)
    guard let unit = trimmed.last, let scale = units[unit], let number = Int64(trimmed.dropLast()), number > 0 else {
      throw .invalidArgument(
        "window '\(text)' is not a duration: write a whole number and a unit, s, m, h or d (e.g. 5m, 1h, 30d)")
    }
    let (seconds, overflow) = number.multipliedReportingOverflow(by: scale)
    guard !overflow else { throw .invalidArgument("window '\(text)' is out of range: use 1 minute to 90 days") }
    return try AggregationWindow(seconds: seconds)
  }
}
