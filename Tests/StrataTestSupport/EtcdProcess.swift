public import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A real single-member etcd on loopback for tests: its own free client and peer ports, its own
/// temporary data directory, started as a child process and stopped by pid.
///
/// ```swift
/// try await EtcdProcess.with { etcd in
///   // talk to etcd.endpoint ("127.0.0.1:PORT")
///   await etcd.stop()           // SIGTERM, then SIGKILL after 10 s
///   try await etcd.start()      // again, on the same data directory and ports
/// }                             // stopped and its directory removed, also when `body` throws
/// ```
///
/// A test that needs etcd fails (it never passes silently) when `/usr/bin/etcd` (or `$STRATA_ETCD_BINARY`) is missing: the error
/// says to install `etcd-server` (dev/install-deps.sh and .ci/run do).
public final class EtcdProcess: @unchecked Sendable {
  // @unchecked: `process`, `clientPort` and `peerPort` are only touched by the test task that owns this
  // object (start/stop are called one at a time); the log is appended by the pipe's reader thread
  // under its own Mutex (`LogBuffer`).

  /// The etcd server: `$STRATA_ETCD_BINARY`, else where Debian's etcd-server package installs it.
  public static var binary: String {
    ProcessInfo.processInfo.environment["STRATA_ETCD_BINARY"] ?? "/usr/bin/etcd"
  }

  /// The data directory, removed by `destroy()`.
  public let directory: String
  public private(set) var clientPort: Int
  public private(set) var peerPort: Int
  private var process: ChildProcess?
  /// The pipe of etcd's stderr (its log), kept while it runs; read by `readToEnd`.
  private var stderrPipe: OutputPipe?
  private let log = LogBuffer()

  /// `host:port` of the client URL.
  public var endpoint: String { "127.0.0.1:\(clientPort)" }

  /// Everything etcd wrote to stderr so far (all starts), for failure messages.
  public var logText: String { log.text }

  /// Whether the etcd process is running.
  public var isRunning: Bool { process?.isRunning ?? false }

  /// Its pid while running.
  public var pid: pid_t? { isRunning ? process?.processIdentifier : nil }

  private init(directory: String, clientPort: Int, peerPort: Int) {
    self.directory = directory
    self.clientPort = clientPort
    self.peerPort = peerPort
  }

  /// Where test etcds keep their data: /dev/shm (memory) when it is a writable directory, else the
  /// temporary directory. etcd syncs its log on every write; on a disk that the tests running next to it
  /// keep busy, one sync took long enough to time out a put (5 s) in a loaded CI run.
  static var scratchRoot: String {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDirectory), isDirectory.boolValue,
      FileManager.default.isWritableFile(atPath: "/dev/shm")
    {
      return "/dev/shm"
    }
    return FileManager.default.temporaryDirectory.path
  }

  /// Starts a fresh etcd (new directory, free ports) and waits until it serves clients.
  public static func start() async throws -> EtcdProcess {
    guard FileManager.default.isExecutableFile(atPath: binary) else {
      throw EtcdProcessError(
        "\(binary) not found: these tests run a real etcd; install it with `apt-get install -y etcd-server "
          + "etcd-client` (dev/install-deps.sh does), or point STRATA_ETCD_BINARY at an etcd 3.4+ server")
    }
    let directory = (scratchRoot as NSString).appendingPathComponent("strata-etcd-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let (client, peer) = try freePorts()
    let etcd = EtcdProcess(directory: directory, clientPort: client, peerPort: peer)
    // A free port can be taken by someone else between the probe and etcd's bind: retry on new ports.
    var attempt = 0
    while true {
      attempt += 1
      do {
        try await etcd.start()
        return etcd
      } catch let error as EtcdProcessError where error.portTaken && attempt < 4 {
        (etcd.clientPort, etcd.peerPort) = try freePorts()
        try? FileManager.default.removeItem(atPath: etcd.dataDirectory)
      } catch {
        await etcd.destroy()
        throw error
      }
    }
  }

  /// Runs `body` with a fresh etcd, then stops it and removes its directory, whether `body` returned or
  /// threw.
  public static func with<R>(_ body: (EtcdProcess) async throws -> R) async throws -> R {
    let etcd = try await start()
    do {
      let result = try await body(etcd)
      await etcd.destroy()
      return result
    } catch {
      await etcd.destroy()
      throw error
    }
  }

  var dataDirectory: String { (directory as NSString).appendingPathComponent("data") }

  /// (Re)starts etcd on this object's data directory and ports and waits (up to 30 s) until it serves
  /// client requests. After `stop()` it comes back with the same data (revisions go on where they were).
  /// `clientPort` moves the client URL to another port from this start on (the peer port stays: it is
  /// part of the member's identity), so a test can make changes that existing clients cannot see live.
  public func start(clientPort newPort: Int? = nil) async throws {
    if let newPort { clientPort = newPort }
    precondition(!isRunning, "etcd is already running (pid \(process!.processIdentifier))")
    let url = "http://127.0.0.1:\(clientPort)"
    let peerURL = "http://127.0.0.1:\(peerPort)"
    let arguments = [
      "--name", "t", "--data-dir", dataDirectory,
      "--listen-client-urls", url, "--advertise-client-urls", url,
      "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
      "--initial-cluster", "t=\(peerURL)",
    ]
    let err = try OutputPipe()
    let log = self.log
    let mark = log.mark()
    let endsBefore = log.ends
    let p = try ChildProcess(executable: Self.binary, arguments: arguments, stderr: err)
    Self.readToEnd(err, into: log)
    process = p
    stderrPipe = err
    let deadline = ContinuousClock.now + .seconds(30)
    // etcd prints this once its client listener serves (after it elected itself leader).
    let ready = "serving insecure client requests on 127.0.0.1:\(clientPort)"
    while ContinuousClock.now < deadline {
      if log.text(since: mark).contains(ready) { return }
      if !p.isRunning {
        await p.exit()
        // What etcd wrote before it exited (its reader reaches end of file at once).
        for _ in 0..<100 where log.ends <= endsBefore { try? await Task.sleep(for: .milliseconds(20)) }
        let text = log.text(since: mark)
        throw EtcdProcessError(
          "etcd exited while starting (status \(await p.exit())); its log:\n\(text)",
          portTaken: text.contains("address already in use"))
      }
      try? await Task.sleep(for: .milliseconds(20))
    }
    // Once more after the deadline: this task may have resumed only after it (the multi-process
    // tests next to it hold the cooperative threads while they wait for processes), while the reader
    // thread had the line long before (a CI run failed so, with the line 1 s after the start).
    if log.text(since: mark).contains(ready) { return }
    await stop()
    throw EtcdProcessError("etcd did not serve clients on \(url) within 30 s; its log:\n\(log.text(since: mark))")
  }

  /// Appends everything written to `pipe` to `log` until end of file (the child exited), from a thread
  /// of its own blocked in `read` on a duplicate of the read end (closed when done). Not a
  /// `FileHandle.readabilityHandler`: in a loaded CI run one delivered etcd's "serving" line only once
  /// etcd was stopped 30 s later, and the start timed out with the line in its log.
  private static func readToEnd(_ pipe: OutputPipe, into log: LogBuffer) {
    let fd = dup(pipe.reader.fileDescriptor)
    guard fd >= 0 else { return }
    let thread = Thread {
      var buffer = [UInt8](repeating: 0, count: 65_536)
      while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n > 0 {
          log.append(Data(buffer[0..<n]))
        } else if n < 0 && errno == EINTR {
          continue
        } else {
          break
        }
      }
      close(fd)
      log.ended()
    }
    thread.name = "etcd-log"
    thread.start()
  }

  /// SIGTERM, and SIGKILL if etcd has not exited within `grace`; waits until it has exited (reaped).
  public func stop(grace: Duration = .seconds(10)) async {
    guard let p = process, p.isRunning else { return }
    p.send(SIGTERM)
    let deadline = ContinuousClock.now + grace
    while p.isRunning && ContinuousClock.now < deadline {
      try? await Task.sleep(for: .milliseconds(20))
    }
    if p.isRunning { p.send(SIGKILL) }
    await p.exit()
  }

  /// SIGKILL (no clean shutdown) and wait until it has exited.
  public func kill9() async {
    guard let p = process, p.isRunning else { return }
    p.send(SIGKILL)
    await p.exit()
  }

  /// Stops etcd and removes its directory.
  public func destroy() async {
    await stop()
    try? FileManager.default.removeItem(atPath: directory)
  }

  deinit {
    // Last resort for a test that forgot `destroy()`: never leave an etcd behind.
    if let p = process, p.isRunning {
      p.send(SIGKILL)
      p.wait()
    }
    try? FileManager.default.removeItem(atPath: directory)
  }

  /// Two distinct free loopback ports (bound to port 0 and released; etcd binds them right after).
  static func freePorts() throws -> (Int, Int) {
    let a = try freePort()
    var b = try freePort()
    while b == a { b = try freePort() }
    return (a, b)
  }

  /// A loopback TCP port that nothing listens on at the moment (also used by tests as a dead endpoint).
  public static func freePort() throws -> Int {
    #if canImport(Glibc)
      let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
      let fd = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { throw EtcdProcessError("socket() failed: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw EtcdProcessError("bind(127.0.0.1:0) failed: errno \(errno)") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw EtcdProcessError("getsockname failed: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
  }
}

/// etcd's stderr, appended from the reader thread of each start (`readToEnd`).
private final class LogBuffer: Sendable {
  private let data = Mutex(Data())
  private let endCount = Mutex(0)

  func append(_ chunk: Data) { data.withLock { $0.append(chunk) } }
  /// How many of the readers (one per start) have reached end of file.
  var ends: Int { endCount.withLock { $0 } }
  func ended() { endCount.withLock { $0 += 1 } }
  func mark() -> Int { data.withLock { $0.count } }
  var text: String { text(since: 0) }
  func text(since mark: Int) -> String {
    data.withLock { String(decoding: $0.suffix(from: $0.startIndex + min(mark, $0.count)), as: UTF8.self) }
  }
}

/// Why a test's etcd could not be started.
public struct EtcdProcessError: Error, CustomStringConvertible {
  public var description: String
  var portTaken: Bool

  init(_ description: String, portTaken: Bool = false) {
    self.description = description
    self.portTaken = portTaken
  }
}
