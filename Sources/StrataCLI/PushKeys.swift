internal import Foundation
public import StrataCore

/// The idempotency keys `strata push` gives its batches: batch `i` (from 0, in file order) carries
/// `<prefix>:<i>`.
///
/// The default prefix is `push-` and 16 hex digits of FNV-1a (64 bits) over the stream's name, its
/// version and the file's bytes, so the same command run again on the same file (with the same
/// `--batch-rows`) sends the same batches with the same keys, and the node answers the ones it already
/// applied as duplicates instead of storing their events twice. The version is part of it because a
/// new version of the stream is another stream: pushing the file into it must store the events.
public enum PushKeys {
  /// Keys are at most 128 bytes (`IdempotencyLedger.maxKeyBytes`): a prefix, `:` and up to 19 digits.
  public static let maxPrefixBytes = 100

  /// The key of batch `batch` (0-based).
  public static func key(prefix: String, batch: Int) -> String {
    "\(prefix):\(batch)"
  }

  /// The default prefix for pushing the file at `path` into version `version` of `stream`. Reads the
  /// whole file; throws INVALID_ARGUMENT (NOT_FOUND for a missing file) if it cannot.
  public static func defaultPrefix(stream: String, version: Int, path: String) throws(StrataError) -> String {
    guard let handle = FileHandle(forReadingAtPath: path) else {
      throw FileManager.default.fileExists(atPath: path)
        ? .invalidArgument("\(path): cannot open the file") : StrataError(.notFound, "\(path) does not exist")
    }
    defer { try? handle.close() }
    var hash = FNV1a64()
    hash.add(Array(stream.utf8))
    hash.add([0])
    hash.add(Array(String(version).utf8))
    hash.add([0])
    do {
      while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
        chunk.withUnsafeBytes { hash.add($0) }
      }
    } catch {
      throw StrataError(.invalidArgument, "\(path): cannot read the file", cause: error)
    }
    return "push-" + hash.hex
  }
}

/// FNV-1a, 64 bits: offset basis 0xcbf29ce484222325, prime 0x100000001b3.
public struct FNV1a64: Sendable {
  public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

  public init() {}

  public mutating func add(_ bytes: some Sequence<UInt8>) {
    var h = value
    for b in bytes {
      h ^= UInt64(b)
      h = h &* 0x100_0000_01b3
    }
    value = h
  }

  /// The value as 16 lowercase hex digits.
  public var hex: String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
  }
}
