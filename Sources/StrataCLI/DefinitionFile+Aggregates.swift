internal import StrataCore
internal import Yams

/// The features of an aggregate group (a group with `stream:`): each is `function` of the stream's
/// `field` over a sliding `window`, and its type is derived rather than written.
extension DefinitionFile {
  /// One feature of a group over `stream`: `name`, `field`, `function`, `window` (required),
  /// `default` and `description`. `streamSpec` is the stream when known (defined in the file or
  /// registered): the field must then exist, the function must accept its type, and the feature gets
  /// its derived type. Without it the type is the one `count` and `avg` fix (INT, FLOAT), else the
  /// default's YAML type, else FLOAT as a placeholder: applying the group sets the real one.
  static func parseAggregate(
    _ node: Node, index: Int, group: String, stream: String, streamSpec: FeatureGroupSpec?, file: Context
  ) throws(StrataError) -> FeatureSpec {
    var label = "\(group), feature #\(index + 1)\(lineSuffix(node))"
    guard case .mapping = node else {
      throw file.error(label, "expected a mapping with 'name', 'field', 'function' and 'window', found \(kindName(node))")
    }
    let keys = try file.mapping(node, what: label, allowed: nil)
    let name = try file.requiredString(keys, "name", in: label)
    label = "\(group), feature '\(name)'"
    if keys["dtype"] != nil {
      throw file.error(
        label,
        "remove 'dtype': the type of an aggregate is derived (INT for count, FLOAT for avg, the field's type for sum, min, max and last)")
    }
    try file.rejectUnknownKeys(keys, allowed: aggregateKeys, in: label)
    for key in aggregationKeys where keys[key].map(isNull) ?? true {
      throw file.error(
        label,
        "missing required key '\(key)': every feature of a group over stream '\(stream)' aggregates one of its fields, with field, function and window (e.g. field: amount, function: sum, window: 1h)")
    }

    let fieldName = try file.requiredString(keys, "field", in: label)
    let functionText = try file.requiredString(keys, "function", in: label)
    guard let function = AggregateFunction(name: functionText) else {
      let names = AggregateFunction.allCases.map(\.rawValue)
      throw file.error(
        label, "unknown function '\(functionText)'; use \(names.dropLast().joined(separator: ", ")) or \(names[names.count - 1])")
    }
    let window = try parseWindow(keys, label: label, file: file)

    var dtype: DType? =
      switch function {
      case .count: .int
      case .avg: .float
      case .sum, .min, .max, .last: nil
      }
    if let streamSpec {
      let fieldType = try fieldType(fieldName, of: streamSpec, label: label, file: file)
      guard function.accepts(fieldType) else {
        throw file.error(
          label,
          "\(function) needs a FLOAT or INT field, but '\(fieldName)' of stream '\(stream)' is \(fieldType); count, min, max and last take any field")
      }
      dtype = function.resultType(for: fieldType).dtype
    }

    let description = try file.optionalString(keys, "description", in: label) ?? ""
    var defaultValue: FeatureValue?
    if let node = keys["default"], !isNull(node) {
      if let dtype {
        defaultValue = try parseDefault(node, dtype: dtype, label: label, file: file)
      } else {
        (defaultValue, dtype) = try untypedDefault(node, label: label, file: file)
      }
    }
    return FeatureSpec(
      name: name, dtype: dtype ?? .float, defaultValue: defaultValue, description: description,
      aggregation: FeatureAggregation(field: fieldName, function: function, window: window))
  }

  /// The type of the stream's field `name`; INVALID_ARGUMENT naming the stream's fields if it has none.
  private static func fieldType(
    _ name: String, of stream: FeatureGroupSpec, label: String, file: Context
  ) throws(StrataError) -> AggregateFieldType {
    let names = stream.features.map(\.name)
    guard let field = stream.features.first(where: { $0.name == name }), let type = AggregateFieldType(field.dtype) else {
      var message = "stream '\(stream.name)' has no field '\(name)'"
      if let suggestion = closest(to: name, in: names) { message += "; did you mean '\(suggestion)'?" }
      throw file.error(label, message + " Its fields: \(names.joined(separator: ", "))")
    }
    return type
  }

  /// The `window` key: a duration (`5m`, `1h`, `30d`, `2w`, or whole seconds) from 1 minute to 90 days.
  private static func parseWindow(_ keys: [String: Node], label: String, file: Context) throws(StrataError) -> AggregationWindow {
    let text = try file.requiredString(keys, "window", in: label)
    let range = "use 1m to 90d"
    if text.hasPrefix("-") { throw file.error(label, "window '\(text)' is out of range: \(range)") }
    guard let seconds = parseDuration(text) else {
      throw file.error(
        label, "window '\(text)' is not a duration; use a whole number followed by s, m, h, d or w (e.g. 5m, 1h, 30d), from 1m to 90d")
    }
    do {
      return try AggregationWindow(seconds: seconds)
    } catch {
      throw file.error(label, "window '\(text)' is out of range: \(range)")
    }
  }

  /// A default whose type the file does not fix (the stream is not known): a plain integer is an INT,
  /// a plain decimal number a FLOAT, any other single value a STRING.
  private static func untypedDefault(_ node: Node, label: String, file: Context) throws(StrataError) -> (FeatureValue, DType) {
    guard case .scalar(let scalar) = node else {
      throw file.error(label, "default \(shown(node)) is not a single value; an aggregate's default is a number or a string")
    }
    if isPlain(scalar) {
      switch tagName(node) {
      case .int:
        guard let value = Int64.construct(from: scalar) else {
          throw file.error(label, "default \(shown(node)) is out of range for INT (64-bit signed integer)")
        }
        return (.int(value), .int)
      case .float:
        guard let value = Double.construct(from: scalar), value.isFinite else {
          throw file.error(label, "default \(shown(node)) is not a finite number")
        }
        return (.float(value), .float)
      default: break
      }
    }
    return (.string(scalar.string), .string)
  }
}
