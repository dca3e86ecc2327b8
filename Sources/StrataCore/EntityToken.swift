/// The ring token of an entity: a fixed 64-bit hash of its id's UTF-8 bytes.
///
/// The function is FNV-1a (64-bit) followed by the MurmurHash3 `fmix64` finalizer, which spreads FNV's
/// weak high bits. It is part of the storage format and of placement: it must never change (golden
/// vectors in `EntityTokenTests` pin it). Never use `Hasher`/`hashValue` for this: they are seeded per
/// process.
public enum EntityToken {
  @inlinable
  public static func of(_ entityID: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in entityID.utf8 {
      hash ^= UInt64(byte)
      hash = hash &* 0x0000_0100_0000_01b3
    }
    hash ^= hash >> 33
    hash = hash &* 0xff51_afd7_ed55_8ccd
    hash ^= hash >> 33
    hash = hash &* 0xc4ce_b9fe_1a85_ec53
    hash ^= hash >> 33
    return hash
  }
}
