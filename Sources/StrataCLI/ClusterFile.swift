internal import Foundation
internal import StrataCore
internal import StrataServer
internal import Yams

/// Reads a cluster file:
///
/// ```yaml
/// epoch: 1                 # bump it whenever the node list changes; nodes refuse calls from other epochs
/// virtual_nodes: 1024      # optional, the ring's virtual nodes per node
/// replication_factor: 3    # optional, nodes per entity (default 3, or every node when there are fewer)
/// nodes:                   # the first node is the registry leader
///   - id: n1
///     address: 127.0.0.1:7401  # the public port (clients)
///     internode_port: 7501     # the Shard service on the same host (other nodes only)
///     zone: a                  # optional: replicas go to distinct zones first
///   - id: n2
///     address: 127.0.0.1:7402
///     internode_port: 7502
/// ```
enum ClusterFile {
  struct Document: Decodable {
    var epoch: UInt64
    var virtualNodes: Int?
    var replicationFactor: Int?
    var nodes: [Entry]

    enum CodingKeys: String, CodingKey {
      case epoch
      case virtualNodes = "virtual_nodes"
      case replicationFactor = "replication_factor"
      case nodes
    }
  }

  struct Entry: Decodable {
    var id: String
    var address: String
    var internodePort: Int?
    var zone: String?

    enum CodingKeys: String, CodingKey {
      case id, address, zone
      case internodePort = "internode_port"
    }
  }

  static func load(path: String, node: String) throws -> ClusterSettings {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw CLIError("cannot read cluster file '\(path)'")
    }
    let document: Document
    do {
      document = try YAMLDecoder().decode(Document.self, from: data)
    } catch {
      throw CLIError("\(path): not a cluster file (\(error)); it needs `epoch` and `nodes` (each with `id`, `address: host:port` and `internode_port`)")
    }
    guard !document.nodes.isEmpty else { throw CLIError("\(path): `nodes` is empty") }
    var nodes: [ClusterSettings.Node] = []
    for (i, entry) in document.nodes.enumerated() {
      guard let colon = entry.address.lastIndex(of: ":"), let port = Int(entry.address[entry.address.index(after: colon)...]),
        (1...65535).contains(port), colon > entry.address.startIndex
      else {
        throw CLIError("\(path): node \(i + 1) ('\(entry.id)') has address '\(entry.address)'; expected host:port, e.g. 127.0.0.1:7401")
      }
      guard let internodePort = entry.internodePort else {
        throw CLIError(
          "\(path): node \(i + 1) ('\(entry.id)') has no internode_port: the internode Shard service listens on a port of its own, e.g. `internode_port: \(min(port + 100, 65535))`")
      }
      guard (1...65535).contains(internodePort) else {
        throw CLIError("\(path): node \(i + 1) ('\(entry.id)') has internode_port \(internodePort); expected 1...65535")
      }
      nodes.append(
        .init(id: entry.id, host: String(entry.address[..<colon]), port: port, internodePort: internodePort, zone: entry.zone ?? ""))
    }
    let settings = ClusterSettings(
      nodes: nodes, selfID: node, epoch: document.epoch, virtualNodes: document.virtualNodes ?? HashRing.defaultVirtualNodes,
      replicationFactor: document.replicationFactor)
    do {
      _ = try settings.placement()
    } catch {
      throw CLIError("\(path): \(error.message)")
    }
    return settings
  }
}
