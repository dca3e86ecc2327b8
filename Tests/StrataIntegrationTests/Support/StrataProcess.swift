import Foundation
import StrataTestSupport
import Synchronization
import Testing

/// The `strata` binary built next to this test bundle.
enum StrataBinary {
  static var path: String {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [dir, dir.deletingLastPathComponent()] {
      let p = candidate.appendingPathComponent("strata").path
      if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return dir.appendingPathComponent("strata").path
  }
}

/// A mutex-protected value that closures can capture (a `Mutex` itself cannot be captured).
final class Locked<Value: Sendable>: Sendable {
  private let mutex: Mutex<Value>
  init(_ value: Value) { mutex = Mutex(value) }
  func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

/// Two pipes for a CLI's stdout and stderr, both ends close-on-exec. The child they are given to still gets them (as its stdout
/// and stderr, which the spawn duplicates without the flag), but a server another thread spawns
/// meanwhile does not inherit them: otherwise it would hold the write ends open, and a read of the
/// CLI's output to end of file would wait until that server exits.
/// Made and marked under `spawnLock`, which servers are spawned under too, so no server is forked
/// between the two steps.
func closeOnExecPipes() -> (Pipe, Pipe) {
  spawnLock.withLock { _ in
    let pipes = (Pipe(), Pipe())
    for pipe in [pipes.0, pipes.1] {
      for fd in [pipe.fileHandleForReading.fileDescriptor, pipe.fileHandleForWriting.fileDescriptor] {
        _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
      }
    }
    return pipes
  }
}

/// Held while CLI pipes are made (`closeOnExecPipes`) and while any process is spawned (Foundation's
/// `Process.run` crashed when called from several threads at once).
let spawnLock = Mutex(())

/// Output of one finished CLI invocation.
struct CommandResult: Sendable {
  var status: Int32
  var stdout: String
  var stderr: String
}

/// Runs `strata ARGS` to completion.
func strata(_ args: [String], server: String? = nil) throws -> CommandResult {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: StrataBinary.path)
  process.arguments = args + (server.map { ["--server", $0] } ?? [])
  let (out, err) = closeOnExecPipes()
  process.standardOutput = out
  process.standardError = err
  try spawnLock.withLock { _ in try process.run() }
  // Read both pipes before waiting so a chatty child never blocks on a full pipe.
  let errData = Locked(Data())
  let reader = Thread { errData.withLock { $0 = err.fileHandleForReading.readDataToEndOfFile() } }
  reader.start()
  let outData = out.fileHandleForReading.readDataToEndOfFile()
  let status = ChildExit.wait(process)
  while !errData.withLock({ !$0.isEmpty }) && reader.isExecuting { usleep(1_000) }
  return CommandResult(
    status: status, stdout: String(decoding: outData, as: UTF8.self),
    stderr: String(decoding: errData.withLock { $0 }, as: UTF8.self))
}

/// A `strata serve` process on a free loopback port with its own data directory.
final class ServerProcess: @unchecked Sendable {
  // @unchecked: `process` is only touched from the test task that owns this object; the listening
  // line is handed over through `ready` (a Mutex).
  let process = Process()
  let dataDirectory: String
  private let ready = Locked<String?>(nil)
  private let log = Locked(Data())
  private(set) var address = ""

  init(dataDirectory: String, extraArgs: [String] = []) {
    self.dataDirectory = dataDirectory
    process.executableURL = URL(fileURLWithPath: StrataBinary.path)
    process.arguments = ["serve", "--port", "0", "--data-dir", dataDirectory] + extraArgs
  }

  /// Starts the process and waits (up to 30 s) for its "listening on HOST:PORT" line.
  func start() throws {
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    out.fileHandleForReading.readabilityHandler = { [ready] h in
      let text = String(decoding: h.availableData, as: UTF8.self)
      if let range = text.range(of: "listening on ") {
        let rest = text[range.upperBound...]
        let addr = rest.prefix { !$0.isWhitespace }
        ready.withLock { $0 = String(addr) }
      }
    }
    err.fileHandleForReading.readabilityHandler = { [log] h in
      let d = h.availableData
      log.withLock { $0.append(d) }
    }
    try spawnLock.withLock { _ in try process.run() }
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline {
      if let a = ready.withLock({ $0 }) {
        address = a
        return
      }
      if !ChildExit.isRunning(process) { break }
      usleep(20_000)
    }
    throw ServerStartError(log: stderrText)
  }

  var stderrText: String { String(decoding: log.withLock { $0 }, as: UTF8.self) }

  /// SIGKILL: no chance to flush anything.
  func kill9() {
    kill(process.processIdentifier, SIGKILL)
    ChildExit.wait(process)
  }

  /// SIGTERM and wait; returns the exit status.
  func terminate() -> Int32 {
    kill(process.processIdentifier, SIGTERM)
    return ChildExit.wait(process)
  }

  /// Whether the process has not exited yet.
  var isRunning: Bool { ChildExit.isRunning(process) }

  deinit {
    if ChildExit.isRunning(process) {
      kill(process.processIdentifier, SIGKILL)
      ChildExit.wait(process)
    }
  }
}

struct ServerStartError: Error, CustomStringConvertible {
  var log: String
  var description: String { "strata serve did not report listening; its stderr:\n\(log)" }
}

/// A fresh temporary directory, removed by `cleanup()`.
struct TempDirectory {
  let path: String

  init() throws {
    path = FileManager.default.temporaryDirectory.appendingPathComponent("strata-it-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  func file(_ name: String, _ contents: String) throws -> String {
    let p = (path as NSString).appendingPathComponent(name)
    try contents.write(toFile: p, atomically: true, encoding: .utf8)
    return p
  }

  func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// Parses CSV output without quotes-in-quotes subtleties (the tests' values contain no commas).
func csvRows(_ text: String) -> [[String: String]] {
  let lines = text.split(separator: "\n").map(String.init)
  guard let header = lines.first?.split(separator: ",", omittingEmptySubsequences: false).map(String.init) else { return [] }
  return lines.dropFirst().map { line in
    let cells = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    return Dictionary(uniqueKeysWithValues: zip(header, cells))
  }
}

/// A fresh temporary directory and a node serving from `dir/data` (started), with `definitions`
/// (a YAML definition file's text) applied when given. The caller removes the directory.
func startNode(extraArgs: [String] = [], definitions: String? = nil) throws -> (TempDirectory, ServerProcess) {
  let dir = try TempDirectory()
  let server = ServerProcess(dataDirectory: dir.path + "/data", extraArgs: extraArgs)
  try server.start()
  if let definitions {
    let r = try strata(["apply", try dir.file("definitions.yaml", definitions)], server: server.address)
    try #require(r.status == 0, "apply failed: \(r.stderr)")
  }
  return (dir, server)
}
