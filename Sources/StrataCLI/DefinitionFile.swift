public import StrataCore
internal import Foundation
internal import Yams

/// Reads feature group and stream definitions from a YAML file.
///
/// The format: a top-level `streams:` list, a `groups:` list, or both. Every key other than those
/// marked required below is optional.
///
/// ```yaml
/// streams:                         # event streams: producers push events (`strata push`)
///   - name: purchases              # required
///     entity_type: USER            # as for groups
///     description: "One event per purchase"
///     owner: "checkout"
///     refresh_interval: 1m         # a duration, as for groups
///     fields:                      # required: the values each event carries
///       - name: amount             # required
///         dtype: FLOAT             # required: FLOAT | INT | STRING (no EMBEDDING, no default)
///         description: "Order total in EUR"
///
/// groups:
///   - name: user_stats             # required
///     entity_type: USER            # USER | ITEM | SESSION (case-insensitive), default USER
///     description: "Purchase statistics per user"
///     owner: "ml-platform"
///     refresh_interval: 1d         # a duration: 30s, 5m, 1h, 1d, 2w, or a plain integer number of seconds
///     max_age: 30d                 # a duration; omitted (or null) = values never expire
///     features:                    # required
///       - name: purchases_30d      # required
///         dtype: INT               # required: FLOAT | INT | STRING | EMBEDDING(dim) (case-insensitive)
///         default: 0               # must fit the dtype (a list of numbers for EMBEDDING)
///         description: "Purchases in the last 30 days"
///
///   - name: user_spend
///     stream: purchases            # an aggregate group: every feature aggregates a field of the stream
///     features:
///       - name: spend_5m           # required
///         field: amount            # required: a field of the stream
///         function: sum            # required: count | sum | avg | min | max | last (case-insensitive)
///         window: 5m               # required: a duration from 1m to 90d
///         default: 0               # returned when the window holds no value
///         description: "Spend in the last 5 minutes"
///     lineage:                     # any stream or group: where its values come from (all optional)
///       source: "warehouse.orders" # a URI or table name
///       transformation: "sum(amount) over sliding windows"  # SQL, or a code reference with its commit
///       upstream: [purchases]      # groups and streams it is derived from: NAME or NAME@VERSION
///       pipeline: checkout_events  # the pipeline expected to write it
/// ```
///
/// An aggregate's type is derived, not written: INT for `count`, FLOAT for `avg`, the field's type for
/// `sum`, `min`, `max` and `last` (`sum` and `avg` need a FLOAT or INT field). An aggregate group takes
/// no `max_age` (each window bounds the events it reads), and `field`, `function` and `window` belong
/// to aggregate groups only. The stream may be defined in the same file or be registered already: pass
/// the registered ones as `knownStreams` so that fields, functions and defaults are checked against
/// the field types (a stream that is in neither is left to the node; a default is then read with the
/// type its YAML spelling has: `0` an INT, `0.0` a FLOAT, `"x"` a STRING). Applying the group records
/// the stream's version and the derived types (`Catalog.resolvingStream`).
///
/// Unknown keys are rejected (they are usually typos), and so are duplicate keys in a mapping, two
/// streams or two groups with the same name, and a stream and a group with the same name. Every error
/// is `StrataError.invalidArgument` (or `.notFound` for a missing file) with a message naming the file,
/// the stream or group, the field or feature, and the key.
public enum DefinitionFile {
  static let topLevelKeys = ["groups", "streams"]
  static let groupKeys = ["name", "entity_type", "description", "owner", "refresh_interval", "max_age", "features", "stream", "lineage"]
  static let featureKeys = ["name", "dtype", "default", "description"]
  static let aggregateKeys = ["name", "field", "function", "window", "default", "description"]
  static let streamKeys = ["name", "entity_type", "description", "owner", "refresh_interval", "retention", "fields", "lineage"]
  static let fieldKeys = ["name", "dtype", "description"]
  /// The keys that make a feature an aggregate.
  static let aggregationKeys = ["field", "function", "window"]

  /// Reads and parses the definition file at `path`.
  ///
  /// Throws `.notFound` if there is no file at `path`, `.invalidArgument` if it cannot be read, is not UTF-8
  /// or does not parse (see `parse(yaml:fileName:knownStreams:)`).
  public static func load(path: String, knownStreams: [String: FeatureGroupSpec] = [:]) throws(StrataError) -> [FeatureGroupSpec] {
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
    return try parse(yaml: text, fileName: path, knownStreams: knownStreams)
  }

  /// Parses a definition file's contents: its streams (source `.events`) in file order, then its
  /// groups in file order, so that applying them in this order registers every stream before the
  /// groups that read it. `fileName` is used in error messages only. `knownStreams` are streams
  /// defined elsewhere (registered), by name; the file's own streams take precedence over them.
  public static func parse(
    yaml: String, fileName: String, knownStreams: [String: FeatureGroupSpec] = [:]
  ) throws(StrataError) -> [FeatureGroupSpec] {
    let root: Node?
    do {
      root = try Yams.compose(yaml: yaml)
    } catch {
      throw syntaxError(error, fileName: fileName)
    }
    let file = Context(fileName: fileName)
    guard let root, !isNull(root) else {
      throw file.error("", "the file is empty; expected a top-level 'groups:' or 'streams:' list")
    }
    guard case .mapping = root else {
      throw file.error("", "expected a mapping with a 'groups:' or 'streams:' list at the top level, found \(kindName(root))")
    }
    let top = try file.mapping(root, what: "", allowed: topLevelKeys)
    let streamNodes = try topLevelList(top, "streams", items: "streams", file: file)
    let groupNodes = try topLevelList(top, "groups", items: "groups", file: file)
    guard streamNodes != nil || groupNodes != nil else {
      throw file.error("", "missing a top-level 'groups:' or 'streams:' list")
    }

    var streams: [FeatureGroupSpec] = []
    var streamIndexByName: [String: Int] = [:]
    for (index, node) in (streamNodes ?? []).enumerated() {
      let spec = try parseStream(node, index: index, file: file)
      if let previous = streamIndexByName[spec.name] {
        throw file.error(
          "",
          "stream '\(spec.name)' is defined more than once (streams #\(previous + 1) and #\(index + 1)); stream names must be unique"
        )
      }
      streamIndexByName[spec.name] = index
      streams.append(spec)
    }
    var available = knownStreams.filter { $0.value.source == .events }
    for stream in streams { available[stream.name] = stream }

    var groups: [FeatureGroupSpec] = []
    var groupIndexByName: [String: Int] = [:]
    for (index, node) in (groupNodes ?? []).enumerated() {
      let spec = try parseGroup(node, index: index, streams: available, file: file)
      if let previous = groupIndexByName[spec.name] {
        throw file.error(
          "",
          "group '\(spec.name)' is defined more than once (groups #\(previous + 1) and #\(index + 1)); group names must be unique"
        )
      }
      if let stream = streamIndexByName[spec.name] {
        throw file.error(
          "",
          "'\(spec.name)' is defined both as a stream (streams #\(stream + 1)) and as a group (groups #\(index + 1)); streams and groups share one namespace, so rename one"
        )
      }
      groupIndexByName[spec.name] = index
      groups.append(spec)
    }
    return streams + groups
  }

  /// The streams that the aggregate groups among `specs` read but `specs` does not define, sorted:
  /// the ones to look up among the registered streams (`parse(yaml:fileName:knownStreams:)`).
  public static func externalStreams(of specs: [FeatureGroupSpec]) -> [String] {
    let defined = Set(specs.filter { $0.source == .events }.map(\.name))
    return Set(specs.compactMap { $0.source.stream?.name }).subtracting(defined).sorted()
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

  /// The items of the top-level list `key` (nil when the key is absent or null).
  private static func topLevelList(_ top: [String: Node], _ key: String, items: String, file: Context) throws(StrataError) -> [Node]? {
    guard let node = top[key], !isNull(node) else { return nil }
    guard case .sequence(let nodes) = node else {
      throw file.error("", "'\(key)' must be a list of \(items) (each item starting with '- name: ...'), found \(kindName(node))")
    }
    return Array(nodes)
  }

  // MARK: - Groups and features

  /// The keys a stream and a group share: entity_type, description, owner, refresh_interval.
  static func parseCommonKeys(_ keys: [String: Node], label: String, file: Context) throws(StrataError) -> (
    entityType: EntityType, description: String, owner: String, refreshIntervalSeconds: Int64?
  ) {
    var entityType = EntityType.user
    if let text = try file.optionalString(keys, "entity_type", in: label) {
      guard let parsed = EntityType(rawValue: text.uppercased()) else {
        throw file.error(label, "unknown entity_type '\(text)'; use USER, ITEM or SESSION")
      }
      entityType = parsed
    }
    let description = try file.optionalString(keys, "description", in: label) ?? ""
    let owner = try file.optionalString(keys, "owner", in: label) ?? ""
    let refresh = try file.optionalDuration(keys, "refresh_interval", in: label)
    return (entityType, description, owner, refresh)
  }

  /// One item of `groups:`; with a `stream` key an aggregate group (see `parseAggregate`) reading one
  /// of `streams`, if there, by name.
  private static func parseGroup(
    _ node: Node, index: Int, streams: [String: FeatureGroupSpec], file: Context
  ) throws(StrataError) -> FeatureGroupSpec {
    var label = "group #\(index + 1)\(lineSuffix(node))"
    guard case .mapping = node else {
      throw file.error(label, "expected a mapping with 'name', 'features', ..., found \(kindName(node))")
    }
    let keys = try file.mapping(node, what: label, allowed: nil)
    let name = try file.requiredString(keys, "name", in: label)
    label = "group '\(name)'"
    if keys["fields"] != nil {
      throw file.error(
        label,
        "unknown key 'fields': a group lists its 'features'; a stream, which lists 'fields', is declared under the top-level 'streams:'")
    }
    try file.rejectUnknownKeys(keys, allowed: groupKeys, in: label)

    let common = try parseCommonKeys(keys, label: label, file: file)
    let stream = try file.optionalString(keys, "stream", in: label)
    if stream?.isEmpty == true { throw file.error(label, "'stream' must not be empty") }
    var maxAge: Int64?
    if let stream {
      if let node = keys["max_age"], !isNull(node) {
        throw file.error(
          label,
          "max_age does not apply to a group over a stream (stream: \(stream)): each feature's window bounds the events it reads; remove it")
      }
    } else {
      maxAge = try file.optionalDuration(keys, "max_age", in: label, hint: " (omit it for no expiry)")
    }

    guard let featuresNode = keys["features"], !isNull(featuresNode) else {
      let each = stream == nil ? "'name' and 'dtype'" : "'name', 'field', 'function' and 'window'"
      throw file.error(label, "missing required key 'features' (a list of features, each with \(each))")
    }
    guard case .sequence(let featureNodes) = featuresNode else {
      throw file.error(label, "'features' must be a list (each item starting with '- name: ...'), found \(kindName(featuresNode))")
    }
    var features: [FeatureSpec] = []
    features.reserveCapacity(featureNodes.count)
    for (featureIndex, featureNode) in featureNodes.enumerated() {
      if let stream {
        features.append(
          try parseAggregate(
            featureNode, index: featureIndex, group: label, stream: stream, streamSpec: streams[stream], file: file))
      } else {
        features.append(try parseFeature(featureNode, index: featureIndex, group: label, file: file))
      }
    }

    let spec = FeatureGroupSpec(
      name: name,
      entityType: common.entityType,
      description: common.description,
      owner: common.owner,
      refreshIntervalSeconds: common.refreshIntervalSeconds,
      maxAgeSeconds: maxAge,
      features: features,
      source: stream.map { .aggregates(stream: $0, streamVersion: 0) } ?? .rows,
      lineage: try parseLineage(keys, label: label, file: file)
    )
    try validate(spec, file: file)
    return spec
  }

  /// `spec.validate()`, its message prefixed with the file name.
  static func validate(_ spec: FeatureGroupSpec, file: Context) throws(StrataError) {
    do {
      try spec.validate()
    } catch {
      throw StrataError(error.code, "\(file.fileName): \(error.message)")
    }
  }

  /// A feature of a group of rows: name, dtype, default, description.
  private static func parseFeature(_ node: Node, index: Int, group: String, file: Context) throws(StrataError) -> FeatureSpec {
    var label = "\(group), feature #\(index + 1)\(lineSuffix(node))"
    guard case .mapping = node else {
      throw file.error(label, "expected a mapping with 'name' and 'dtype', found \(kindName(node))")
    }
    let keys = try file.mapping(node, what: label, allowed: nil)
    let name = try file.requiredString(keys, "name", in: label)
    label = "\(group), feature '\(name)'"
    if let key = aggregationKeys.first(where: { keys[$0] != nil }) {
      throw file.error(
        label,
        "unknown key '\(key)': field, function and window define an aggregate, but \(group) reads no stream; set the group's stream (stream: NAME) to aggregate a stream's fields")
    }
    try file.rejectUnknownKeys(keys, allowed: featureKeys, in: label)

    let dtypeText = try file.requiredString(keys, "dtype", in: label)
    guard let dtype = DType(parsing: dtypeText) else {
      throw file.error(label, "unknown dtype '\(dtypeText)'; use FLOAT, INT, STRING or EMBEDDING(dim)")
    }
    let description = try file.optionalString(keys, "description", in: label) ?? ""
    var defaultValue: FeatureValue?
    if let node = keys["default"], !isNull(node) {
      defaultValue = try parseDefault(node, dtype: dtype, label: label, file: file)
    }
    return FeatureSpec(name: name, dtype: dtype, defaultValue: defaultValue, description: description)
  }

  /// Converts a `default:` node to a value of `dtype`. Embedding length and finiteness are left to
  /// `FeatureGroupSpec.validate()`.
  static func parseDefault(_ node: Node, dtype: DType, label: String, file: Context) throws(StrataError) -> FeatureValue {
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
}
