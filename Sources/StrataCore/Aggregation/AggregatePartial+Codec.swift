/// The stored form of a partial aggregate (one tile), stable across versions of Strata.
///
/// Layout, version 1, every integer little-endian:
///
/// ```
/// u8   version (1)
/// u8   field type: 1 FLOAT, 2 INT, 3 STRING
/// u64  eventCount
/// u64  valueCount                                  (<= eventCount)
/// if eventCount > 0:  i64 minCreatedTime, i64 maxCreatedTime   (microseconds, min <= max)
/// if FLOAT or INT:    u16 sum base, u16 limb count n, n x u64 limbs   (ExactSum's canonical form;
///                                                                       n = 0 when the sum is zero)
/// if valueCount > 0:  value minimum, value maximum,
///                     i64 latest eventTime, i64 latest createdTime, u64 latest sequence, value latest
/// value: FLOAT u64 IEEE bit pattern (finite) | INT i64 | STRING u32 byte count + UTF-8 bytes
/// ```
///
/// The encoding is canonical: equal partials (equal event sets) have equal bytes, so replicas that
/// hold the same events hold byte-identical tiles. Decoding rejects anything `encoded()` cannot
/// produce (unknown version or type, truncation, trailing bytes, non-canonical sums, inconsistent
/// counts, min above max, invalid UTF-8, non-finite floats).
extension AggregatePartial {
  public static let encodingVersion: UInt8 = 1

  /// The version-1 bytes of this partial.
  public func encoded() -> [UInt8] {
    var w = LittleEndianWriter(capacity: 64)
    w.u8(Self.encodingVersion)
    w.u8(fieldType.rawValue)
    w.u64(UInt64(eventCount))
    w.u64(UInt64(valueCount))
    if let minCreatedTime, let maxCreatedTime {
      w.i64(minCreatedTime.microseconds)
      w.i64(maxCreatedTime.microseconds)
    }
    if fieldType != .string {
      w.u16(UInt16(sum.base))
      w.u16(UInt16(sum.limbs.count))
      for limb in sum.limbs { w.u64(limb) }
    }
    if let minimum, let maximum, let latest, let latestValue = latest.value {
      Self.write(minimum, to: &w)
      Self.write(maximum, to: &w)
      w.i64(latest.eventTime.microseconds)
      w.i64(latest.createdTime.microseconds)
      w.u64(latest.sequence)
      Self.write(latestValue, to: &w)
    }
    return w.bytes
  }

  /// Decodes `encoded()` bytes; throws INTERNAL (the stored tile is corrupt) on anything else.
  public init(encoded bytes: [UInt8]) throws(StrataError) {
    var r = LittleEndianReader(bytes)
    do {
      let version = try r.u8()
      guard version == Self.encodingVersion else {
        throw Self.corrupt("version \(version) is unknown (this build reads version \(Self.encodingVersion))")
      }
      let typeByte = try r.u8()
      guard let fieldType = AggregateFieldType(rawValue: typeByte) else { throw Self.corrupt("field type \(typeByte) is unknown") }
      let eventCount = try r.u64()
      let valueCount = try r.u64()
      guard eventCount <= UInt64(Int64.max), valueCount <= eventCount else {
        throw Self.corrupt("counts \(valueCount) values of \(eventCount) events are inconsistent")
      }
      var minCreated: Timestamp?
      var maxCreated: Timestamp?
      if eventCount > 0 {
        let lo = Timestamp(microseconds: try r.i64())
        let hi = Timestamp(microseconds: try r.i64())
        guard lo <= hi else { throw Self.corrupt("created times \(lo.microseconds) > \(hi.microseconds)") }
        (minCreated, maxCreated) = (lo, hi)
      }
      var sum = ExactSum()
      if fieldType != .string {
        let base = Int(try r.u16())
        let count = Int(try r.u16())
        var limbs: [UInt64] = []
        limbs.reserveCapacity(count)
        for _ in 0..<count { limbs.append(try r.u64()) }
        guard let decoded = ExactSum(base: base, limbs: limbs) else { throw Self.corrupt("the sum is not in canonical form") }
        guard valueCount > 0 || decoded.isZero else { throw Self.corrupt("a nonzero sum without values") }
        sum = decoded
      }
      var minimum: FeatureValue?
      var maximum: FeatureValue?
      var latest: AggregationEvent?
      if valueCount > 0 {
        let lo = try Self.readValue(fieldType, from: &r)
        let hi = try Self.readValue(fieldType, from: &r)
        guard !Self.precedes(hi, lo) else { throw Self.corrupt("minimum above maximum") }
        let eventTime = Timestamp(microseconds: try r.i64())
        let createdTime = Timestamp(microseconds: try r.i64())
        let sequence = try r.u64()
        let value = try Self.readValue(fieldType, from: &r)
        (minimum, maximum) = (lo, hi)
        latest = AggregationEvent(eventTime: eventTime, createdTime: createdTime, sequence: sequence, value: value)
      }
      guard r.isAtEnd else { throw Self.corrupt("\(bytes.count - r.offset) trailing bytes") }
      self.init(
        fieldType: fieldType, eventCount: Int64(eventCount), valueCount: Int64(valueCount), sum: sum, minimum: minimum,
        maximum: maximum, latest: latest, minCreatedTime: minCreated, maxCreatedTime: maxCreated)
    } catch is LittleEndianReader.Truncated {
      throw Self.corrupt("truncated at byte \(r.offset) of \(bytes.count)")
    } catch let error as StrataError {
      throw error
    } catch {
      throw Self.corrupt("\(error)")
    }
  }

  private static func write(_ value: FeatureValue, to w: inout LittleEndianWriter) {
    switch value {
    case .float(let x): w.u64(x.bitPattern)
    case .int(let x): w.i64(x)
    case .string(let s):
      w.u32(UInt32(s.utf8.count))
      w.append(contentsOf: s.utf8)
    case .embedding: preconditionFailure("embeddings are never aggregated")
    }
  }

  private static func readValue(_ type: AggregateFieldType, from r: inout LittleEndianReader) throws -> FeatureValue {
    switch type {
    case .float:
      let x = Double(bitPattern: try r.u64())
      guard x.isFinite else { throw corrupt("a non-finite float") }
      return .float(x)
    case .int:
      return .int(try r.i64())
    case .string:
      let count = Int(try r.u32())
      let utf8 = try r.bytes(count)
      guard let s = String(validating: utf8, as: UTF8.self) else { throw corrupt("a string that is not UTF-8") }
      return .string(s)
    }
  }

  private static func corrupt(_ detail: String) -> StrataError {
    .internalError("stored aggregate tile is corrupt: \(detail); rebuild the stream's tiles from its events")
  }
}
