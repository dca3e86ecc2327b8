import Foundation
import Synchronization
import StrataCore
import StrataTestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Output of one CLI invocation that was bounded in time.
struct TimedResult: Sendable {
  var status: Int32
  var stdout: String
  var stderr: String
  var seconds: Double
  /// The command was still running at its deadline and was killed (status is then meaningless).
  var timedOut: Bool
}

/// Runs `strata ARGS` and kills it (SIGKILL) if it has not finished within `timeout` seconds, so a test
/// of a hang fails instead of hanging.
func strata(_ args: [String], server: String?, timeout: Double) throws -> TimedResult {
  let (out, err) = (try OutputPipe(), try OutputPipe())
  let started = Date()
  let process = try ChildProcess(
    executable: StrataBinary.path, arguments: args + (server.map { ["--server", $0] } ?? []), stdout: out, stderr: err)
  let outData = Locked<Data?>(nil)
  let errData = Locked<Data?>(nil)
  Thread { outData.withLock { $0 = out.reader.readDataToEndOfFile() } }.start()
  Thread { errData.withLock { $0 = err.reader.readDataToEndOfFile() } }.start()
  let deadline = started.addingTimeInterval(timeout)
  var timedOut = false
  while process.isRunning {
    if Date() > deadline {
      timedOut = true
      process.send(SIGKILL)
      break
    }
    usleep(2_000)
  }
  let status = process.wait()
  let seconds = Date().timeIntervalSince(started)
  while outData.withLock({ $0 == nil }) || errData.withLock({ $0 == nil }) { usleep(1_000) }
  return TimedResult(
    status: status, stdout: String(decoding: outData.withLock { $0! }, as: UTF8.self),
    stderr: String(decoding: errData.withLock { $0! }, as: UTF8.self), seconds: seconds, timedOut: timedOut)
}

/// The next port `freeLoopbackPorts` tries: below Linux's ephemeral range (32768-60999), from which
/// the kernel gives ports to `bind(0)` (etcd's test ports, `EtcdProcess.freePort`) and to outgoing
/// connections, and never the same port twice in one test process. A node killed and restarted on its
/// port had lost it: a port picked with `bind(0)` was free again once the node died, and another test's
/// `bind(0)` or connection could take it before the restart.
private let nextTestPort = Mutex(20_000 + Int.random(in: 0..<6_000))

/// `count` distinct TCP ports on 127.0.0.1, free now (each bound once to check), from `nextTestPort`.
func freeLoopbackPorts(_ count: Int) throws -> [Int] {
  struct PortError: Error, CustomStringConvertible {
    var description: String
  }
  var ports: [Int] = []
  var tried = 0
  while ports.count < count {
    let port = nextTestPort.withLock { next in
      defer { next = next + 1 < 32_768 ? next + 1 : 20_000 }
      return next
    }
    tried += 1
    guard tried <= 12_768 else { throw PortError(description: "no free TCP port on 127.0.0.1 in 20000-32767") }
    #if canImport(Glibc)
      let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
      let fd = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { throw PortError(description: "socket() failed: errno \(errno)") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafeMutablePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    if bound { ports.append(port) }
  }
  return ports
}

/// An N-node Strata cluster of real `strata serve --cluster FILE --node ID` processes on loopback,
/// nodes `n1`...`nN` (n1 is the registry leader), each with its own data directory under one temporary
/// directory. Nodes can be stopped (SIGTERM), killed (SIGKILL) and restarted on their data directory.
final class LocalCluster: @unchecked Sendable {
  // @unchecked: used from the one test task that owns it; the concurrent start in `init` only touches
  // distinct `ServerProcess` objects and a `Locked` error list.
  let dir: TempDirectory
  private(set) var ids: [String]
  /// The ring the nodes build from the cluster file (epochs do not affect placement).
  let ring: HashRing
  private(set) var addresses: [String: String] = [:]
  /// Each node's internode port (the Shard service), on 127.0.0.1.
  private(set) var internodePorts: [String: Int] = [:]
  private var processes: [String: ServerProcess] = [:]
  private let epochs: [String: UInt64]
  /// The nodes the cluster formed with.
  let initialIDs: [String]
  /// The cluster file's replication_factor.
  let replicationFactor: Int
  /// With an etcd endpoint, the nodes keep their metadata there (`strata serve --etcd`) instead of
  /// reading a cluster file.
  let etcd: String?
  /// More `strata serve` options for every node.
  let serveArgs: [String]

  /// Starts `size` nodes and waits until every one listens. `epochs` overrides the `epoch:` written in
  /// one node's cluster file (default 1). Ports are picked free; if a node cannot bind its port (taken
  /// meanwhile by another process), the whole cluster is started again on new ports (3 attempts).
  ///
  /// `replicationFactor` is 1 unless a test asks for more: one copy per entity, so that tests of
  /// routing and failure reporting know which node holds what.
  init(
    size: Int = 3, epochs: [String: UInt64] = [:], replicationFactor: Int = 1, etcd: String? = nil, serveArgs: [String] = []
  ) throws {
    dir = try TempDirectory()
    self.replicationFactor = replicationFactor
    self.etcd = etcd
    self.serveArgs = serveArgs
    ids = (1...size).map { "n\($0)" }
    initialIDs = ids
    ring = try HashRing(nodes: ids, epoch: 1)
    self.epochs = epochs
    var lastError: (any Error)?
    for attempt in 0..<3 {
      clusterName = URL(fileURLWithPath: dir.path).lastPathComponent + (attempt == 0 ? "" : "-\(attempt + 1)")
      let ports = try freeLoopbackPorts(2 * size)
      addresses = Dictionary(uniqueKeysWithValues: zip(ids, ports.prefix(size).map { "127.0.0.1:\($0)" }))
      internodePorts = Dictionary(uniqueKeysWithValues: zip(ids, ports.suffix(size)))
      for id in ids { try writeClusterFile(for: id) }
      processes = Dictionary(uniqueKeysWithValues: ids.map { ($0, makeProcess($0)) })
      // All processes at once (one thread each), so they come up as close together as possible.
      let errors = Locked<[String: any Error]>([:])
      let done = Locked(0)
      for id in ids {
        let p = processes[id]!
        Thread {
          do { try p.start() } catch { errors.withLock { $0[id] = error } }
          done.withLock { $0 += 1 }
        }.start()
      }
      while done.withLock({ $0 }) < size { usleep(5_000) }
      let failed = errors.withLock { $0 }
      if failed.isEmpty {
        try waitUntilConnected()
        return
      }
      lastError = failed.sorted { $0.key < $1.key }.first!.value
      for p in processes.values where p.isRunning { p.kill9() }
      let text = failed.values.map { "\($0)" }.joined().lowercased()
      guard text.contains("in use") || text.contains("bind") else { break }
      // The next attempt starts from nothing: the nodes that did start stored this attempt's cluster.
      for id in ids { try? FileManager.default.removeItem(atPath: dataDirectory(of: id)) }
    }
    dir.cleanup()
    throw lastError!
  }

  /// Waits until every node reaches every node: `strata status` through each one shows no node as
  /// unavailable (a node whose internode calls fail for another reason, e.g. an epoch mismatch, counts
  /// as reached).
  ///
  /// Needed because a node's internode clients start connecting when the node starts: a peer that is
  /// not listening yet fails that attempt, and the client then backs off (1 s, growing) and fails calls
  /// at once meanwhile. ClusterTests.reachAfterRestart shows the consequences.
  /// `through` limits the check to what those nodes see.
  func waitUntilConnected(through: [String]? = nil, timeout: Double = 10) throws {
    let deadline = Date().addingTimeInterval(timeout)
    var pending = (through ?? ids).filter(isRunning)
    var last = ""
    while !pending.isEmpty {
      pending = try pending.filter { id in
        let r = try strata(["status"], server: address(id), timeout: 5)
        let table = clusterTable(r.stdout)
        last = "status through \(id): \(r.stdout)\(r.stderr)"
        return !(r.status == 0 && table.count == ids.count && table.values.allSatisfy { !$0.answers.contains("is unavailable") })
      }
      if pending.isEmpty { return }
      guard Date() < deadline else {
        throw ServerStartError(log: "the nodes did not reach each other within \(timeout) s; \(last)")
      }
      usleep(50_000)
    }
  }

  func clusterFile(for id: String) -> String { dir.path + "/cluster-\(id).yaml" }
  func dataDirectory(of id: String) -> String { dir.path + "/data-\(id)" }
  func address(_ id: String) -> String { addresses[id]! }
  func owner(of entity: String) -> String { ring.primary(of: entity) }
  func isRunning(_ id: String) -> Bool { processes[id]?.isRunning ?? false }

  private func writeClusterFile(for id: String) throws {
    var text = "epoch: \(epochs[id] ?? 1)\nreplication_factor: \(replicationFactor)\nnodes:\n"
    for n in ids { text += "  - id: \(n)\n    address: \(addresses[n]!)\n    internode_port: \(internodePorts[n]!)\n" }
    try text.write(toFile: clusterFile(for: id), atomically: true, encoding: .utf8)
  }

  /// The etcd cluster name of this cluster's nodes: the directory's name, and the attempt after the
  /// first (`init`), since nodes of a failed attempt may have formed a cluster under the previous name
  /// with addresses the next attempt does not use.
  private(set) var clusterName = ""

  /// Etcd mode: starts node `id` on new free ports, not part of the cluster's initial nodes: with
  /// `join` it adds itself (a membership change); without, it must have been added already
  /// (`strata cluster add-node` or `replace-node` with `address(id)`, see `reservePorts`).
  func startNewNode(_ id: String, join: Bool) throws {
    precondition(etcd != nil, "new nodes join clusters whose metadata is in etcd")
    if addresses[id] == nil { try reservePorts(id) }
    if !ids.contains(id) { ids.append(id) }
    let p = makeProcess(id, join: join)
    processes[id] = p
    try p.start()
  }

  /// Picks the client and internode ports of a node that is not started yet.
  func reservePorts(_ id: String) throws {
    let ports = try freeLoopbackPorts(2)
    addresses[id] = "127.0.0.1:\(ports[0])"
    internodePorts[id] = ports[1]
  }

  /// The internode port of node `id`.
  func internodePort(_ id: String) -> Int { internodePorts[id]! }

  /// Forgets a node that left the cluster (it must not run).
  func forget(_ id: String) {
    ids.removeAll { $0 == id }
  }

  private func makeProcess(_ id: String, join: Bool = false) -> ServerProcess {
    if let etcd {
      let initial = initialIDs.contains(id) ? ["--initial-nodes", String(initialIDs.count)] : []
      return ServerProcess(
        dataDirectory: dataDirectory(of: id),
        extraArgs: [
          "--etcd", etcd, "--node", id, "--address", address(id), "--internode-port", String(internodePorts[id]!),
          "--replication-factor", String(replicationFactor), "--cluster-name", clusterName,
        ] + initial + (join ? ["--join"] : []) + serveArgs)
    }
    return ServerProcess(dataDirectory: dataDirectory(of: id), extraArgs: ["--cluster", clusterFile(for: id), "--node", id] + serveArgs)
  }

  /// SIGTERM and wait; returns the exit status.
  @discardableResult
  func stop(_ id: String) -> Int32 { processes[id]!.terminate() }

  /// SIGKILL: the node vanishes without closing anything.
  func kill9(_ id: String) { processes[id]!.kill9() }

  /// SIGSTOP: the node holds its connections open and answers nothing until `resume`.
  func pause(_ id: String) { processes[id]!.process?.send(SIGSTOP) }

  /// SIGCONT after `pause`.
  func resume(_ id: String) { processes[id]!.process?.send(SIGCONT) }

  /// Starts a stopped node again on its data directory and cluster file; waits until it listens.
  func restart(_ id: String) throws {
    precondition(!isRunning(id), "\(id) is still running")
    let p = makeProcess(id)
    processes[id] = p
    try p.start()
  }

  /// The stderr of a node's current process (for failure messages).
  func log(_ id: String) -> String { processes[id]?.stderrText ?? "" }

  /// Kills every node that still runs and removes the directory.
  func shutdown() {
    for p in processes.values where p.isRunning { p.kill9() }
    dir.cleanup()
  }
}

/// The `cluster` table of `strata status`: node -> (address, share in %, rows or nil, answers).
/// The cluster table of `strata status` (without zones): per node its address, primary share, rows,
/// hints kept for it by the answering node, and whether it answered.
func clusterTable(_ status: String) -> [String: (address: String, share: Double, rows: Int?, hints: Int?, answers: String)] {
  var table: [String: (String, Double, Int?, Int?, String)] = [:]
  let lines = status.split(separator: "\n").map(String.init)
  guard let start = lines.firstIndex(where: { $0.hasPrefix("cluster (ring epoch") }), start + 1 < lines.count else { return [:] }
  for line in lines[(start + 2)...] {
    let cells = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true).map(String.init)
    guard cells.count == 6, cells[2].hasSuffix("%") else { break }
    table[cells[0]] = (
      cells[1], Double(cells[2].dropLast()) ?? -1, Int(cells[3]), Int(cells[4]), cells[5].trimmingCharacters(in: .whitespaces)
    )
  }
  return table
}
