internal import StrataCore
internal import Yams

/// The YAML plumbing of `DefinitionFile`: typed access to mapping keys with precise errors, node
/// kinds and tags, typo suggestions and the translation of Yams' syntax errors.
extension DefinitionFile {
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
