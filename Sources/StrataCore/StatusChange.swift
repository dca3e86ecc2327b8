/// Who asks for a version's status change and why, as the caller declares it (there is no
/// authentication yet: `by` is the name the client sends, e.g. the CLI's `$USER`).
public struct StatusNote: Hashable, Sendable {
  public var by: String
  public var reason: String

  public static let maxByBytes = 256
  public static let maxReasonBytes = 1_024

  public init(by: String = "", reason: String = "") {
    self.by = by
    self.reason = reason
  }

  /// INVALID_ARGUMENT naming the field over its limit.
  public func validate() throws(StrataError) {
    guard by.utf8.count <= Self.maxByBytes else {
      throw .invalidArgument("the status change's changed_by is \(by.utf8.count) bytes; at most \(Self.maxByBytes) are allowed")
    }
    guard reason.utf8.count <= Self.maxReasonBytes else {
      throw .invalidArgument("the status change's reason is \(reason.utf8.count) bytes; at most \(Self.maxReasonBytes) are allowed")
    }
  }
}

/// One recorded change of a version's status: from what to what, when (the registry's clock), by whom
/// and why.
public struct StatusChange: Hashable, Sendable {
  public var from: GroupStatus
  public var to: GroupStatus
  public var at: Timestamp
  public var by: String
  public var reason: String

  public init(from: GroupStatus, to: GroupStatus, at: Timestamp, by: String, reason: String) {
    self.from = from
    self.to = to
    self.at = at
    self.by = by
    self.reason = reason
  }
}
