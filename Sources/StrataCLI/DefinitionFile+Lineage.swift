internal import StrataCore
internal import Yams

extension DefinitionFile {
  static let lineageKeys = ["source", "transformation", "upstream", "pipeline"]

  /// The optional `lineage:` mapping of a stream or group:
  ///
  /// ```yaml
  ///     lineage:
  ///       source: "warehouse.orders"          # a URI or table name
  ///       transformation: "SELECT ... "        # SQL, or a code reference with its commit
  ///       upstream: [purchases, user_stats@2]  # groups and streams it is derived from: NAME or NAME@VERSION
  ///       pipeline: daily_user_stats           # the pipeline expected to write it
  /// ```
  ///
  /// Every key optional; the rules on the values are `Lineage.validate` (checked with the definition).
  static func parseLineage(_ keys: [String: Node], label: String, file: Context) throws(StrataError) -> Lineage {
    guard let node = keys["lineage"], !isNull(node) else { return Lineage() }
    let where_ = "\(label): lineage"
    let fields = try file.mapping(node, what: where_, allowed: lineageKeys)
    var upstream: [String] = []
    if let list = fields["upstream"], !isNull(list) {
      guard case .sequence(let items) = list else {
        throw file.error(where_, "'upstream' must be a list of group or stream names (NAME or NAME@VERSION), found \(kindName(list))")
      }
      for item in items {
        guard case .scalar(let scalar) = item else {
          throw file.error(where_, "each 'upstream' item must be a name (NAME or NAME@VERSION), found \(kindName(item))\(lineSuffix(item))")
        }
        upstream.append(scalar.string)
      }
    }
    return Lineage(
      source: try file.optionalString(fields, "source", in: where_) ?? "",
      transformation: try file.optionalString(fields, "transformation", in: where_) ?? "",
      upstream: upstream,
      pipeline: try file.optionalString(fields, "pipeline", in: where_) ?? "")
  }
}
