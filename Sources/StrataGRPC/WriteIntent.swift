public import StrataProto
internal import StrataCore
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
    var bytes: [UInt8] = [Self.formatVersion]
    func u32(_ v: Int) {
      let x = UInt32(v)
      bytes += [UInt8(x >> 24), UInt8(x >> 16 & 0xff), UInt8(x >> 8 & 0xff), UInt8(x & 0xff)]
    }
    u32(targets.count)
    for target in targets {
      let node = Array(target.node.utf8)
      bytes += [UInt8(node.count >> 8), UInt8(node.count & 0xff)]
      bytes += node
      u32(target.rows.count)
      for i in target.rows { u32(i) }
    }
    bytes += try batch.serializedBytes() as [UInt8]
    return bytes
  }

  /// - Throws: `StrataError.internalError` when `bytes` are not an encoded intent (or name a row the
  ///   batch does not have).
  public init(decoding bytes: [UInt8]) throws {
    var at = 0
    func corrupt() -> StrataError {
      StrataError.internalError("a stored write intent does not decode (\(bytes.count) bytes): data corruption or a bug")
    }
    func take(_ n: Int) throws -> ArraySlice<UInt8> {
      guard n >= 0, at + n <= bytes.count else { throw corrupt() }
      defer { at += n }
      return bytes[at..<(at + n)]
    }
    func u32() throws -> Int { try take(4).reduce(0) { $0 << 8 | Int($1) } }
    guard try take(1).first == Self.formatVersion else { throw corrupt() }
    let count = try u32()
    var targets: [Target] = []
    for _ in 0..<count {
      let length = try take(2).reduce(0) { $0 << 8 | Int($1) }
      let node = String(decoding: try take(length), as: UTF8.self)
      let rows = try u32()
      guard rows <= bytes.count else { throw corrupt() }
      targets.append(Target(node: node, rows: try (0..<rows).map { _ in try u32() }))
    }
    let batch: Strata_V1_WriteFeaturesRequest
    do {
      batch = try Strata_V1_WriteFeaturesRequest(serializedBytes: Array(bytes[at...]))
    } catch {
      throw corrupt()
    }
    guard targets.allSatisfy({ $0.rows.allSatisfy { $0 < batch.rows.count } }) else { throw corrupt() }
    self.init(batch: batch, targets: targets)
  }
}
