/// An error a caller can act on. Every public API of Strata throws this type.
///
/// `code` says what kind of failure it is (the gRPC layer maps codes to status codes in one place,
/// `StrataError+GRPC.swift`), `message` says what exactly was wrong in words a person can act on,
/// `cause` keeps an underlying error if there was one.
public struct StrataError: Error, Hashable, Sendable, CustomStringConvertible {
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    private enum Wrapped: Hashable, Sendable {
      case invalidArgument, notFound, failedPrecondition, resourceExhausted, alreadyExists
      case unavailable, internalError
    }
    private let wrapped: Wrapped
    private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

    /// The request is malformed whatever the state of the store (bad name, dtype mismatch, NaN...).
    public static let invalidArgument = Code(.invalidArgument)
    /// A named group, version or feature does not exist.
    public static let notFound = Code(.notFound)
    /// The request is well-formed but the store's state forbids it (e.g. writing to a RETIRED version).
    public static let failedPrecondition = Code(.failedPrecondition)
    /// A configured limit was exceeded (rows per batch, entities per lookup, payload size).
    public static let resourceExhausted = Code(.resourceExhausted)
    public static let alreadyExists = Code(.alreadyExists)
    /// A dependency (a peer, the disk) is temporarily unavailable; the same request may succeed later.
    public static let unavailable = Code(.unavailable)
    /// A bug or a storage failure.
    public static let internalError = Code(.internalError)

    public var description: String {
      switch wrapped {
      case .invalidArgument: "invalid argument"
      case .notFound: "not found"
      case .failedPrecondition: "failed precondition"
      case .resourceExhausted: "resource exhausted"
      case .alreadyExists: "already exists"
      case .unavailable: "unavailable"
      case .internalError: "internal error"
      }
    }
  }

  public var code: Code
  public var message: String
  public var cause: String?

  public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
    self.code = code
    self.message = message
    self.cause = cause.map { String(describing: $0) }
  }

  /// Whether retrying the same request later may succeed (the coordinator uses this).
  public var isRetryable: Bool { code == .unavailable }

  public var description: String {
    if let cause { return "\(message) (\(cause))" }
    return message
  }

  public static func invalidArgument(_ message: String) -> StrataError { StrataError(.invalidArgument, message) }
  public static func notFound(_ message: String) -> StrataError { StrataError(.notFound, message) }
  public static func failedPrecondition(_ message: String) -> StrataError { StrataError(.failedPrecondition, message) }
  public static func resourceExhausted(_ message: String) -> StrataError { StrataError(.resourceExhausted, message) }
  public static func alreadyExists(_ message: String) -> StrataError { StrataError(.alreadyExists, message) }
  public static func unavailable(_ message: String) -> StrataError { StrataError(.unavailable, message) }
  public static func internalError(_ message: String, cause: (any Error)? = nil) -> StrataError {
    StrataError(.internalError, message, cause: cause)
  }
}
