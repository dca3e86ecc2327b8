/// The answer to a delete.
public struct EtcdDeleteResult: Hashable, Sendable {
  /// The store revision after the delete (unchanged from before when nothing matched).
  public var revision: Int64
  /// How many keys were deleted.
  public var deleted: Int64

  public init(revision: Int64, deleted: Int64) {
    self.revision = revision
    self.deleted = deleted
  }
}
