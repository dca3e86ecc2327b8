import Foundation
import StrataCore
import Testing

@testable import StrataCLI
@testable import StrataServer

@Suite("Cluster file")
struct ClusterFileTests {
  private func load(_ text: String, node: String = "n1") throws -> ClusterSettings {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-\(UUID().uuidString).yaml").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try ClusterFile.load(path: path, node: node)
  }

  private func message(_ body: () throws -> Void) -> String {
    do {
      try body()
      return "no error"
    } catch {
      return "\(error)"
    }
  }

  @Test("each node has a client address and an internode port on the same host")
  func parses() throws {
    let settings = try load(
      """
      epoch: 3
      nodes:
        - id: n1
          address: 127.0.0.1:7401
          internode_port: 7501
        - id: n2
          address: 10.0.0.2:7401
          internode_port: 7501
      """, node: "n2")
    #expect(settings.epoch == 3)
    #expect(settings.selfID == "n2")
    #expect(settings.nodes.map(\.address) == ["127.0.0.1:7401", "10.0.0.2:7401"])
    #expect(settings.nodes.map(\.internodeAddress) == ["127.0.0.1:7501", "10.0.0.2:7501"])
  }

  @Test("a node without internode_port is refused with the fix in the message")
  func missingInternodePort() {
    let text = message {
      _ = try load(
        """
        epoch: 1
        nodes:
          - id: n1
            address: 127.0.0.1:7401
        """)
    }
    #expect(text.contains("node 1 ('n1') has no internode_port"), "\(text)")
    #expect(text.contains("internode_port: 7501"), "\(text)")
  }

  @Test("an internode port outside 1...65535, or one that another node or address uses, is refused")
  func badInternodePorts() {
    let outOfRange = message {
      _ = try load("epoch: 1\nnodes:\n  - id: n1\n    address: 127.0.0.1:7401\n    internode_port: 70000\n")
    }
    #expect(outOfRange.contains("internode_port 70000; expected 1...65535"), "\(outOfRange)")
    let clash = message {
      _ = try load(
        """
        epoch: 1
        nodes:
          - id: n1
            address: 127.0.0.1:7401
            internode_port: 7402
          - id: n2
            address: 127.0.0.1:7402
            internode_port: 7502
        """)
    }
    #expect(clash.contains("node n2's address 127.0.0.1:7402 is already n1's internode port"), "\(clash)")
  }
}
