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

/// Output of one finished CLI invocation.
struct CommandResult: Sendable {
  var status: Int32
  var stdout: String
  var stderr: String
}

/// Runs `strata ARGS` to completion.
func strata(_ args: [String], server: String? = nil) throws -> CommandResult {
  let (out, err) = (try OutputPipe(), try OutputPipe())
  let process = try ChildProcess(
    executable: StrataBinary.path, arguments: args + (server.map { ["--server", $0] } ?? []), stdout: out, stderr: err)
  // Read both pipes before waiting so a chatty child never blocks on a full pipe.
  let errData = Locked<Data?>(nil)
  Thread { errData.withLock { $0 = err.reader.readDataToEndOfFile() } }.start()
  let outData = out.reader.readDataToEndOfFile()
  let status = process.wait()
  while errData.withLock({ $0 == nil }) { usleep(1_000) }
  return CommandResult(
    status: status, stdout: String(decoding: outData, as: UTF8.self),
    stderr: String(decoding: errData.withLock { $0! }, as: UTF8.self))
}

/// A `strata serve` process on a free loopback port with its own data directory.
final class ServerProcess: @unchecked Sendable {
  // @unchecked: `process` and `address` are only set by the test task that owns this object; the
  // listening line is handed over through `ready` (a Mutex).
  private(set) var process: ChildProcess?
  private let arguments: [String]
  private var pipes: [OutputPipe] = []
  let dataDirectory: String
  private let ready = Locked<String?>(nil)
  private let log = Locked(Data())
  private(set) var address = ""

  init(dataDirectory: String, extraArgs: [String] = []) {
    self.dataDirectory = dataDirectory
    arguments = ["serve", "--port", "0", "--data-dir", dataDirectory] + extraArgs
  }

  /// Starts the process and waits (up to 30 s) for its "listening on HOST:PORT" line.
  func start() throws {
    let out = try OutputPipe()
    let err = try OutputPipe()
    out.reader.readabilityHandler = { [ready] h in
      let text = String(decoding: h.availableData, as: UTF8.self)
      if let range = text.range(of: "listening on ") {
        let rest = text[range.upperBound...]
        let addr = rest.prefix { !$0.isWhitespace }
        ready.withLock { $0 = String(addr) }
      }
    }
    err.reader.readabilityHandler = { [log] h in
      let d = h.availableData
      log.withLock { $0.append(d) }
    }
    let process = try ChildProcess(executable: StrataBinary.path, arguments: arguments, stdout: out, stderr: err)
    self.process = process
    pipes = [out, err]
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline {
      if let a = ready.withLock({ $0 }) {
        address = a
        return
      }
      if !process.isRunning { break }
      usleep(20_000)
    }
    throw ServerStartError(log: stderrText)
  }

  var stderrText: String { String(decoding: log.withLock { $0 }, as: UTF8.self) }

  /// SIGKILL: no chance to flush anything.
  func kill9() {
    process?.send(SIGKILL)
    process?.wait()
  }

  /// SIGTERM and wait; returns the exit status.
  func terminate() -> Int32 {
    process?.send(SIGTERM)
    return process?.wait() ?? -1
  }

  /// Whether the process has not exited yet.
  var isRunning: Bool { process?.isRunning ?? false }

  deinit {
    if let process, process.isRunning {
      process.send(SIGKILL)
      process.wait()
    }
    for pipe in pipes { pipe.reader.readabilityHandler = nil }
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
