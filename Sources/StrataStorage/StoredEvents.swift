public import StrataCore

/// The stored events of one entity in one stream version whose event times fall in a range, in event
/// order (event time, created time, write id: the history key order), with their decoded fields.
///
/// `field(_:)` makes the `AggregationSource` of one field, so that aggregates over stored events are
/// computed by the same windowed read (`AggregationSource+Window`) as every other source.
public struct StoredEvents: Sendable {
  /// Ascending by (event, created, sequence); one per stored event (copies are stored once).
  public var rows: [StoredRow]
  /// The stream's field types, in definition order.
  public var dtypes: [DType]

  public init(rows: [StoredRow], dtypes: [DType]) {
    self.rows = rows
    self.dtypes = dtypes
  }

  /// The source over field `index` (a FLOAT, INT or STRING field of the stream).
  public func field(_ index: Int) -> Field {
    Field(events: self, index: index, fieldType: AggregateFieldType(dtypes[index])!)
  }

  /// One field of the events, as an `AggregationSource` without tiles: a read scans the events of its
  /// window (found by binary search), so its cost grows with the events in the window.
  public struct Field: AggregationSource, Sendable {
    public typealias Failure = Never
    let events: StoredEvents
    let index: Int
    public let fieldType: AggregateFieldType
    public var tiling: AggregationTiling { .rawEvents }

    public func forEachTile(width: Int64, indices: ClosedRange<Int64>, _ body: (Int64, AggregatePartial) -> Void) {}

    public func forEachEvent(eventTimes: ClosedRange<Timestamp>, _ body: (AggregationEvent) -> Void) {
      let rows = events.rows
      var low = 0
      var high = rows.count
      while low < high {
        let mid = (low + high) / 2
        if rows[mid].eventTime >= eventTimes.lowerBound { high = mid } else { low = mid + 1 }
      }
      var i = low
      while i < rows.count && rows[i].eventTime <= eventTimes.upperBound {
        let row = rows[i]
        body(AggregationEvent(eventTime: row.eventTime, createdTime: row.createdTime, sequence: row.sequence, value: row.values[index]))
        i += 1
      }
    }
  }
}
