/// The changes a watch delivers (`EtcdClient.watch(_:fromRevision:_:)`), in revision order, each once.
///
/// Iteration throws `EtcdError`: `.compacted` when the history the watch needs is gone (its
/// `compactRevision` says where history starts now; re-read the range and watch again from the read's
/// revision + 1), `.failedPrecondition` when etcd cancelled the watch for another reason. It never
/// throws for a lost connection: the watch reopens by itself.
public struct EtcdWatchEvents: AsyncSequence, Sendable {
  public typealias Element = EtcdEvent
  public typealias Failure = EtcdError

  let stream: AsyncThrowingStream<EtcdEvent, any Error>

  public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: stream.makeAsyncIterator()) }

  public struct AsyncIterator: AsyncIteratorProtocol {
    var base: AsyncThrowingStream<EtcdEvent, any Error>.AsyncIterator

    public mutating func next() async throws(EtcdError) -> EtcdEvent? {
      do {
        return try await base.next()
      } catch {
        throw Self.etcdError(error)
      }
    }

    public mutating func next(isolation actor: isolated (any Actor)?) async throws(EtcdError) -> EtcdEvent? {
      do {
        return try await base.next(isolation: actor)
      } catch {
        throw Self.etcdError(error)
      }
    }

    private static func etcdError(_ error: any Error) -> EtcdError {
      error as? EtcdError ?? EtcdError(.internalError, "the watch failed", cause: error)
    }
  }
}

extension EtcdWatchEvents {
  /// The events of `stream`: for stand-ins of etcd in tests (`EtcdClient.watch` makes its own).
  public init(_ stream: AsyncThrowingStream<EtcdEvent, any Error>) {
    self.init(stream: stream)
  }
}
