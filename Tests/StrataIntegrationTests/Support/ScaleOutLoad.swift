import Foundation

/// A load generator with an operation ledger for membership-change tests on real processes: one
/// thread writes new entities (20 per `strata ingest`, through the nodes in turn) and records those the
/// cluster acknowledged; another reads every acknowledged entity (`strata get`, through the nodes in
/// turn) and records every entity that came back MISSING, every value that is not the written one, and
/// every failed call.
final class ScaleOutLoad: @unchecked Sendable {
  // @unchecked: the mutable state is behind `Locked`; the cluster is only read (addresses).
  let cluster: LocalCluster
  let dir: TempDirectory
  /// entity -> value written (acknowledged).
  let ledger: Locked<[String: Int]>
  let problems = Locked<[String]>([])
  let readRounds = Locked(0)
  let writeBatches = Locked(0)
  let failedWrites = Locked<[String]>([])
  private let stopped = Locked(false)
  private let finished = Locked(0)
  /// The nodes the load goes through (a node joining can be added while it runs).
  let via: Locked<[String]>

  /// The ids of the entities the writer adds start with this.
  let prefix: String

  init(cluster: LocalCluster, ledger: [String: Int], via: [String], prefix: String = "w") {
    self.cluster = cluster
    self.prefix = prefix
    self.dir = cluster.dir
    self.ledger = Locked(ledger)
    self.via = Locked(via)
  }

  func start() {
    let addresses = cluster.ids.reduce(into: [String: String]()) { $0[$1] = cluster.address($1) }
    let known = Locked(addresses)
    Thread { [self] in
      var k = 0
      while !stopped.withLock({ $0 }) {
        let nodes = via.withLock { $0 }
        let node = nodes[k % nodes.count]
        let batch = (0..<20).map { ("\(prefix)\(k)_\($0)", k * 100 + $0) }
        let csv = "entity_id,event_timestamp,n\n" + batch.map { "\($0.0),2024-05-01T00:00:00Z,\($0.1)\n" }.joined()
        do {
          let file = try dir.file("\(prefix)\(k).csv", csv)
          guard let address = known.withLock({ $0[node] }) ?? cluster.addressIfKnown(node) else { continue }
          let r = try strata(["ingest", "--group", "g", file], server: address, timeout: 30)
          if r.status == 0 {
            ledger.withLock { l in for (id, v) in batch { l[id] = v } }
          } else {
            failedWrites.withLock { $0.append("through \(node): \(r.stderr.prefix(400))") }
          }
        } catch {
          failedWrites.withLock { $0.append("\(error)") }
        }
        writeBatches.withLock { $0 += 1 }
        k += 1
      }
      finished.withLock { $0 += 1 }
    }.start()
    Thread { [self] in
      var k = 0
      while !stopped.withLock({ $0 }) {
        let nodes = via.withLock { $0 }
        let node = nodes[k % nodes.count]
        k += 1
        let expected = ledger.withLock { $0 }
        guard let address = known.withLock({ $0[node] }) ?? cluster.addressIfKnown(node) else { continue }
        let ids = expected.keys.sorted()
        var offset = 0
        while offset < ids.count {
          let chunk = Array(ids[offset..<min(ids.count, offset + 2_000)])
          offset += chunk.count
          do {
            let r = try strata(["get", "--entity", chunk.joined(separator: ","), "--features", "g:n", "--json"], server: address, timeout: 30)
            guard r.status == 0 else {
              problems.withLock { $0.append("read through \(node) failed: \(r.stderr.prefix(400))") }
              continue
            }
            check(r.stdout, expected: expected, node: node)
          } catch {
            problems.withLock { $0.append("read through \(node): \(error)") }
          }
        }
        readRounds.withLock { $0 += 1 }
      }
      finished.withLock { $0 += 1 }
    }.start()
  }

  /// Checks one `strata get --json` answer: every entity PRESENT with its written value.
  func check(_ output: String, expected: [String: Int], node: String) {
    let found = Self.problems(in: output, expected: expected, node: node)
    guard !found.isEmpty else { return }
    problems.withLock { $0 += found.prefix(max(0, 50 - $0.count)) }
  }

  /// The entities of a `strata get --json` answer that are not PRESENT with their value in `expected`.
  static func problems(in output: String, expected: [String: Int], node: String) -> [String] {
    var found: [String] = []
    for line in output.split(separator: "\n") {
      guard let data = line.data(using: .utf8),
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
        let id = object["entity_id"] as? String
      else { continue }
      let features = object["features"] as? [String: Any] ?? [:]
      let cell = features.first { $0.key.hasSuffix(":n") }?.value as? [String: Any]
      let status = cell?["status"] as? String
      let value = (cell?["value"] as? NSNumber)?.intValue
      if status != "PRESENT" || value != expected[id] {
        found.append("through \(node): \(id) is \(status ?? "?") \(value.map(String.init) ?? "null"), written \(expected[id] ?? -1)")
      }
    }
    return found
  }

  /// Stops both threads and waits for them.
  func stop() {
    stopped.withLock { $0 = true }
    while finished.withLock({ $0 }) < 2 { usleep(10_000) }
  }
}

extension LocalCluster {
  /// The address of `id` if it has one.
  func addressIfKnown(_ id: String) -> String? { ids.contains(id) ? address(id) : nil }
}
