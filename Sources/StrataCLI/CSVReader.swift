public import StrataCore

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#elseif canImport(Darwin)
internal import Darwin
#endif

/// A streaming RFC 4180 CSV reader.
///
/// The file is read in chunks (1 MiB by default), so memory use does not grow with the file size. The first
/// record is the header; every following record must have as many fields as the header.
///
/// Accepted syntax:
/// - fields separated by `,`, records terminated by LF, CRLF or a lone CR; the last record may lack a terminator;
/// - quoted fields (`"..."`) may contain commas, line breaks (kept as written) and doubled quotes (`""` = `"`);
/// - a quote inside an unquoted field is taken literally (`5" screen`);
/// - a UTF-8 byte order mark at the start of the file is skipped;
/// - empty lines (including a trailing one) are skipped; write `""` for a record made of one empty field.
///
/// Errors are `StrataError.invalidArgument` with the file and the line where the record started, e.g.
/// `data.csv line 7: expected 3 fields (header) but found 2`. A record with the wrong number of fields is
/// consumed before the error is thrown, so a caller may skip it and keep reading; after any other error
/// (unterminated quote, text after a closing quote, invalid UTF-8, I/O error) every call rethrows it.
public final class CSVReader {
  public static let defaultChunkSize = 1 << 20

  /// The path the reader was opened with (used in error messages).
  public let path: String
  /// The column names (the first record).
  public let header: [String]
  /// The size of the file in bytes (0 if it is not a regular file).
  public let totalBytes: Int

  /// The 1-based line where the record last returned (or the record that failed) started.
  public var lineNumber: Int { scanner.recordLine }
  /// Bytes of the file consumed so far (for progress reporting against `totalBytes`).
  public var bytesRead: Int { scanner.bytesRead }

  private let scanner: CSVScanner

  /// Opens `path` and reads the header. Throws `.notFound` if the file does not exist and `.invalidArgument`
  /// if it cannot be read or has no header line. `chunkSize` is the read size in bytes (at least 4).
  public init(path: String, chunkSize: Int = CSVReader.defaultChunkSize) throws(StrataError) {
    let scanner = try CSVScanner(path: path, chunkSize: chunkSize)
    guard let header = try scanner.next(expectedFields: nil) else {
      throw .invalidArgument("\(path): the file is empty; expected a header line with the column names")
    }
    self.path = path
    self.header = header
    self.totalBytes = scanner.totalBytes
    self.scanner = scanner
  }

  /// The next record, or `nil` at the end of the file.
  public func nextRecord() throws(StrataError) -> [String]? {
    try scanner.next(expectedFields: header.count)
  }

  /// `field` as a CSV field: quoted (with inner quotes doubled) when it contains a comma, a quote, CR or LF,
  /// unchanged otherwise.
  public static func escape(_ field: String) -> String {
    guard field.utf8.contains(where: { $0 == comma || $0 == quote || $0 == cr || $0 == lf }) else { return field }
    var bytes: [UInt8] = [quote]
    bytes.reserveCapacity(field.utf8.count + 8)
    for b in field.utf8 {
      bytes.append(b)
      if b == quote { bytes.append(quote) }
    }
    bytes.append(quote)
    return String(decoding: bytes, as: UTF8.self)
  }

  /// One CSV record (without a line terminator): the escaped fields joined by commas. A record made of a
  /// single empty field is written `""` so that it is not read back as an (ignored) empty line.
  public static func formatRecord(_ fields: [String]) -> String {
    if fields.count == 1, fields[0].isEmpty { return "\"\"" }
    return fields.lazy.map(escape).joined(separator: ",")
  }
}

private let comma = UInt8(ascii: ",")
private let quote = UInt8(ascii: "\"")
private let cr = UInt8(ascii: "\r")
private let lf = UInt8(ascii: "\n")

/// The byte-level state machine behind `CSVReader`: owns the file descriptor and the chunk buffer.
private final class CSVScanner {
  let path: String
  let totalBytes: Int
  private let fd: Int32
  private let buffer: UnsafeMutablePointer<UInt8>
  private let capacity: Int
  /// Valid bytes in `buffer`.
  private var count = 0
  /// Next unread byte in `buffer`.
  private var pos = 0
  /// File offset of `buffer[0]`.
  private var chunkOffset = 0
  private var atEOF = false
  /// The line of the byte at `pos` (1-based).
  private var line = 1
  /// The last byte consumed was a CR: a following LF belongs to the same line break.
  private var pendingCR = false
  private(set) var recordLine = 0
  private var failure: StrataError?

  var bytesRead: Int { chunkOffset + pos }

  init(path: String, chunkSize: Int) throws(StrataError) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
      let code = errno
      if code == ENOENT { throw StrataError(.notFound, "CSV file '\(path)' does not exist") }
      throw .invalidArgument("cannot open CSV file '\(path)': \(errorText(code))")
    }
    var info = stat()
    guard fstat(fd, &info) == 0 else {
      let code = errno
      close(fd)
      throw .invalidArgument("cannot open CSV file '\(path)': \(errorText(code))")
    }
    if (info.st_mode & S_IFMT) == S_IFDIR {
      close(fd)
      throw .invalidArgument("'\(path)' is a directory; pass the path of a CSV file")
    }
    self.path = path
    self.fd = fd
    self.totalBytes = (info.st_mode & S_IFMT) == S_IFREG ? Int(info.st_size) : 0
    self.capacity = max(chunkSize, 4)
    self.buffer = .allocate(capacity: capacity)

    // Skip a UTF-8 byte order mark; with tiny chunks (or a pipe) the first read may return fewer bytes.
    while count < 3, !atEOF {
      let n = try readSome(into: buffer + count, max: capacity - count)
      if n == 0 { atEOF = true } else { count += n }
    }
    if count >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF { pos = 3 }
  }

  deinit {
    close(fd)
    buffer.deallocate()
  }

  private enum State {
    /// At the first byte of a field.
    case fieldStart
    /// Inside an unquoted field.
    case unquoted
    /// Inside a quoted field.
    case quoted
    /// Just after a quote inside a quoted field: either the closing quote or the first of a doubled quote.
    case afterQuote
  }

  /// The next record, or `nil` at the end of the file. If `expectedFields` is given, a record with another
  /// number of fields is consumed and reported as an error.
  func next(expectedFields: Int?) throws(StrataError) -> [String]? {
    if let failure { throw failure }
    var record: [String] = []
    record.reserveCapacity(expectedFields ?? 16)
    /// Bytes of the current field carried over from earlier chunks (or containing doubled quotes).
    var field: [UInt8] = []
    var state = State.fieldStart
    var started = false
    var quoteLine = 0

    while true {
      if pos == count {
        guard try refill() else {
          switch state {
          case .quoted:
            throw fail("\(path) line \(recordLine): unterminated quoted field: the quote opened on line \(quoteLine) is never closed")
          case .fieldStart:
            guard started else { return nil }
            record.append("")
          case .unquoted, .afterQuote:
            record.append(try string(field, fieldNumber: record.count + 1))
          }
          return try finish(record, expectedFields: expectedFields)
        }
      }
      let p = buffer
      let end = count
      var i = pos
      while i < end {
        let b = p[i]
        if pendingCR {
          pendingCR = false
          if b == lf {
            if state == .quoted { field.append(lf) }
            i += 1
            continue
          }
        }
        switch state {
        case .fieldStart:
          if b == cr || b == lf {
            line += 1
            pendingCR = b == cr
            i += 1
            guard started else { continue }  // an empty line
            record.append("")
            pos = i
            return try finish(record, expectedFields: expectedFields)
          }
          if !started {
            started = true
            recordLine = line
          }
          if b == comma {
            record.append("")
            i += 1
          } else if b == quote {
            state = .quoted
            quoteLine = line
            i += 1
          } else {
            // Scan the unquoted field; when it ends inside this chunk, make the string straight from the buffer.
            var j = i + 1
            while j < end, p[j] != comma, p[j] != cr, p[j] != lf { j += 1 }
            if j < end {
              pos = j
              record.append(try string(UnsafeBufferPointer(start: p + i, count: j - i), fieldNumber: record.count + 1))
              i = j + 1
              if p[j] != comma {
                line += 1
                pendingCR = p[j] == cr
                pos = i
                return try finish(record, expectedFields: expectedFields)
              }
            } else {
              field.append(contentsOf: UnsafeBufferPointer(start: p + i, count: j - i))
              state = .unquoted
              i = j
            }
          }
        case .unquoted:
          // Only reached when a field continues from the previous chunk (its start is in `field`).
          var j = i
          while j < end, p[j] != comma, p[j] != cr, p[j] != lf { j += 1 }
          field.append(contentsOf: UnsafeBufferPointer(start: p + i, count: j - i))
          i = j
          if j < end {
            pos = j
            record.append(try string(field, fieldNumber: record.count + 1))
            field.removeAll(keepingCapacity: true)
            state = .fieldStart
            if p[j] == comma {
              i += 1
            } else {
              line += 1
              pendingCR = p[j] == cr
              i += 1
              pos = i
              return try finish(record, expectedFields: expectedFields)
            }
          }
        case .quoted:
          var j = i
          while j < end, p[j] != quote, p[j] != cr, p[j] != lf { j += 1 }
          field.append(contentsOf: UnsafeBufferPointer(start: p + i, count: j - i))
          i = j
          if j < end {
            let c = p[j]
            i += 1
            if c == quote {
              state = .afterQuote
            } else {
              field.append(c)
              line += 1
              pendingCR = c == cr
            }
          }
        case .afterQuote:
          if b == quote {
            field.append(quote)
            state = .quoted
            i += 1
          } else if b == comma || b == cr || b == lf {
            pos = i
            record.append(try string(field, fieldNumber: record.count + 1))
            field.removeAll(keepingCapacity: true)
            state = .fieldStart
            i += 1
            if b != comma {
              line += 1
              pendingCR = b == cr
              pos = i
              return try finish(record, expectedFields: expectedFields)
            }
          } else {
            pos = i
            throw fail(
              "\(path) line \(line): unexpected \(describe(b)) after the closing quote of field \(record.count + 1); a quote inside a quoted field must be doubled (\"\")"
            )
          }
        }
      }
      pos = i
    }
  }

  private func finish(_ record: [String], expectedFields: Int?) throws(StrataError) -> [String] {
    if let expectedFields, record.count != expectedFields {
      throw .invalidArgument("\(path) line \(recordLine): expected \(expectedFields) fields (header) but found \(record.count)")
    }
    return record
  }

  private func string(_ bytes: UnsafeBufferPointer<UInt8>, fieldNumber: Int) throws(StrataError) -> String {
    guard let s = String(validating: bytes, as: UTF8.self) else {
      throw fail("\(path) line \(recordLine): field \(fieldNumber) is not valid UTF-8")
    }
    return s
  }

  private func string(_ bytes: [UInt8], fieldNumber: Int) throws(StrataError) -> String {
    guard let s = String(validating: bytes, as: UTF8.self) else {
      throw fail("\(path) line \(recordLine): field \(fieldNumber) is not valid UTF-8")
    }
    return s
  }

  /// Records a fatal error: every later call rethrows it.
  private func fail(_ message: String) -> StrataError {
    let error = StrataError.invalidArgument(message)
    failure = error
    return error
  }

  /// Replaces the buffer with the next chunk. Returns `false` at the end of the file.
  private func refill() throws(StrataError) -> Bool {
    guard !atEOF else { return false }
    chunkOffset += count
    pos = 0
    count = 0
    let n = try readSome(into: buffer, max: capacity)
    if n == 0 {
      atEOF = true
      return false
    }
    count = n
    return true
  }

  private func readSome(into destination: UnsafeMutablePointer<UInt8>, max: Int) throws(StrataError) -> Int {
    while true {
      let n = read(fd, destination, max)
      if n >= 0 { return n }
      let code = errno
      if code == EINTR { continue }
      throw fail("cannot read CSV file '\(path)': \(errorText(code))")
    }
  }

  private func describe(_ byte: UInt8) -> String {
    (32..<127).contains(byte) ? "character '\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
  }
}

private func errorText(_ code: Int32) -> String {
  String(cString: strerror(code))
}
