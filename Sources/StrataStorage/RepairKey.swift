/// Bytes compared as unsigned, lexicographically (shorter prefix first): the order of storage keys.
/// The merge key of repair (`BucketRow.repairKey`).
public struct RepairKey: Hashable, Comparable, Sendable {
  public var bytes: [UInt8]

  public init(_ bytes: [UInt8]) {
    self.bytes = bytes
  }

  public static func < (lhs: RepairKey, rhs: RepairKey) -> Bool {
    lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
  }
}
