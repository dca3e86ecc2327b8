/// Accumulates a `LabelSummary` over label rows as an export reads them, in input order.
public struct LabelDigest: Sendable {
  private var hasher = SHA256()
  private var rows = 0
  private var first: Timestamp?
  private var last: Timestamp?
  private var usedKnownAt = false
  private var scratch: [UInt8] = []

  public init() {}

  public mutating func add(entityID: String, time: Timestamp, knownAt: Timestamp?) {
    scratch.removeAll(keepingCapacity: true)
    let id = entityID.utf8
    Self.append(UInt64(id.count), bytes: 4, to: &scratch)
    scratch.append(contentsOf: id)
    Self.append(UInt64(bitPattern: time.microseconds), bytes: 8, to: &scratch)
    if let knownAt {
      scratch.append(1)
      Self.append(UInt64(bitPattern: knownAt.microseconds), bytes: 8, to: &scratch)
      usedKnownAt = true
    } else {
      scratch.append(0)
    }
    hasher.update(scratch)
    rows += 1
    first = Swift.min(first ?? time, time)
    last = Swift.max(last ?? time, time)
  }

  public consuming func summary() -> LabelSummary {
    let rows = rows, first = first, last = last, usedKnownAt = usedKnownAt
    return LabelSummary(
      rows: rows, checksum: "sha256:" + SHA256.hex(hasher.finalize()), firstLabelTime: first, lastLabelTime: last,
      usedKnownAt: usedKnownAt)
  }

  private static func append(_ value: UInt64, bytes: Int, to out: inout [UInt8]) {
    for i in stride(from: bytes - 1, through: 0, by: -1) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(8 * i))) }
  }
}
