public import GRPCCore
public import StrataProto
internal import Synchronization

/// The shape of a `PushEvents` call, shared by single nodes and cluster coordinators: a reader takes
/// each message as it arrives and checks it (`prepare`) while the batches before it are stored; the
/// batches are stored in the order sent (a single node keeps several queued on its writer thread, a
/// coordinator stores one at a time) and answered in that order, each as soon as it is durable: a
/// producer that sends one batch and waits gets its answer without sending more.
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

  /// Runs one call, one batch stored at a time. `prepare` gets each message and its 1-based number in
  /// the call; `store` stores a prepared batch and returns its answer, which is then sent. Throws the
  /// first failure.
  static func run<Prepared: Sendable>(
    _ request: RPCAsyncSequence<Strata_V1_PushEventsRequest, any Error>,
    response: RPCWriter<Strata_V1_PushEventsResponse>,
    progress: Progress,
    prepare: @escaping @Sendable (Strata_V1_PushEventsRequest, Int) async throws -> Prepared,
    store: @escaping @Sendable (Prepared) async throws -> Strata_V1_PushEventsResponse
  ) async throws {
    try await run(
      request, response: response, progress: progress, depth: 1, prepare: prepare, submit: { $0 }, answer: store,
      abandon: {})
  }

  /// Runs one call with up to `depth` batches stored at once: `submit` queues a prepared batch for
  /// storing (in the order sent: the next is submitted once it returns) and `answer` waits until the
  /// batch is stored and makes its answer, which is then sent; answers go in the order sent, each as
  /// soon as its batch is stored. A store that queues its batches (`FeatureStore.submit`) then works
  /// through the call's batches back to back, where one batch at a time left it idle between a batch's
  /// answer and the next batch's arrival. `abandon` is called once when the call fails: the store
  /// must not store the batches submitted after the failure (`WriteChain`). Throws the first failure;
  /// every batch before it was stored and answered.
  static func run<Prepared: Sendable, Submitted: Sendable>(
    _ request: RPCAsyncSequence<Strata_V1_PushEventsRequest, any Error>,
    response: RPCWriter<Strata_V1_PushEventsResponse>,
    progress: Progress,
    depth: Int,
    prepare: @escaping @Sendable (Strata_V1_PushEventsRequest, Int) async throws -> Prepared,
    submit: @escaping @Sendable (Prepared) async throws -> Submitted,
    answer: @escaping @Sendable (Submitted) async throws -> Strata_V1_PushEventsResponse,
    abandon: @escaping @Sendable () -> Void
  ) async throws {
    let depth = max(1, depth)
    let (prepared, preparedSink) = AsyncStream<Result<Prepared, any Error>>.makeStream()
    let (submitted, submittedSink) = AsyncStream<Result<Submitted, any Error>>.makeStream()
    // One credit per message the reader may take: those being stored and one checked ahead.
    let (credits, creditSink) = AsyncStream<Void>.makeStream()
    // One slot per batch that may be submitted and not yet answered.
    let (slots, slotSink) = AsyncStream<Void>.makeStream()
    do {
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
        tasks.addTask {
          // A failure goes into the stream after the batches submitted before it: they are answered first.
          defer { submittedSink.finish() }
          var free = slots.makeAsyncIterator()
          for await next in prepared {
            guard await free.next() != nil, !Task.isCancelled else { return }
            do {
              submittedSink.yield(.success(try await submit(try next.get())))
            } catch {
              submittedSink.yield(.failure(error))
              return
            }
          }
        }
        defer {
          creditSink.finish()
          slotSink.finish()
          tasks.cancelAll()
        }
        for _ in 0...depth { creditSink.yield() }
        for _ in 0..<depth { slotSink.yield() }
        for await next in submitted {
          let answer = try await answer(try next.get())
          try await response.write(answer)
          progress.stored(answer)
          slotSink.yield()
          creditSink.yield()
        }
      }
    } catch {
      abandon()
      throw error
    }
  }
}
