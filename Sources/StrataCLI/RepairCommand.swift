internal import ArgumentParser
internal import Foundation
internal import GRPCCore
internal import StrataProto
internal import SwiftProtobuf

/// `strata repair`: anti-entropy repair of every node of the cluster, one node after another.
struct RepairCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "repair",
    abstract: "Make every replica hold every row its peers hold (anti-entropy repair of the whole cluster).",
    discussion: """
      Asks --server for the cluster's nodes (the table of `strata status`), then has each node, one
      after another, compare its rows with each of its peers and exchange what differs (docs/repair.md).
      Prints a line per node and a summary. A node that does not answer, or a peer a node could not
      repair with, is reported and makes the exit status non-zero; the other nodes are still repaired.
      Repeating a repair is harmless: a second run finds nothing to do.
      """)

  @OptionGroup var client: ClientOptions

  @Option(
    name: .long,
    help: ArgumentHelp(
      "The most rows per second each node's repair moves (received plus sent). 0: the node's default (20000).",
      valueName: "rows"))
  var rate: UInt64 = 0

  func run() async throws {
    let status = try await client.withFeatureStore { try await $0.getStatus(.init()) }
    guard !status.clusterNodes.isEmpty else {
      print("\(client.server ?? "the node") is a single node: it holds the only copy, nothing to repair")
      return
    }
    let nodes = status.clusterNodes
    var problems: [String] = []
    var (received, sent, differing, compared) = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
    var answered = 0
    let started = Date()
    let rate = self.rate
    for (i, node) in nodes.enumerated() {
      let name = "\(node.nodeID) (\(node.address))"
      print("[\(i + 1)/\(nodes.count)] repairing \(name) with its peers ...")
      var target = client
      target.server = node.address
      do {
        let r = try await target.withFeatureStore { client in
          try await client.repair(.with { $0.maxRowsPerSecond = rate })
        }
        answered += 1
        (received, sent) = (received + r.rowsReceived, sent + r.rowsSent)
        (differing, compared) = (differing + r.bucketsDiffering, compared + r.bucketsCompared)
        print(
          "[\(i + 1)/\(nodes.count)] \(name): \(r.peersRepaired) peers repaired, \(r.bucketsDiffering) of \(r.bucketsCompared) buckets differed, \(r.rowsReceived) rows received, \(r.rowsSent) rows sent, \(String(format: "%.1f", Double(r.durationMicros) / 1e6)) s"
        )
        for f in r.peersFailed {
          let problem = "\(node.nodeID) could not repair with \(f.nodeID) (\(f.address)): \(f.message)"
          print("  \(problem)")
          problems.append(problem)
        }
      } catch {
        let problem = "\(name) did not answer: \(error)"
        print("  \(problem)")
        problems.append(problem)
      }
    }
    print(
      "repair: \(answered) of \(nodes.count) nodes repaired with their peers, \(differing) of \(compared) buckets differed, \(received) rows received, \(sent) rows sent, \(String(format: "%.1f", Date().timeIntervalSince(started))) s"
    )
    guard problems.isEmpty else {
      throw CLIError("repair incomplete (\(problems.count) problems): \(problems.joined(separator: "; "))")
    }
  }
}
