public import StrataCore

/// How the columns of a CSV file map onto a feature group's write batches (or a stream's event
/// batches: the stream is the group, its fields the features).
///
/// Required columns: `entity_id` and `event_timestamp`; optional `created_timestamp`; every other column
/// must be a feature of the group (a typo is an error, not a silently dropped column). Features of the
/// group without a column are written as null. Messages say "field" instead of "feature" for a stream.
public struct IngestPlan: Sendable {
  public let group: FeatureGroup
  public let fileName: String
  let entityColumn: Int
  let eventColumn: Int
  let createdColumn: Int?
  /// (CSV column index, dtype) per written feature, in the order of `featureNames`.
  let featureColumns: [(column: Int, dtype: DType)]
  public let featureNames: [String]
  /// "field" for a stream, "feature" otherwise.
  let noun: String

  public init(header: [String], group: FeatureGroup, fileName: String) throws(StrataError) {
    self.group = group
    self.fileName = fileName
    let noun = group.spec.source == .events ? "field" : "feature"
    self.noun = noun
    var entity: Int?
    var event: Int?
    var created: Int?
    var features: [(Int, DType)] = []
    var names: [String] = []
    var seen = Set<String>()
    for (i, raw) in header.enumerated() {
      let name = raw.trimmingWhitespace
      guard seen.insert(name).inserted else {
        throw .invalidArgument("\(fileName): column '\(name)' appears twice in the header")
      }
      switch name {
      case "entity_id": entity = i
      case "event_timestamp": event = i
      case "created_timestamp": created = i
      default:
        guard let index = group.featureIndex(named: name) else {
          let known = group.spec.features.map(\.name).joined(separator: ", ")
          throw .invalidArgument(
            "\(fileName): column '\(name)' is not a \(noun) of \(group.qualifiedName) (\(noun)s: \(known)); the other allowed columns are entity_id, event_timestamp, created_timestamp")
        }
        features.append((i, group.spec.features[index].dtype))
        names.append(name)
      }
    }
    guard let entity else { throw .invalidArgument("\(fileName): the header has no 'entity_id' column") }
    guard let event else { throw .invalidArgument("\(fileName): the header has no 'event_timestamp' column") }
    guard !features.isEmpty else {
      throw .invalidArgument("\(fileName): the header names no \(noun) of \(group.qualifiedName)")
    }
    self.entityColumn = entity
    self.eventColumn = event
    self.createdColumn = created
    self.featureColumns = features
    self.featureNames = names
  }

  /// One CSV record as a write row, or an error naming the file, line and column.
  public func row(_ record: [String], line: Int) throws(StrataError) -> (
    entityID: String, event: Timestamp, created: Timestamp?, values: [FeatureValue?]
  ) {
    func fail(_ column: String, _ what: String) -> StrataError {
      .invalidArgument("\(fileName) line \(line), column '\(column)': \(what)")
    }
    let entity = record[entityColumn]
    guard !entity.isEmpty else { throw fail("entity_id", "entity id is empty") }
    guard let event = TimestampFormat.parse(record[eventColumn]) else {
      throw fail(
        "event_timestamp",
        "'\(record[eventColumn])' is not a timestamp; use RFC 3339 (2024-05-01T12:00:00Z) or epoch seconds/milliseconds")
    }
    var created: Timestamp?
    if let c = createdColumn, !record[c].isEmpty {
      guard let t = TimestampFormat.parse(record[c]) else {
        throw fail("created_timestamp", "'\(record[c])' is not a timestamp; use RFC 3339 or epoch seconds/milliseconds")
      }
      created = t
    }
    var values: [FeatureValue?] = []
    values.reserveCapacity(featureColumns.count)
    for (k, fc) in featureColumns.enumerated() {
      switch ValueText.parse(record[fc.column], as: fc.dtype) {
      case .success(let v): values.append(v)
      case .failure(let e): throw fail(featureNames[k], "\(e.message) (the \(noun) is \(fc.dtype))")
      }
    }
    return (entity, event, created, values)
  }
}
