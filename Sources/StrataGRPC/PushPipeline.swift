public import GRPCCore
public import StrataProto
internal import Synchronization

/// The shape of a `PushEvents` call, shared by single nodes and cluster coordinators: a reader takes
/// each message as it arrives and checks it (`prepare`) while the batch before it is stored; the
/// batches are stored and answered (`store`) one after the other, in the order sent, each as soon as
/// it is durable: a producer that sends one batch and waits gets its answer without sending more.
///
/// The first failure ends the call at once, whichever side it comes from: a message that fails its
/// checks, or a batch that fails while stored (the reader, waiting for the next message, is
/// cancelled). Every batch before it was stored and answered.
enum PushPipeline {
  /// How far a call got: batches stored and answered, and their events.
  final class Progress: Sendable {
    private let state = Mutex((batches: 0, events: UInt64(0)))
    var batches: Int { state.withLock { $0.batches } }
    var events: UInt64 { state.withLock { $0.events } }
    func stored(_ answer: Strata_V1_PushEventsResponse) {
      state.withLock {
        $0.batches += 1
        $0.events += answer.eventsWritten
      }
    }
  }

  /// Runs one call. `prepare` gets each message and its 1-based number in the call; `store` stores a
  /// prepared batch and returns its answer, which is then sent. Throws the first failure.
  static func run<Prepared: Sendable>(
    _ request: RPCAsyncSequence<Strata_V1_PushEventsRequest, any Error>,
    response: RPCWriter<Strata_V1_PushEventsResponse>,
    progress: Progress,
    prepare: @escaping @Sendable (Strata_V1_PushEventsRequest, Int) async throws -> Prepared,
    store: @escaping @Sendable (Prepared) async throws -> Strata_V1_PushEventsResponse
  ) async throws {
    let (prepared, preparedSink) = AsyncStream<Result<Prepared, any Error>>.makeStream()
    // One credit per message the reader may take: the one being stored and the one checked ahead.
    let (credits, creditSink) = AsyncStream<Void>.makeStream()
    try await withThrowingTaskGroup(of: Void.self) { tasks in
      tasks.addTask {
        defer { preparedSink.finish() }
        var messages = request.makeAsyncIterator()
        var ready = credits.makeAsyncIterator()
        var number = 0
        while await ready.next() != nil, !Task.isCancelled {
          do {
            guard let message = try await messages.next() else { return }
            number += 1
            preparedSink.yield(.success(try await prepare(message, number)))
          } catch {
            preparedSink.yield(.failure(error))
            return
          }
        }
      }
      defer {
        creditSink.finish()
        tasks.cancelAll()
      }
      creditSink.yield()
      creditSink.yield()
      for await next in prepared {
        let answer = try await store(try next.get())
        try await response.write(answer)
        progress.stored(answer)
        creditSink.yield()
      }
    }
  }
}
