public import StrataCore

/// Reads one stream version's stored events and tiles for windowed aggregates, through one history
/// cursor and one tile cursor (a snapshot each, taken when the reader is made). Not thread-safe: one
/// reader per read, on one thread.
final class StoredStreamReader {
  let stream: FeatureGroup
  let fieldTypes: [AggregateFieldType]
  private let history: any StorageCursor
  private let tiles: any StorageCursor

  init(engine: any StorageEngine, stream: FeatureGroup) throws {
    self.stream = stream
    self.fieldTypes = StreamTiles.fieldTypes(stream)
    self.history = try engine.makeCursor(in: .history)
    self.tiles = try engine.makeCursor(in: .tiles)
  }

  /// The source of field `field` of `entityID`'s events: stored tiles plus the raw events at the
  /// windows' edges.
  func field(_ field: Int, of entityID: String) -> Field {
    Field(reader: self, entityID: entityID, field: field, fieldType: fieldTypes[field])
  }

  /// The latest event (event, created, sequence) with `floor <= event <= time` and, with `knownAt`,
  /// `created <= knownAt`; nil when there is none.
  func latestEvent(of entityID: String, at time: Timestamp, floor: Timestamp, knownAt: Timestamp?) throws -> (Timestamp, Timestamp, UInt64)? {
    let prefix = KeyCodec.historyPrefix(entityID: entityID, groupVersion: stream.storageID)
    var upper = ByteWriter(capacity: prefix.count + 24)
    upper.append(contentsOf: prefix)
    upper.i64Ordered(time.microseconds)
    upper.i64Ordered(.max)
    upper.u64BE(.max)
    history.seekForPrev(upper.bytes)
    while history.isValid, history.key.starts(with: prefix) {
      let (event, created, sequence) = try KeyCodec.decodeHistoryKeySuffix(history.key)
      if event < floor { break }
      if knownAt.map({ created <= $0 }) ?? true { return (event, created, sequence) }
      history.prev()
    }
    try history.checkStatus()
    return nil
  }

  /// One field of one entity's events as an `AggregationSource` over storage.
  struct Field: AggregationSource {
    typealias Failure = StrataError
    let reader: StoredStreamReader
    let entityID: String
    let field: Int
    let fieldType: AggregateFieldType
    var tiling: AggregationTiling { StreamTiles.tiling }

    func forEachTile(width: Int64, indices: ClosedRange<Int64>, _ body: (Int64, AggregatePartial) -> Void) throws(StrataError) {
      guard let level = StreamTiles.tiling.widths.firstIndex(of: width) else { return }
      let cursor = reader.tiles
      let first = KeyCodec.tileKey(entityID: entityID, stream: reader.stream.storageID, level: UInt8(level), index: indices.lowerBound)
      let prefix = Array(first.dropLast(8))
      do {
        cursor.seek(first)
        while cursor.isValid {
          let key = cursor.key
          guard key.count == prefix.count + 8, key.starts(with: prefix) else { break }
          var r = ByteReader(key, offset: prefix.count)
          let index = try r.i64Ordered()
          if index > indices.upperBound { break }
          body(index, try StreamTiles.decode(cursor.value, field: field, fieldType: fieldType))
          cursor.next()
        }
        try cursor.checkStatus()
      } catch let error as StrataError {
        throw error
      } catch {
        throw .internalError("reading stream tiles: \(error)")
      }
    }

    func forEachEvent(eventTimes: ClosedRange<Timestamp>, _ body: (AggregationEvent) -> Void) throws(StrataError) {
      let cursor = reader.history
      let prefix = KeyCodec.historyPrefix(entityID: entityID, groupVersion: reader.stream.storageID)
      var start = ByteWriter(capacity: prefix.count + 8)
      start.append(contentsOf: prefix)
      start.i64Ordered(eventTimes.lowerBound.microseconds)
      let dtypes = reader.stream.dtypes
      do {
        cursor.seek(start.bytes)
        while cursor.isValid, cursor.key.starts(with: prefix) {
          let (event, created, sequence) = try KeyCodec.decodeHistoryKeySuffix(cursor.key)
          if event > eventTimes.upperBound { break }
          let values = try RowCodec.decode(cursor.value, dtypes: dtypes)
          body(AggregationEvent(eventTime: event, createdTime: created, sequence: sequence, value: values[field]))
          cursor.next()
        }
        try cursor.checkStatus()
      } catch let error as StrataError {
        throw error
      } catch {
        throw .internalError("reading stream events: \(error)")
      }
    }
  }
}
