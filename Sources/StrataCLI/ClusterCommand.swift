internal import ArgumentParser
internal import Foundation
internal import GRPCCore
internal import StrataProto
internal import SwiftProtobuf

/// `strata cluster ...`: membership changes of a cluster whose metadata is in etcd (docs/scale-out.md).
struct ClusterCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cluster",
    abstract: "Grow, shrink and repair the membership of a running cluster (metadata in etcd).",
    discussion: """
      Each change is recorded in etcd and driven to the end by the cluster itself, while it serves:
      writes go to the old and the new replicas, the ranges that move are streamed to their new nodes,
      then reads and the ring switch over, and after a grace period the old copies are deleted.
      One change at a time. --wait follows the change with a progress bar until it is done.
      """,
    subcommands: [AddNode.self, RemoveNode.self, ReplaceNode.self, Cleanup.self, Abort.self, Status.self])

  struct AddNode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "add-node",
      abstract: "Add a node: record the change, then start the node with `strata serve --etcd ... --node ID` at ADDRESS.")
    @OptionGroup var client: ClientOptions
    @Argument(help: "The new node's id.") var id: String
    @Argument(help: "host:port the new node serves clients on.") var address: String
    @Option(name: .customLong("internode-port"), help: "The new node's internode port (default: its client port + 100).")
    var internodePort: UInt32 = 0
    @Option(help: "The new node's zone.") var zone = ""
    @Flag(help: "Follow the change until it is done (or until it switched, with --until-switched).") var wait = false

    func run() async throws {
      let request = Strata_V1_ChangeMembershipRequest.with {
        $0.action = .add
        $0.node = id
        $0.address = address
        $0.internodePort = internodePort
        $0.zone = zone
      }
      try await ClusterCommand.submit(request, client: client, wait: wait)
    }
  }

  struct RemoveNode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "remove-node",
      abstract: "Decommission a node: its ranges are streamed to the nodes that own them without it, then it stops.")
    @OptionGroup var client: ClientOptions
    @Argument(help: "The node to remove.") var id: String
    @Flag(help: "Follow the change until it is done.") var wait = false

    func run() async throws {
      try await ClusterCommand.submit(.with { $0.action = .remove; $0.node = id }, client: client, wait: wait)
    }
  }

  struct ReplaceNode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "replace-node",
      abstract: "Replace a dead node: its ranges are streamed to the new node from the surviving replicas.")
    @OptionGroup var client: ClientOptions
    @Argument(help: "The dead node.") var dead: String
    @Option(name: .customLong("with"), help: "The new node's id.") var replacement: String
    @Option(help: "host:port the new node serves clients on.") var address: String
    @Option(name: .customLong("internode-port"), help: "The new node's internode port (default: its client port + 100).")
    var internodePort: UInt32 = 0
    @Option(help: "The new node's zone.") var zone = ""
    @Flag(help: "Follow the change until it is done.") var wait = false

    func run() async throws {
      let request = Strata_V1_ChangeMembershipRequest.with {
        $0.action = .replace
        $0.node = dead
        $0.replacement = replacement
        $0.address = address
        $0.internodePort = internodePort
        $0.zone = zone
      }
      try await ClusterCommand.submit(request, client: client, wait: wait)
    }
  }

  struct Cleanup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "cleanup", abstract: "Delete the old copies of a switched change now, instead of after its grace period.")
    @OptionGroup var client: ClientOptions
    @Flag(help: "Follow the change until it is done.") var wait = false

    func run() async throws {
      try await ClusterCommand.submit(.with { $0.action = .cleanup }, client: client, wait: wait)
    }
  }

  struct Abort: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "abort",
      abstract: "Give up the change in progress while reads still use the old ring (before read_new); a node being added stops.")
    @OptionGroup var client: ClientOptions

    func run() async throws {
      try await ClusterCommand.submit(.with { $0.action = .abort }, client: client, wait: false)
    }
  }

  struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "status", abstract: "Show the ring and the membership change in progress, with each transfer's progress.")
    @OptionGroup var client: ClientOptions
    @Flag(help: "Follow the change until it is done.") var wait = false

    func run() async throws {
      try await ClusterCommand.submit(.with { $0.action = .status }, client: client, wait: wait)
    }
  }

  /// Sends `request`, prints the answer, and with `wait` follows the change until it is over.
  static func submit(_ request: Strata_V1_ChangeMembershipRequest, client: ClientOptions, wait: Bool) async throws {
    let first = try await client.withFeatureStore { try await $0.changeMembership(request) }
    print(describe(first))
    guard wait, first.hasChange else { return }
    let target = first.change.toMembers
    var bar: ProgressBar?
    var lastPhase = first.change.phase
    while true {
      try await Task.sleep(for: .milliseconds(500))
      let now: Strata_V1_ChangeMembershipResponse
      do {
        now = try await client.withFeatureStore { try await $0.changeMembership(.with { $0.action = .status }) }
      } catch {
        // The node asked may be the one removed (it stops at the end): the change is then over.
        if request.action == .remove { break }
        throw error
      }
      guard now.hasChange else {
        bar?.finish()
        print("done: ring epoch \(now.ringEpoch), members \(now.members.joined(separator: ", "))")
        guard now.members == target || Set(now.members) == Set(target) else {
          throw CLIError("the change ended with members \(now.members.joined(separator: ", ")), not \(target.joined(separator: ", "))")
        }
        return
      }
      let c = now.change
      if c.phase != lastPhase {
        bar?.finish()
        bar = nil
        print("phase \(c.phase)")
        lastPhase = c.phase
      }
      if c.phase == "streaming" {
        let total = c.transfers.reduce(UInt64(0)) { $0 + max($1.bucketsTotal, 1) }
        let done = c.transfers.reduce(UInt64(0)) { $0 + ($1.done ? max($1.bucketsTotal, 1) : $1.bucketsDone) }
        let rows = c.transfers.reduce(UInt64(0)) { $0 + $1.rowsReceived }
        if bar == nil { bar = ProgressBar(total: 1_000_000, label: "streaming") }
        bar?.update(done: total == 0 ? 0 : Int(Double(done) / Double(total) * 1_000_000), rows: Int(rows))
      }
    }
  }

  /// The text `strata cluster` prints for an answer.
  static func describe(_ r: Strata_V1_ChangeMembershipResponse) -> String {
    var lines = ["ring epoch \(r.ringEpoch): \(r.members.joined(separator: ", "))"]
    guard r.hasChange else {
      lines.append("no membership change in progress")
      return lines.joined(separator: "\n")
    }
    let c = r.change
    let what = c.kind == "replace" ? "replace \(c.node) with \(c.replacement)" : "\(c.kind) \(c.node)"
    lines.append(
      "change: \(what), phase \(c.phase) (epoch \(c.fromEpoch) -> \(c.fromEpoch + 1): \(c.fromMembers.joined(separator: ", ")) -> \(c.toMembers.joined(separator: ", ")))\(c.driver.isEmpty ? "" : ", driven by \(c.driver)")"
    )
    if c.phase == "switched", c.cleanupAtMicros > 0 {
      let seconds = max(0, Double(c.cleanupAtMicros) / 1e6 - Date().timeIntervalSince1970)
      lines.append("old copies are deleted in \(Int(seconds)) s (strata cluster cleanup: now)")
    }
    for t in c.transfers {
      let elapsed = max(0.001, Double(t.updatedAtMicros - t.startedAtMicros) / 1e6)
      let mb = Double(t.bytesReceived) / 1_048_576
      lines.append(
        "  \(t.target): \(String(format: "%.1f", t.tokenShare * 100))% of the tokens from \(t.sources.joined(separator: ", ")); sources done \(t.sourcesDone)/\(t.sources.count), buckets \(t.bucketsDone)/\(t.bucketsTotal), \(t.rowsReceived) rows, \(String(format: "%.1f", mb)) MB at \(String(format: "%.1f", mb / elapsed)) MB/s\(t.done ? ", done" : "")\(t.error.isEmpty ? "" : "; last error: \(t.error)")"
      )
    }
    return lines.joined(separator: "\n")
  }
}
