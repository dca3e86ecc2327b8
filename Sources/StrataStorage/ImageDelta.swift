internal import HashTreeCollections
internal import StrataCore

/// The events of a stream stored since its history image's scan began, per entity: with the image,
/// exactly the entity's stored events (`HistoryImages` keeps both, the writer adds a batch's events
/// here after storing them and before acknowledging them).
///
/// Each entity's events are kept ascending in event order (event time, created time, sequence), as
/// the image keeps its rows; a late event is inserted in its place. Every event is added once (the
/// writer adds only the events a batch stored for the first time), so the image's rows and these
/// never share an event and their partial aggregates merge exactly (`AggregatePartial.merge`).
///
/// A persistent dictionary: a reader's copy costs O(1), and a writer adding to a dictionary a reader
/// holds copies only the paths it changes.
struct ImageDelta: Sendable {
  private(set) var entities = TreeDictionary<ExactEntityID, [StoredRow]>()
  /// Events held, over every entity.
  private(set) var rowCount = 0
  /// Approximate heap bytes held.
  private(set) var byteSize = 0

  var isEmpty: Bool { rowCount == 0 }

  /// The events of `entityID` since the scan, ascending in event order; empty when none.
  func rows(of entityID: String) -> [StoredRow] {
    entities.isEmpty ? [] : entities[ExactEntityID(entityID)] ?? []
  }

  /// Whether `entityID` has events here.
  func contains(_ entityID: String) -> Bool {
    !entities.isEmpty && entities[ExactEntityID(entityID)] != nil
  }

  /// Adds one stored event of `entityID` (`row.values` the stream's field values).
  mutating func add(_ entityID: String, _ row: StoredRow) {
    var isNew = false
    entities[ExactEntityID(entityID), default: { isNew = true; return [] }()].insertInOrder(row)
    if isNew { byteSize += Self.entityBytes + entityID.utf8.count }
    rowCount += 1
    byteSize += Self.rowBytes(row)
  }

  /// Per entity: its dictionary entry and array header.
  static let entityBytes = 64
  /// Approximate heap bytes of one event: its order key, its values array and string bytes.
  static func rowBytes(_ row: StoredRow) -> Int {
    row.values.reduce(64) { total, value in
      if case .string(let s)? = value, s.utf8.count > 15 { return total + 24 + s.utf8.count }
      return total + 24
    }
  }
}

extension [StoredRow] {
  /// Inserts `row` after every row that precedes it in event order (appends in the common case).
  fileprivate mutating func insertInOrder(_ row: StoredRow) {
    if isEmpty || row.supersedes(self[count - 1]) {
      append(row)
      return
    }
    var lo = 0
    var hi = count
    while lo < hi {
      let mid = (lo + hi) >> 1
      if row.supersedes(self[mid]) { lo = mid + 1 } else { hi = mid }
    }
    insert(row, at: lo)
  }
}

extension ImageDelta {
  /// The partial aggregate of field `field` over `rows` (one entity's, ascending) with event time in
  /// `first...last` and, with `knownAt`, created time at most it.
  static func partial(
    field: Int, fieldType: AggregateFieldType, rows: [StoredRow], eventTimes first: Timestamp, _ last: Timestamp, knownAt: Timestamp?
  ) -> AggregatePartial {
    var partial = AggregatePartial(fieldType: fieldType)
    guard !rows.isEmpty else { return partial }
    var r = firstRow(rows, atOrAfter: first)
    while r < rows.count && rows[r].eventTime <= last {
      if knownAt.map({ rows[r].createdTime <= $0 }) ?? true { partial.add(rows[r].aggregationEvent(field: field)) }
      r += 1
    }
    return partial
  }

  /// The index of the first of `rows` (ascending) with event time at least `time`, or `rows.count`.
  static func firstRow(_ rows: [StoredRow], atOrAfter time: Timestamp) -> Int {
    var lo = 0
    var hi = rows.count
    while lo < hi {
      let mid = (lo + hi) >> 1
      if rows[mid].eventTime < time { lo = mid + 1 } else { hi = mid }
    }
    return lo
  }
}
