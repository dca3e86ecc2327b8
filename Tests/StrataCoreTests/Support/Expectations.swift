import Testing

@testable import StrataCore

/// Runs `body` and expects it to throw a `StrataError` with `code` whose message contains every string in
/// `fragments` (so messages stay actionable: they must name what was wrong). Returns the error, or nil
/// (after recording an issue) when `body` succeeded.
@discardableResult
func expectStrataError<R>(
  _ code: StrataError.Code,
  mentioning fragments: [String] = [],
  sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () throws(StrataError) -> R
) -> StrataError? {
  do {
    let value = try body()
    Issue.record("expected a '\(code)' error, but the call succeeded with \(value)", sourceLocation: sourceLocation)
    return nil
  } catch {
    #expect(error.code == code, "wrong code for error: \(error)", sourceLocation: sourceLocation)
    for fragment in fragments {
      #expect(
        error.message.contains(fragment), "message \"\(error.message)\" should mention \"\(fragment)\"",
        sourceLocation: sourceLocation)
    }
    return error
  }
}
