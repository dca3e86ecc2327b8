public import StrataProto
internal import StrataCore
internal import StrataStorage
internal import SwiftProtobuf

/// A write a coordinator is about to send to other nodes: every row of the batch (with its write id and
/// created time) and, per target node, the rows it stores. Stored before the send
/// (`HintSink.intend`) and removed once every target answered or got a hint, so that a coordinator
/// killed in between turns it into hints when it starts again (`HintedHandoff.recoverIntents`): a
/// write that reached some replicas reaches the others too.
///
/// Encoded form: `u8(1)`, `u32be(target count)`, per target `u16be(len) node-utf8 u32be(rows)
/// u32be(row index)...`, then the serialized batch.
public struct WriteIntent: Sendable, Equatable {
  public struct Target: Sendable, Equatable {
    public var node: String
    /// Indexes into `batch.rows`, ascending.
    public var rows: [Int]

    public init(node: String, rows: [Int]) {
      self.node = node
      self.rows = rows
    }
  }

  /// The group, version, features and every row of the write.
  public var batch: Strata_V1_WriteFeaturesRequest
  public var targets: [Target]

  public init(batch: Strata_V1_WriteFeaturesRequest, targets: [Target]) {
    self.batch = batch
    self.targets = targets
  }

  /// The internode write `target` gets: the batch's group, version and features with its rows.
  public func part(for target: Target) -> Strata_V1_WriteFeaturesRequest {
    Strata_V1_WriteFeaturesRequest.with {
      $0.group = batch.group
      $0.version = batch.version
      $0.features = batch.features
      $0.rows = target.rows.map { batch.rows[$0] }
    }
  }

  static let formatVersion: UInt8 = 1

  public func encoded() throws -> [UInt8] {
    let batchBytes: [UInt8] = try batch.serializedBytes()
    var w = ByteWriter(capacity: 5 + targets.reduce(0) { $0 + 6 + $1.node.utf8.count + 4 * $1.rows.count } + batchBytes.count)
    w.u8(Self.formatVersion)
    w.u32BE(UInt32(targets.count))
    for target in targets {
      w.u16BE(UInt16(target.node.utf8.count))
      w.append(contentsOf: target.node.utf8)
      w.u32BE(UInt32(target.rows.count))
      for i in target.rows { w.u32BE(UInt32(i)) }
    }
    w.append(contentsOf: batchBytes)
    return w.bytes
  }

  /// - Throws: `StrataError.internalError` when `bytes` are not an encoded intent (or name a row the
  ///   batch does not have).
  public init(decoding bytes: [UInt8]) throws {
    let corrupt = StrataError.internalError("a stored write intent does not decode (\(bytes.count) bytes): data corruption or a bug")
    var r = ByteReader(bytes)
    var targets: [Target] = []
    do {
      guard try r.u8() == Self.formatVersion else { throw corrupt }
      for _ in 0..<(try r.u32BE()) {
        let node = String(decoding: try r.bytes(Int(try r.u16BE())), as: UTF8.self)
        let count = Int(try r.u32BE())
        guard count <= r.remaining / 4 else { throw corrupt }
        targets.append(Target(node: node, rows: try (0..<count).map { _ in Int(try r.u32BE()) }))
      }
    } catch is CodecError {
      throw corrupt
    }
    let batch: Strata_V1_WriteFeaturesRequest
    do {
      batch = try Strata_V1_WriteFeaturesRequest(serializedBytes: Array(bytes[r.offset...]))
    } catch {
      throw corrupt
    }
    guard targets.allSatisfy({ $0.rows.allSatisfy { $0 < batch.rows.count } }) else { throw corrupt }
    self.init(batch: batch, targets: targets)
  }
}
