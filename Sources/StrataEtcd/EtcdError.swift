/// An error from `EtcdClient`. Every throwing API of StrataEtcd throws this type.
///
/// `code` says what kind of failure it is and is what callers branch on; `message` says in words a
/// person can act on what failed and where (it names the endpoints that were tried); `cause` keeps the
/// underlying error's description if there was one. Messages may be reworded; codes are stable.
public struct EtcdError: Error, Hashable, Sendable, CustomStringConvertible {
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    private enum Wrapped: Hashable, Sendable {
      case unavailable, deadlineExceeded, compacted, futureRevision, notFound, leaseExpired
      case invalidArgument, failedPrecondition, permissionDenied, cancelled, internalError
    }
    private let wrapped: Wrapped
    private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

    /// No endpoint answered (refused, unreachable, no leader, shutting down). The same request may
    /// succeed later. For a write the message says whether it may have been applied.
    public static let unavailable = Code(.unavailable)
    /// The call's deadline (`EtcdClient.Configuration.requestTimeout`) passed before etcd answered. A
    /// write may or may not have been applied.
    public static let deadlineExceeded = Code(.deadlineExceeded)
    /// The revision asked for (a read at a revision, or a watch's start revision) is older than etcd's
    /// compaction point: that history is gone. `EtcdError.compactRevision` says where history starts;
    /// re-read the current state and watch from its revision + 1.
    public static let compacted = Code(.compacted)
    /// A read at a revision that etcd has not reached yet.
    public static let futureRevision = Code(.futureRevision)
    /// The lease does not exist (never granted, expired or revoked).
    public static let notFound = Code(.notFound)
    /// A kept-alive lease expired: its keys are gone (`EtcdClient.keepAlive`).
    public static let leaseExpired = Code(.leaseExpired)
    /// The request is malformed (empty key, duplicate key in one transaction, too many operations).
    public static let invalidArgument = Code(.invalidArgument)
    /// etcd refused the request in its current state.
    public static let failedPrecondition = Code(.failedPrecondition)
    /// etcd has authentication enabled and refused the request.
    public static let permissionDenied = Code(.permissionDenied)
    /// The caller's task was cancelled.
    public static let cancelled = Code(.cancelled)
    /// A bug, or an answer from etcd this client does not understand.
    public static let internalError = Code(.internalError)

    public var description: String {
      switch wrapped {
      case .unavailable: "unavailable"
      case .deadlineExceeded: "deadline exceeded"
      case .compacted: "compacted"
      case .futureRevision: "future revision"
      case .notFound: "not found"
      case .leaseExpired: "lease expired"
      case .invalidArgument: "invalid argument"
      case .failedPrecondition: "failed precondition"
      case .permissionDenied: "permission denied"
      case .cancelled: "cancelled"
      case .internalError: "internal error"
      }
    }
  }

  public var code: Code
  public var message: String
  public var cause: String?
  /// For `.compacted`: the oldest revision etcd still has history for (0 when etcd did not say).
  public var compactRevision: Int64

  public init(_ code: Code, _ message: String, cause: (any Error)? = nil, compactRevision: Int64 = 0) {
    self.code = code
    self.message = message
    self.cause = cause.map { String(describing: $0) }
    self.compactRevision = compactRevision
  }

  /// Whether the same request may succeed when tried again later (etcd or the network may come back).
  public var isRetryable: Bool { code == .unavailable || code == .deadlineExceeded }

  public var description: String {
    if let cause { return "etcd \(code): \(message) (\(cause))" }
    return "etcd \(code): \(message)"
  }
}
