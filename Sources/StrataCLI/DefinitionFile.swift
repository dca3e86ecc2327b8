public import StrataCore
internal import Foundation
internal import Yams

/// Reads feature group definitions from a YAML file.
///
/// The format (every key other than `groups`, group `name`, `features`, feature `name` and `dtype` is optional):
///
/// ```yaml
/// groups:
///   - name: user_stats
///     entity_type: USER            # USER | ITEM | SESSION (case-insensitive), default USER
///     description: "Purchase statistics per user"
///     owner: "ml-platform"
///     refresh_interval: 1d         # a duration: 30s, 5m, 1h, 1d, 2w, or a plain integer number of seconds
///     max_age: 30d                 # a duration; omitted (or null) = values never expire
///     features:
///       - name: purchases_30d
///         dtype: INT               # FLOAT | INT | STRING | EMBEDDING(dim) (case-insensitive)
///         default: 0               # optional; must fit the dtype (a list of numbers for EMBEDDING)
///         description: "Purchases in the last 30 days"
/// ```
///
/// Unknown keys are rejected (they are usually typos), and so are duplicate keys in a mapping and two groups
/// with the same name. Every error is `StrataError.invalidArgument` (or `.notFound` for a missing file) with a
/// message naming the file, the group, the feature and the field.
public enum DefinitionFile {
  static let groupKeys = ["name", "entity_type", "description", "owner", "refresh_interval", "max_age", "features"]
  static let featureKeys = ["name", "dtype", "default", "description"]
  static let topLevelKeys = ["groups"]

  /// Reads and parses the definition file at `path`.
  ///
  /// Throws `.notFound` if there is no file at `path`, `.invalidArgument` if it cannot be read, is not UTF-8
  /// or does not parse (see `parse(yaml:fileName:)`).
  public static func load(path: String) throws(StrataError) -> [FeatureGroupSpec] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw StrataError(.notFound, "definition file '\(path)' does not exist")
    }
    guard !isDirectory.boolValue else {
      throw .invalidArgument("'\(path)' is a directory; pass the path of a YAML definition file")
    }
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw StrataError(.invalidArgument, "cannot read definition file '\(path)'", cause: error)
    }
    guard let text = String(data: data, encoding: .utf8) else {
      throw .invalidArgument("definition file '\(path)' is not valid UTF-8")
    }
    return try parse(yaml: text, fileName: path)
  }

  /// Parses a definition file's contents. `fileName` is used in error messages only.
  public static func parse(yaml: String, fileName: String) throws(StrataError) -> [FeatureGroupSpec] {
    let root: Node?
    do {
      root = try Yams.compose(yaml: yaml)
    } catch {
      throw syntaxError(error, fileName: fileName)
    }
    let file = Context(fileName: fileName)
    guard let root, !isNull(root) else {
      throw file.error("", "the file is empty; expected a top-level 'groups:' list")
    }
    guard case .mapping = root else {
      throw file.error("", "expected a mapping with a 'groups:' list at the top level, found \(kindName(root))")
    }
    let top = try file.mapping(root, what: "", allowed: topLevelKeys)
    guard let groupsNode = top["groups"], !isNull(groupsNode) else {
      throw file.error("", "missing the top-level 'groups:' list")
    }
    guard case .sequence(let groupNodes) = groupsNode else {
      throw file.error("", "'groups' must be a list of groups (each item starting with '- name: ...'), found \(kindName(groupsNode))")
    }

    var specs: [FeatureGroupSpec] = []
    var firstIndexByName: [String: Int] = [:]
    for (index, groupNode) in groupNodes.enumerated() {
      let spec = try parseGroup(groupNode, index: index, file: file)
      if let previous = firstIndexByName[spec.name] {
        throw file.error(
          "",
          "group '\(spec.name)' is defined more than once (groups #\(previous + 1) and #\(index + 1)); group names must be unique"
        )
      }
      firstIndexByName[spec.name] = index
      specs.append(spec)
    }
    return specs
  }

  /// Parses a duration: a whole number followed by `s`, `m`, `h`, `d` or `w`, or a plain whole number of
  /// seconds. Returns the number of seconds, or `nil` if `text` is not a duration (or overflows).
  public static func parseDuration(_ text: String) -> Int64? {
    var digits = Substring(text.trimmingCharacters(in: .whitespaces))
    var multiplier: Int64 = 1
    if let last = digits.utf8.last, !(48...57).contains(last) {
      switch last {
      case UInt8(ascii: "s"): multiplier = 1
      case UInt8(ascii: "m"): multiplier = 60
      case UInt8(ascii: "h"): multiplier = 3_600
      case UInt8(ascii: "d"): multiplier = 86_400
      case UInt8(ascii: "w"): multiplier = 604_800
      default: return nil
      }
      digits = digits.dropLast()
    }
    guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = Int64(digits) else {
      return nil
    }
    let (seconds, overflow) = value.multipliedReportingOverflow(by: multiplier)
    return overflow ? nil : seconds
  }

  // MARK: - Groups and features

  private static func parseGroup(_ node: Node, index: Int, file: Context) throws(StrataError) -> FeatureGroupSpec {
    var label = "group #\(index + 1)\(lineSuffix(node))"
    guard case .mapping = node else {
      throw file.error(label, "expected a mapping with 'name', 'features', ..., found \(kindName(node))")
    }
    let fields = try file.mapping(node, what: label, allowed: nil)
    let name = try file.requiredString(fields, "name", in: label)
    label = "group '\(name)'"
    try file.rejectUnknownKeys(fields, allowed: groupKeys, in: label)

    var entityType = EntityType.user
    if let text = try file.optionalString(fields, "entity_type", in: label) {
      guard let parsed = EntityType(rawValue: text.uppercased()) else {
        throw file.error(label, "unknown entity_type '\(text)'; use USER, ITEM or SESSION")
      }
      entityType = parsed
    }
    let description = try file.optionalString(fields, "description", in: label) ?? ""
    let owner = try file.optionalString(fields, "owner", in: label) ?? ""
    let refresh = try file.optionalDuration(fields, "refresh_interval", in: label)
    let maxAge = try file.optionalDuration(fields, "max_age", in: label, hint: " (omit it for no expiry)")

    guard let featuresNode = fields["features"], !isNull(featuresNode) else {
      throw file.error(label, "missing required key 'features' (a list of features, each with 'name' and 'dtype')")
    }
    guard case .sequence(let featureNodes) = featuresNode else {
      throw file.error(label, "'features' must be a list (each item starting with '- name: ...'), found \(kindName(featuresNode))")
    }
    var features: [FeatureSpec] = []
    features.reserveCapacity(featureNodes.count)
    for (featureIndex, featureNode) in featureNodes.enumerated() {
      features.append(try parseFeature(featureNode, index: featureIndex, group: label, file: file))
    }

    let spec = FeatureGroupSpec(
      name: name,
      entityType: entityType,
      description: description,
      owner: owner,
      refreshIntervalSeconds: refresh,
      maxAgeSeconds: maxAge,
      features: features
    )
    do {
      try spec.validate()
    } catch {
      throw StrataError(error.code, "\(file.fileName): \(error.message)")
    }
    return spec
  }

  private static func parseFeature(_ node: Node, index: Int, group: String, file: Context) throws(StrataError) -> FeatureSpec {
    var label = "\(group), feature #\(index + 1)\(lineSuffix(node))"
    guard case .mapping = node else {
      throw file.error(label, "expected a mapping with 'name' and 'dtype', found \(kindName(node))")
    }
    let fields = try file.mapping(node, what: label, allowed: nil)
    let name = try file.requiredString(fields, "name", in: label)
    label = "\(group), feature '\(name)'"
    try file.rejectUnknownKeys(fields, allowed: featureKeys, in: label)

    let dtypeText = try file.requiredString(fields, "dtype", in: label)
    guard let dtype = DType(parsing: dtypeText) else {
      throw file.error(label, "unknown dtype '\(dtypeText)'; use FLOAT, INT, STRING or EMBEDDING(dim)")
    }
    let description = try file.optionalString(fields, "description", in: label) ?? ""
    var defaultValue: FeatureValue?
    if let node = fields["default"], !isNull(node) {
      defaultValue = try parseDefault(node, dtype: dtype, label: label, file: file)
    }
    return FeatureSpec(name: name, dtype: dtype, defaultValue: defaultValue, description: description)
  }

  /// Converts a `default:` node to a value of `dtype`. Embedding length and finiteness are left to
  /// `FeatureGroupSpec.validate()`.
  private static func parseDefault(_ node: Node, dtype: DType, label: String, file: Context) throws(StrataError) -> FeatureValue {
    switch dtype {
    case .string:
      guard case .scalar(let scalar) = node else {
        throw file.error(label, "default must be a string for a STRING feature, found \(kindName(node))")
      }
      return .string(scalar.string)
    case .int:
      guard case .scalar(let scalar) = node, isPlain(scalar) else {
        throw file.error(label, "default \(shown(node)) is not an integer; the feature is INT")
      }
      switch tagName(node) {
      case .int:
        guard let value = Int64.construct(from: scalar) else {
          throw file.error(label, "default \(shown(node)) is out of range for INT (64-bit signed integer)")
        }
        return .int(value)
      case .float:
        throw file.error(label, "default \(shown(node)) is not an integer; the feature is INT (use FLOAT for fractional values)")
      default:
        throw file.error(label, "default \(shown(node)) is not an integer; the feature is INT")
      }
    case .float:
      guard case .scalar(let scalar) = node, isPlain(scalar), let value = number(scalar, tag: tagName(node)) else {
        throw file.error(label, "default \(shown(node)) is not a number; the feature is FLOAT")
      }
      return .float(value)
    case .embedding(let dimension):
      guard case .sequence(let elements) = node else {
        throw file.error(
          label,
          "default \(shown(node)) is not a list of numbers; the feature is EMBEDDING(\(dimension)), write e.g. [0.0, 0.5, ...]"
        )
      }
      var values: [Float] = []
      values.reserveCapacity(elements.count)
      for (i, element) in elements.enumerated() {
        guard case .scalar(let scalar) = element, isPlain(scalar), let value = number(scalar, tag: tagName(element)) else {
          throw file.error(label, "default element #\(i + 1) \(shown(element)) is not a number; EMBEDDING defaults are lists of numbers")
        }
        values.append(Float(value))
      }
      return .embedding(values)
    }
  }

  // MARK: - Helpers

  /// The file name and error construction shared by the parse functions.
  struct Context {
    let fileName: String

    func error(_ label: String, _ message: String) -> StrataError {
      label.isEmpty ? .invalidArgument("\(fileName): \(message)") : .invalidArgument("\(fileName): \(label): \(message)")
    }

    /// The mapping's entries keyed by their (string) key. Throws on a non-string or duplicate key and, when
    /// `allowed` is given, on a key not in it.
    func mapping(_ node: Node, what label: String, allowed: [String]?) throws(StrataError) -> [String: Node] {
      guard case .mapping(let mapping) = node else {
        throw error(label, "expected a mapping, found \(DefinitionFile.kindName(node))")
      }
      var result: [String: Node] = [:]
      for (keyNode, value) in mapping {
        guard case .scalar(let scalar) = keyNode else {
          throw error(label, "keys must be plain words, found \(DefinitionFile.kindName(keyNode))\(DefinitionFile.lineSuffix(keyNode))")
        }
        let key = scalar.string
        // Yams rejects identical keys itself; this also catches keys that differ only in YAML type (`1` vs "1").
        guard result[key] == nil else {
          throw error(label, "key '\(key)' appears more than once\(DefinitionFile.lineSuffix(keyNode)); each key may appear only once")
        }
        result[key] = value
      }
      if let allowed { try rejectUnknownKeys(result, allowed: allowed, in: label) }
      return result
    }

    func rejectUnknownKeys(_ fields: [String: Node], allowed: [String], in label: String) throws(StrataError) {
      // Sorted so the reported key does not depend on dictionary order.
      for key in fields.keys.sorted() where !allowed.contains(key) {
        var message = "unknown key '\(key)'"
        if let suggestion = DefinitionFile.closest(to: key, in: allowed) {
          message += "; did you mean '\(suggestion)'?"
        } else {
          message += "."
        }
        message += " Allowed keys: \(allowed.joined(separator: ", "))"
        throw error(label, message)
      }
    }

    func optionalString(_ fields: [String: Node], _ key: String, in label: String) throws(StrataError) -> String? {
      guard let node = fields[key], !DefinitionFile.isNull(node) else { return nil }
      guard case .scalar(let scalar) = node else {
        throw error(label, "'\(key)' must be a single value, found \(DefinitionFile.kindName(node))")
      }
      return scalar.string
    }

    func requiredString(_ fields: [String: Node], _ key: String, in label: String) throws(StrataError) -> String {
      guard let value = try optionalString(fields, key, in: label) else {
        throw error(label, "missing required key '\(key)'")
      }
      guard !value.isEmpty else { throw error(label, "'\(key)' must not be empty") }
      return value
    }

    func optionalDuration(_ fields: [String: Node], _ key: String, in label: String, hint: String = "") throws(StrataError) -> Int64? {
      guard let text = try optionalString(fields, key, in: label) else { return nil }
      if text.hasPrefix("-") || DefinitionFile.parseDuration(text) == 0 {
        throw error(label, "\(key) must be positive\(hint), got '\(text)'")
      }
      guard let seconds = DefinitionFile.parseDuration(text) else {
        throw error(
          label,
          "\(key) '\(text)' is not a duration; use a whole number followed by s, m, h, d or w (e.g. 30s, 5m, 1h, 1d, 2w), or a whole number of seconds"
        )
      }
      return seconds
    }
  }

  static func isNull(_ node: Node) -> Bool {
    guard case .scalar(let scalar) = node, isPlain(scalar) else { return false }
    return tagName(node) == .null
  }

  /// The resolved tag of a node (`Tag.name` itself is not public).
  static func tagName(_ node: Node) -> Tag.Name {
    Tag.Name(rawValue: node.tag.rawValue)
  }

  static func isPlain(_ scalar: Node.Scalar) -> Bool {
    scalar.style == .plain || scalar.style == .any
  }

  /// The numeric value of a plain int or float scalar.
  static func number(_ scalar: Node.Scalar, tag: Tag.Name) -> Double? {
    switch tag {
    case .int: Int64.construct(from: scalar).map(Double.init)
    case .float: Double.construct(from: scalar)
    default: nil
    }
  }

  static func shown(_ node: Node) -> String {
    guard case .scalar(let scalar) = node else { return "(\(kindName(node)))" }
    return isPlain(scalar) ? scalar.string : "'\(scalar.string)'"
  }

  static func kindName(_ node: Node) -> String {
    switch node {
    case .scalar(let scalar): "the value '\(scalar.string)'"
    case .mapping: "a mapping"
    case .sequence: "a list"
    case .alias: "an alias"
    }
  }

  static func lineSuffix(_ node: Node) -> String {
    node.mark.map { " (line \($0.line))" } ?? ""
  }

  /// The allowed key closest to a mistyped one (edit distance at most 3), if any.
  static func closest(to key: String, in candidates: [String]) -> String? {
    let best = candidates.map { ($0, editDistance(Array(key.utf8), Array($0.utf8))) }.min { $0.1 < $1.1 }
    guard let best, best.1 <= min(3, max(1, key.utf8.count / 2)) else { return nil }
    return best.0
  }

  static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
    if a.isEmpty { return b.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
      current[0] = i
      for j in stride(from: 1, through: b.count, by: 1) {
        current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
      }
      swap(&previous, &current)
    }
    return previous[b.count]
  }

  /// Converts a Yams error to an INVALID_ARGUMENT naming the file and, when Yams knows it, the line and column.
  static func syntaxError(_ error: any Error, fileName: String) -> StrataError {
    guard let yamlError = error as? YamlError else {
      return StrataError(.invalidArgument, "\(fileName): invalid YAML", cause: error)
    }
    switch yamlError {
    case .scanner(let context, let problem, let mark, _),
      .parser(let context, let problem, let mark, _),
      .composer(let context, let problem, let mark, _):
      var message = "\(fileName) line \(mark.line), column \(mark.column): invalid YAML: \(problem)"
      if let context {
        message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
      }
      return .invalidArgument(message)
    case .reader(let problem, let offset, _, let yaml):
      if let offset, let line = lineNumber(ofCharacterOffset: offset, in: yaml) {
        return .invalidArgument("\(fileName) line \(line): invalid YAML: \(problem)")
      }
      return .invalidArgument("\(fileName): invalid YAML: \(problem)")
    case .duplicatedKeysInMapping(let duplicates, let context):
      let keys = duplicates.sorted().map { "'\($0)'" }.joined(separator: ", ")
      return .invalidArgument(
        "\(fileName) line \(context.mark.line): duplicate key \(keys) in the same mapping (first occurrence on this line); each key may appear only once, so remove or rename the repeated one"
      )
    default:
      return .invalidArgument("\(fileName): invalid YAML: \(yamlError)")
    }
  }

  private static func lineNumber(ofCharacterOffset offset: Int, in text: String) -> Int? {
    guard offset >= 0, offset <= text.count else { return nil }
    return text.prefix(offset).reduce(1) { $1 == "\n" ? $0 + 1 : $0 }
  }
}
