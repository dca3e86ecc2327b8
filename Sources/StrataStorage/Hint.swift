/// One write a coordinator keeps for a replica that did not acknowledge it (see `HintStore`): an
/// opaque payload to deliver to `node` again, and how many rows it carries.
public struct Hint: Sendable, Equatable {
  /// Identifies a hint in its store. Ids grow in append order across all nodes of a store and across
  /// reopenings: an id is never given twice by the same keyspace.
  public struct ID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let sequence: UInt64

    public init(sequence: UInt64) { self.sequence = sequence }

    public static func < (a: ID, b: ID) -> Bool { a.sequence < b.sequence }

    public var description: String { "hint #\(sequence)" }
  }

  public let id: ID
  /// The replica this hint is for.
  public let node: String
  /// The rows in `payload`, as told to `HintStore.append` (counted by `HintStore.pending`).
  public let rows: Int
  /// The bytes to deliver, exactly as appended.
  public let payload: [UInt8]

  public init(id: ID, node: String, rows: Int, payload: [UInt8]) {
    self.id = id
    self.node = node
    self.rows = rows
    self.payload = payload
  }
}
