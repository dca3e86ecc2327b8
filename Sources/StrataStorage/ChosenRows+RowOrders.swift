internal import StrataCore

extension ChosenRows {
  /// The order key of the row that answers each label: the image row's (its kept winner of that event
  /// time), the stored row's, or none.
  var orders: RowOrders {
    var orders = RowOrders(count: refs.count)
    let events = image?.events ?? []
    let created = image?.created ?? []
    let sequences = image?.sequences ?? []
    for (i, ref) in refs.enumerated() {
      if ref >= 0 {
        let r = Int(ref)
        orders.set(i, event: events[r], created: created[r], sequence: sequences[r])
      } else if ref <= -2, let row = stored[Int(-2 - ref)] {
        orders.set(i, event: row.eventTime.microseconds, created: row.createdTime.microseconds, sequence: row.sequence)
      }
    }
    return orders
  }
}
