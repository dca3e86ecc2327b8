public import StrataCore
internal import Synchronization

/// Who wrote each group version through this node: per (group version, writer), the batches and rows
/// clients wrote and this node acknowledged, when the first and the latest were acknowledged, and the
/// event-time range of their rows. Persisted in the catalog keyspace (`wlog/<storage id><writer>`),
/// so it survives restarts.
///
/// Bounded: at most `maxWritersPerVersion` writers per group version; a new writer beyond that
/// replaces the one written least recently. A record is written after its batch is stored (a separate
/// engine write): a batch acknowledged just before a crash may be missing from it, never counted twice.
/// Only client writes are recorded, by the node that accepted them (a cluster coordinator records the
/// whole batch; the replicas' copies are not recorded).
public final class WriteLog: Sendable {
  /// One writer's writes to one group version.
  public struct Record: Sendable, Equatable {
    public var writer: WriterIdentity
    public var batches: UInt64
    public var rows: UInt64
    public var firstWrite: Timestamp
    public var lastWrite: Timestamp
    /// nil when no row was written (a batch of no rows).
    public var events: ClosedRange<Timestamp>?
  }

  public static let maxWritersPerVersion = 256
  static let prefix = Array("wlog/".utf8)

  private let engine: any StorageEngine
  private let state: Mutex<[UInt32: [WriterIdentity: Record]]>

  init(engine: any StorageEngine) throws {
    self.engine = engine
    var loaded: [UInt32: [WriterIdentity: Record]] = [:]
    let cursor = try engine.makeCursor(in: .catalog)
    cursor.seek(Self.prefix)
    while cursor.isValid, cursor.key.starts(with: Self.prefix) {
      guard let (sid, record) = try? Self.decode(key: cursor.key, value: cursor.value) else {
        throw StrataError.internalError("corrupt write log entry in the catalog")
      }
      loaded[sid, default: [:]][record.writer] = record
      cursor.next()
    }
    try cursor.checkStatus()
    state = Mutex(loaded)
  }

  /// The writers of group version `storageID`, the most recently written first (then by name).
  public func records(storageID: UInt32) -> [Record] {
    let all = state.withLock { Array(($0[storageID] ?? [:]).values) }
    return all.sorted {
      ($0.lastWrite, $1.writer.pipeline, $1.writer.runID) > ($1.lastWrite, $0.writer.pipeline, $0.writer.runID)
    }
  }

  /// Adds one acknowledged batch of `rows` rows with event times `events` by `writer` at `now`, and
  /// stores the record. Callers serialize calls (the store's writer).
  func record(storageID sid: UInt32, writer: WriterIdentity, rows: Int, events: ClosedRange<Timestamp>?, at now: Timestamp) throws {
    // Only what this batch needs, read under the lock (no copy of the version's whole log per batch).
    let (existing, leastRecent) = state.withLock { all -> (Record?, WriterIdentity?) in
      let log = all[sid]
      if let found = log?[writer] { return (found, nil) }
      guard let log, log.count >= Self.maxWritersPerVersion else { return (nil, nil) }
      let oldest = log.values.min { ($0.lastWrite, $0.writer.pipeline, $0.writer.runID) < ($1.lastWrite, $1.writer.pipeline, $1.writer.runID) }
      return (nil, oldest?.writer)
    }
    var record = existing ?? Record(writer: writer, batches: 0, rows: 0, firstWrite: now, lastWrite: now, events: nil)
    record.batches += 1
    record.rows += UInt64(rows)
    record.lastWrite = max(record.lastWrite, now)
    if let events {
      record.events = record.events.map { min($0.lowerBound, events.lowerBound)...max($0.upperBound, events.upperBound) } ?? events
    }
    var batch = WriteBatch()
    let evicted = leastRecent
    if let evicted { batch.delete(Self.key(sid, evicted), in: .catalog) }
    batch.put(Self.key(sid, writer), Self.encode(record), in: .catalog)
    try engine.write(batch)
    state.withLock {
      if let evicted { $0[sid]?[evicted] = nil }
      $0[sid, default: [:]][writer] = record
    }
  }

  /// `wlog/`, storage id (u32 BE), pipeline length (u16 BE), pipeline, run id.
  static func key(_ sid: UInt32, _ writer: WriterIdentity) -> [UInt8] {
    var w = ByteWriter(capacity: prefix.count + 6 + writer.pipeline.utf8.count + writer.runID.utf8.count)
    w.append(contentsOf: prefix)
    w.u32BE(sid)
    w.u16BE(UInt16(writer.pipeline.utf8.count))
    w.append(contentsOf: writer.pipeline.utf8)
    w.append(contentsOf: writer.runID.utf8)
    return w.bytes
  }

  /// batches u64, rows u64, first and last write i64, then u8 1 and the event range (2 x i64) or u8 0.
  static func encode(_ r: Record) -> [UInt8] {
    var w = ByteWriter(capacity: 49)
    w.u64BE(r.batches)
    w.u64BE(r.rows)
    w.i64Ordered(r.firstWrite.microseconds)
    w.i64Ordered(r.lastWrite.microseconds)
    if let e = r.events {
      w.u8(1)
      w.i64Ordered(e.lowerBound.microseconds)
      w.i64Ordered(e.upperBound.microseconds)
    } else {
      w.u8(0)
    }
    return w.bytes
  }

  static func decode(key: [UInt8], value: [UInt8]) throws -> (UInt32, Record) {
    var k = ByteReader(key, offset: prefix.count)
    let sid = try k.u32BE()
    let length = Int(try k.u16BE())
    let pipeline = String(decoding: try k.bytes(length), as: UTF8.self)
    let runID = String(decoding: key[(prefix.count + 6 + length)...], as: UTF8.self)
    var v = ByteReader(value)
    let batches = try v.u64BE()
    let rows = try v.u64BE()
    let first = Timestamp(microseconds: try v.i64Ordered())
    let last = Timestamp(microseconds: try v.i64Ordered())
    var events: ClosedRange<Timestamp>?
    if try v.u8() == 1 {
      let low = Timestamp(microseconds: try v.i64Ordered())
      let high = Timestamp(microseconds: try v.i64Ordered())
      guard low <= high else { throw StrataError.internalError("write log event range reversed") }
      events = low...high
    }
    return (sid, Record(writer: WriterIdentity(pipeline: pipeline, runID: runID), batches: batches, rows: rows, firstWrite: first, lastWrite: last, events: events))
  }
}
