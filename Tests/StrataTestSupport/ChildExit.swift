public import Foundation
import Synchronization

/// Waiting for child processes without trusting Foundation to reap them.
///
/// Foundation's `Process.waitUntilExit` and `isRunning` on Linux rely on its own SIGCHLD handling,
/// which can miss a child when many processes start and stop concurrently (the parallel tests do):
/// two full test runs hung with a killed node left as a zombie and `waitUntilExit` spinning at 100%
/// CPU. These helpers reap the child with `waitpid` themselves when Foundation has not, and remember
/// what they reaped, so later checks never wait on a pid that no longer exists.
public enum ChildExit {
  /// Statuses of the children reaped here, by (pid, process object): a pid alone could be reused.
  private struct Key: Hashable {
    var pid: pid_t
    var process: ObjectIdentifier
    init(_ p: Process) { (pid, process) = (p.processIdentifier, ObjectIdentifier(p)) }
  }
  private static let reaped = Mutex<[Key: Int32]>([:])

  /// Whether `process` (started) has not exited yet.
  public static func isRunning(_ process: Process) -> Bool {
    if reaped.withLock({ $0[Key(process)] }) != nil { return false }
    guard process.isRunning else { return false }
    return tryReap(process) == nil
  }

  /// Waits until `process` has exited and returns its status as Foundation reports it: the exit code,
  /// or the signal number when a signal ended it.
  @discardableResult
  public static func wait(_ process: Process) -> Int32 {
    while true {
      if let status = reaped.withLock({ $0[Key(process)] }) { return status }
      if !process.isRunning { return process.terminationStatus }
      if let status = tryReap(process) { return status }
      usleep(2_000)
    }
  }

  /// Like `wait(_:)`, but sleeps with `Task.sleep` between checks, so an async test never blocks a
  /// thread of the (small) cooperative pool while a child takes its time to exit.
  @discardableResult
  public static func exit(of process: Process, pollingEvery interval: Duration = .milliseconds(5)) async -> Int32 {
    while true {
      if let status = reaped.withLock({ $0[Key(process)] }) { return status }
      if !process.isRunning { return process.terminationStatus }
      if let status = tryReap(process) { return status }
      try? await Task.sleep(for: interval)
    }
  }

  /// Reaps `process` if it has exited and nobody reaped it yet; its status, or nil while it runs.
  private static func tryReap(_ process: Process) -> Int32? {
    let pid = process.processIdentifier
    guard pid > 0 else { return nil }  // not started: waitpid(0) would reap any child
    var raw: Int32 = 0
    let result = waitpid(pid, &raw, WNOHANG)
    guard result == pid else { return nil }  // still running (0), or Foundation reaped it (-1, ECHILD)
    let signal = raw & 0x7f
    let status = signal == 0 ? (raw >> 8) & 0xff : signal
    reaped.withLock { $0[Key(process)] = status }
    return status
  }
}
