internal import Synchronization

/// A `Mutex` that escaping closures can capture (a `Mutex` itself is not copyable): the state shared by
/// a stream's reader, its request writer and the loop that reopens it.
final class LockedValue<Value: Sendable>: Sendable {
  private let mutex: Mutex<Value>

  init(_ value: Value) { mutex = Mutex(value) }

  func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }

  var value: Value { mutex.withLock { $0 } }
}
