/// Key bytes as a dictionary key that hashes them as one buffer. `[UInt8]`'s own `hash(into:)`
/// feeds the hasher one byte at a time, which cost the writer a few percent of a push in hashing
/// alone; equality is byte equality, as for `[UInt8]`.
struct HashedBytes: Hashable, Sendable {
  let bytes: [UInt8]

  init(_ bytes: [UInt8]) { self.bytes = bytes }

  static func == (a: HashedBytes, b: HashedBytes) -> Bool { a.bytes == b.bytes }

  func hash(into hasher: inout Hasher) {
    bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
  }
}
