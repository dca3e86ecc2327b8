import Testing

@testable import StrataCore

private struct DiskFull: Error, CustomStringConvertible {
  var description: String { "ENOSPC: no space left on device" }
}

@Suite("StrataError: codes, retryability, descriptions")
struct StrataErrorTests {
  static let allCodes: [StrataError.Code] = [
    .invalidArgument, .notFound, .failedPrecondition, .resourceExhausted, .alreadyExists, .unavailable, .internalError,
  ]

  @Test("only UNAVAILABLE is retryable", arguments: allCodes)
  func retryable(code: StrataError.Code) {
    #expect(StrataError(code, "m").isRetryable == (code == .unavailable))
  }

  @Test("UNAVAILABLE is retryable, with or without a cause")
  func unavailableRetryable() {
    #expect(StrataError(.unavailable, "peer n2 is down").isRetryable)
    #expect(StrataError(.unavailable, "peer n2 is down", cause: DiskFull()).isRetryable)
    #expect(!StrataError.internalError("disk", cause: DiskFull()).isRetryable)
  }

  @Test("description is the message, followed by the cause when there is one")
  func descriptionIncludesCause() {
    let plain = StrataError.notFound("feature group 'x' does not exist")
    #expect(plain.description == "feature group 'x' does not exist")
    #expect(plain.cause == nil)
    #expect(String(describing: plain) == plain.description)

    let wrapped = StrataError.internalError("write to history failed", cause: DiskFull())
    #expect(wrapped.cause == "ENOSPC: no space left on device")
    #expect(wrapped.description.contains("write to history failed"))
    #expect(wrapped.description.contains("ENOSPC: no space left on device"))
    #expect(wrapped.description == "write to history failed (ENOSPC: no space left on device)")

    let nested = StrataError(.unavailable, "lookup failed", cause: wrapped)
    #expect(nested.description.contains("lookup failed"))
    #expect(nested.description.contains("ENOSPC"))
  }

  @Test("the static constructors set the matching code and keep the message verbatim")
  func constructors() {
    let cases: [(StrataError, StrataError.Code)] = [
      (.invalidArgument("a"), .invalidArgument),
      (.notFound("a"), .notFound),
      (.failedPrecondition("a"), .failedPrecondition),
      (.resourceExhausted("a"), .resourceExhausted),
      (.internalError("a"), .internalError),
    ]
    for (error, code) in cases {
      #expect(error.code == code)
      #expect(error.message == "a")
      #expect(error.cause == nil)
    }
  }

  @Test("codes are distinct and describe themselves")
  func codes() {
    #expect(Set(Self.allCodes).count == Self.allCodes.count)
    #expect(
      Self.allCodes.map(\.description) == [
        "invalid argument", "not found", "failed precondition", "resource exhausted", "already exists", "unavailable",
        "internal error",
      ])
  }

  @Test("errors compare by code, message and cause")
  func equality() {
    #expect(StrataError.notFound("x") == StrataError(.notFound, "x"))
    #expect(StrataError.notFound("x") != StrataError.invalidArgument("x"))
    #expect(StrataError.notFound("x") != StrataError.notFound("y"))
    #expect(StrataError.internalError("x") != StrataError.internalError("x", cause: DiskFull()))
  }

  @Test("typed throws carry the StrataError through unchanged")
  func thrown() {
    func fail() throws(StrataError) { throw .resourceExhausted("too many rows: 20000 > 10000") }
    let error = #expect(throws: StrataError.self) { try fail() }
    #expect(error?.code == .resourceExhausted)
    #expect(error?.message == "too many rows: 20000 > 10000")
  }
}
