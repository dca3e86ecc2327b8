internal import StrataCore
internal import Yams

/// The `streams:` list of a definition file: each item is a stream (a group of source `.events`)
/// whose `fields` are the values its events carry.
extension DefinitionFile {
  static let nameRule =
    "use a lowercase letter followed by lowercase letters, digits or '_' (at most \(FeatureGroupSpec.maxNameLength) characters)"

  /// One item of `streams:`: `name`, the `entity_type`, `description`, `owner` and `refresh_interval`
  /// a group has, `retention` (a duration; omitted: events are kept forever) and `fields` (required).
  /// A stream has no `max_age` and no `features`.
  static func parseStream(_ node: Node, index: Int, file: Context) throws(StrataError) -> FeatureGroupSpec {
    var label = "stream #\(index + 1)\(lineSuffix(node))"
    guard case .mapping = node else {
      throw file.error(label, "expected a mapping with 'name', 'fields', ..., found \(kindName(node))")
    }
    let keys = try file.mapping(node, what: label, allowed: nil)
    let name = try file.requiredString(keys, "name", in: label)
    label = "stream '\(name)'"
    if keys["features"] != nil {
      throw file.error(
        label,
        "unknown key 'features': a stream lists its 'fields' (the values each event carries); aggregates over them are the features of a group with 'stream: \(name)'")
    }
    try file.rejectUnknownKeys(keys, allowed: streamKeys, in: label)
    let common = try parseCommonKeys(keys, label: label, file: file)

    guard let fieldsNode = keys["fields"], !isNull(fieldsNode) else {
      throw file.error(label, "missing required key 'fields' (a list of fields, each with 'name' and 'dtype')")
    }
    guard case .sequence(let fieldNodes) = fieldsNode else {
      throw file.error(label, "'fields' must be a list (each item starting with '- name: ...'), found \(kindName(fieldsNode))")
    }
    guard FeatureGroupSpec.isValidName(name) else {
      throw file.error(label, "the name is invalid: \(nameRule)")
    }
    guard !fieldNodes.isEmpty else { throw file.error(label, "'fields' is empty; define at least one field") }
    var fields: [FeatureSpec] = []
    fields.reserveCapacity(fieldNodes.count)
    for (fieldIndex, fieldNode) in fieldNodes.enumerated() {
      let field = try parseStreamField(fieldNode, index: fieldIndex, stream: name, file: file)
      if fields.contains(where: { $0.name == field.name }) {
        throw file.error(label, "field '\(field.name)' is defined more than once")
      }
      fields.append(field)
    }

    let spec = FeatureGroupSpec(
      name: name,
      entityType: common.entityType,
      description: common.description,
      owner: common.owner,
      refreshIntervalSeconds: common.refreshIntervalSeconds,
      features: fields,
      source: .events,
      retentionSeconds: try file.optionalDuration(keys, "retention", in: label),
      lineage: try parseLineage(keys, label: label, file: file)
    )
    try validate(spec, file: file)
    return spec
  }

  /// A field of a stream: `name`, `dtype` (FLOAT, INT or STRING) and `description`; no default (an
  /// event carries its own values, a missing one is null) and no aggregation.
  private static func parseStreamField(_ node: Node, index: Int, stream: String, file: Context) throws(StrataError) -> FeatureSpec {
    var label = "stream '\(stream)', field #\(index + 1)\(lineSuffix(node))"
    guard case .mapping = node else {
      throw file.error(label, "expected a mapping with 'name' and 'dtype', found \(kindName(node))")
    }
    let keys = try file.mapping(node, what: label, allowed: nil)
    let name = try file.requiredString(keys, "name", in: label)
    label = "stream '\(stream)', field '\(name)'"
    if keys["default"] != nil {
      throw file.error(
        label,
        "a stream's fields take no default: each event carries its own values (a missing one is null); set defaults on the features of a group that reads the stream")
    }
    if let key = aggregationKeys.first(where: { keys[$0] != nil }) {
      throw file.error(
        label,
        "unknown key '\(key)': a stream's fields are plain values; aggregate them in the features of a group with 'stream: \(stream)'")
    }
    try file.rejectUnknownKeys(keys, allowed: fieldKeys, in: label)

    let dtypeText = try file.requiredString(keys, "dtype", in: label)
    guard let dtype = DType(parsing: dtypeText) else {
      throw file.error(label, "unknown dtype '\(dtypeText)'; a stream's fields are FLOAT, INT or STRING")
    }
    guard AggregateFieldType(dtype) != nil else {
      throw file.error(label, "dtype \(dtype) is not allowed for a stream field: fields are FLOAT, INT or STRING (aggregates read scalars)")
    }
    guard FeatureGroupSpec.isValidName(name) else {
      throw file.error(label, "the name is invalid: \(nameRule)")
    }
    let description = try file.optionalString(keys, "description", in: label) ?? ""
    return FeatureSpec(name: name, dtype: dtype, description: description)
  }
}
