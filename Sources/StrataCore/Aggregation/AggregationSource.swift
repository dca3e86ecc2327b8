/// Where a windowed read finds the events and tiles of one entity's field: the in-memory
/// `AggregationState`, or a storage engine's event log and tile table.
///
/// The read itself (`partial(window:at:knownAt:)`, `value(of:at:knownAt:)`) is written once, in this
/// protocol's extension, so that every source (online lookups, offline exports, the in-memory state)
/// computes an aggregate with the same code and gets the same bits.
///
/// A conforming source must keep, for each width of `tiling`, the `AggregatePartial` of exactly the
/// events it holds in each tile (`AggregationTiling`), each event added once. Empty tiles may be
/// absent.
public protocol AggregationSource {
  associatedtype Failure: Error

  /// The type of the field the events carry.
  var fieldType: AggregateFieldType { get }
  /// The tile widths this source keeps (coarsest first).
  var tiling: AggregationTiling { get }

  /// Calls `body` with every nonempty tile of `width` whose index is in `indices`, in any order.
  func forEachTile(
    width: Int64, indices: ClosedRange<Int64>, _ body: (_ index: Int64, _ tile: AggregatePartial) -> Void
  ) throws(Failure)

  /// Calls `body` with every event whose event time is in `eventTimes`, in any order.
  func forEachEvent(eventTimes: ClosedRange<Timestamp>, _ body: (AggregationEvent) -> Void) throws(Failure)
}
