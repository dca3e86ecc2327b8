public import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// A child process started with `posix_spawn`, reaped with `waitpid` by this object alone.
///
/// The tests used Foundation's `Process`, whose `run()` on Linux (swift-corelibs-foundation of Swift
/// 6.3) lists `/proc/self/fd` by copying each `dirent`'s whole 256-byte name, which reads past the end of
/// glibc's buffer and crashed a CI run with SIGSEGV in memcpy (swiftlang/swift-corelibs-foundation#5472;
/// the more descriptors the test process holds, the likelier). Its SIGCHLD handling also missed children
/// when many start and stop at once. This spawns directly: the child gets its stdin from /dev/null,
/// stdout and stderr from the given pipes (or /dev/null), and no other descriptor of the test process
/// (`closefrom(3)` in the child), so a server started on one thread never holds another test's pipe open.
public final class ChildProcess: Sendable {
  /// The child's pid.
  public let processIdentifier: pid_t
  /// The exit status once reaped: the exit code, or the signal number when a signal ended it.
  private let reaped = Mutex<Int32?>(nil)

  /// Starts `executable` with `arguments` (argv[1...]) and the test process's environment. The pipes'
  /// write ends are closed in this process once the child has them.
  public init(executable: String, arguments: [String], stdout: OutputPipe? = nil, stderr: OutputPipe? = nil) throws {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    // Each setup call returns 0 or an errno; a failed one would leave the child with an inherited
    // descriptor (the hang this type exists to prevent) or without its output: refuse to spawn.
    func check(_ result: Int32, _ what: String) throws {
      guard result == 0 else {
        throw ChildProcessError(description: "spawning \(executable): \(what): \(String(cString: strerror(result)))")
      }
    }
    try check(posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0), "stdin from /dev/null")
    for (pipe, target) in [(stdout, Int32(1)), (stderr, Int32(2))] {
      if let pipe {
        // A pipe serves one child: its write end is closed once that child has it, and the number may
        // belong to another file by now.
        guard pipe.isWriteOpen else { throw ChildProcessError(description: "spawning \(executable): an OutputPipe serves one child only") }
        // dup2 clears close-on-exec.
        try check(posix_spawn_file_actions_adddup2(&actions, pipe.writeDescriptor, target), "output to a pipe")
      } else {
        try check(posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_WRONLY, 0), "output to /dev/null")
      }
    }
    try check(GlibcExtensions.addCloseFrom(&actions, 3), "closing inherited descriptors")

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    // Default dispositions and an empty mask: the child must not inherit an ignored SIGPIPE or a
    // blocked signal from the test process.
    var defaults = sigset_t()
    sigfillset(&defaults)
    sigdelset(&defaults, SIGKILL)
    sigdelset(&defaults, SIGSTOP)
    try check(posix_spawnattr_setsigdefault(&attributes, &defaults), "default signal dispositions")
    var empty = sigset_t()
    sigemptyset(&empty)
    try check(posix_spawnattr_setsigmask(&attributes, &empty), "an empty signal mask")
    try check(posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)), "spawn flags")

    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
    stdout?.closeWriteEnd()
    stderr?.closeWriteEnd()
    guard result == 0 else {
      throw ChildProcessError(description: "posix_spawn \(executable): \(String(cString: strerror(result)))")
    }
    processIdentifier = pid
  }

  /// Whether the child has not exited yet (reaps it when it has).
  public var isRunning: Bool { tryReap() == nil }

  /// Sends `signal` unless the child was already reaped (its pid could belong to another process by now).
  public func send(_ signal: Int32) {
    reaped.withLock { status in
      if status == nil { _ = kill(processIdentifier, signal) }
    }
  }

  /// Waits until the child has exited; its status (exit code, or the signal number that ended it).
  @discardableResult
  public func wait() -> Int32 {
    while true {
      if let status = tryReap() { return status }
      usleep(2_000)
    }
  }

  /// Like `wait()`, but sleeps with `Task.sleep` between checks, so an async test never blocks a thread
  /// of the (small) cooperative pool while a child takes its time to exit.
  @discardableResult
  public func exit(pollingEvery interval: Duration = .milliseconds(5)) async -> Int32 {
    while true {
      if let status = tryReap() { return status }
      try? await Task.sleep(for: interval)
    }
  }

  /// The status if the child has exited (reaping it the first time), nil while it runs.
  private func tryReap() -> Int32? {
    reaped.withLock { status in
      if let status { return status }
      var raw: Int32 = 0
      let result = waitpid(processIdentifier, &raw, WNOHANG)
      if result == -1 && errno == ECHILD {
        status = -1  // reaped elsewhere: gone, status unknown
        return status
      }
      guard result == processIdentifier else { return nil }
      let signal = raw & 0x7f
      status = signal == 0 ? (raw >> 8) & 0xff : signal
      return status
    }
  }
}

/// A pipe for a child's stdout or stderr, both ends close-on-exec (the spawn's dup2 gives the child its
/// copy without the flag), so no other child inherits it and reading to end of file ends when this child
/// exits.
public final class OutputPipe: Sendable {
  /// The read end, closed when the handle is released.
  public let reader: FileHandle
  let writeDescriptor: Int32
  private let writeOpen = Mutex(true)

  public init() throws {
    var fds: [Int32] = [-1, -1]
    guard GlibcExtensions.pipe2(&fds, O_CLOEXEC) == 0 else {
      throw ChildProcessError(description: "pipe2: \(String(cString: strerror(errno)))")
    }
    reader = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true)
    writeDescriptor = fds[1]
  }

  var isWriteOpen: Bool { writeOpen.withLock { $0 } }

  func closeWriteEnd() {
    writeOpen.withLock { open in
      if open { close(writeDescriptor) }
      open = false
    }
  }

  deinit { closeWriteEnd() }
}

public struct ChildProcessError: Error, CustomStringConvertible {
  public var description: String
}

/// Two glibc functions Swift's Glibc module does not import (declared only under `_GNU_SOURCE` or
/// `__USE_MISC`), looked up at run time; both exist in every glibc since 2.34.
private enum GlibcExtensions {
  typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
  typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32

  static let addCloseFrom: AddCloseFrom = symbol("posix_spawn_file_actions_addclosefrom_np")
  static let pipe2: Pipe2 = symbol("pipe2")

  private static func symbol<F>(_ name: String) -> F {
    guard let address = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else {
      fatalError("glibc has no \(name) (2.34 or later is needed)")
    }
    return unsafeBitCast(address, to: F.self)
  }
}
