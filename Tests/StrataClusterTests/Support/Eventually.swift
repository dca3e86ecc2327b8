import Testing

/// Waits (polling every millisecond, at most `timeout` of real time) until `condition` holds; records
/// an issue if it never does. For waiting on the replayer's tasks, never on its clock. The default is
/// generous: the whole suite runs in parallel on 2 cores, and a starved replayer once needed over 20 s.
func eventually(
  _ comment: Comment, timeout: Duration = .seconds(45), sourceLocation: SourceLocation = #_sourceLocation,
  _ condition: () throws -> Bool
) async throws {
  let clock = ContinuousClock()
  let deadline = clock.now + timeout
  while try !condition() {
    if clock.now >= deadline {
      Issue.record("timed out waiting: \(comment)", sourceLocation: sourceLocation)
      return
    }
    try await Task.sleep(for: .milliseconds(1))
  }
}
