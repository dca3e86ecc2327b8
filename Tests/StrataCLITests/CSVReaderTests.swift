import StrataTestSupport
import Foundation
import StrataCore
import Testing

@testable import StrataCLI

/// A CSV file in the temporary directory, removed when the value is deinitialised.
private final class TempCSV {
  let path: String

  init(_ bytes: [UInt8]) throws {
    path = temporaryPath("data.csv")
    try Data(bytes).write(to: URL(fileURLWithPath: path))
  }

  convenience init(_ text: String) throws { try self.init(Array(text.utf8)) }

  deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Every record of the file after the header.
private func readAll(_ reader: CSVReader) throws(StrataError) -> [[String]] {
  var records: [[String]] = []
  while let record = try reader.nextRecord() { records.append(record) }
  return records
}

/// The header and records of `bytes` read with the given chunk size.
private func parse(_ bytes: [UInt8], chunkSize: Int = CSVReader.defaultChunkSize) throws -> (header: [String], records: [[String]]) {
  let file = try TempCSV(bytes)
  let reader = try CSVReader(path: file.path, chunkSize: chunkSize)
  return (reader.header, try readAll(reader))
}

private func parse(_ text: String, chunkSize: Int = CSVReader.defaultChunkSize) throws -> (header: [String], records: [[String]]) {
  try parse(Array(text.utf8), chunkSize: chunkSize)
}

/// The error reading all of `text` throws (nil if none).
private func readError(_ text: String, chunkSize: Int = CSVReader.defaultChunkSize) throws -> (path: String, error: StrataError)? {
  let file = try TempCSV(text)
  do {
    let reader = try CSVReader(path: file.path, chunkSize: chunkSize)
    _ = try readAll(reader)
    return nil
  } catch {
    return (file.path, error)
  }
}

@Suite("CSVReader: streaming RFC 4180 CSV")
struct CSVReaderTests {

  // MARK: Syntax

  @Test("a plain LF file: header, records and line numbers")
  func plain() throws {
    let file = try TempCSV("id,name,score\n1,ann,0.5\n2,bob,1.5\n")
    let reader = try CSVReader(path: file.path)
    #expect(reader.header == ["id", "name", "score"])
    #expect(reader.lineNumber == 1)
    #expect(try reader.nextRecord() == ["1", "ann", "0.5"])
    #expect(reader.lineNumber == 2)
    #expect(try reader.nextRecord() == ["2", "bob", "1.5"])
    #expect(reader.lineNumber == 3)
    #expect(try reader.nextRecord() == nil)
    #expect(try reader.nextRecord() == nil)
  }

  @Test("CRLF line endings, with and without a final line break")
  func crlf() throws {
    #expect(try parse("a,b\r\n1,2\r\n3,4\r\n").records == [["1", "2"], ["3", "4"]])
    #expect(try parse("a,b\r\n1,2\r\n3,4").records == [["1", "2"], ["3", "4"]])
    #expect(try parse("a,b\r\n1,2\r\n3,4").header == ["a", "b"])
  }

  @Test("lone CR line endings")
  func loneCR() throws {
    let result = try parse("a,b\r1,2\r3,4\r")
    #expect(result.header == ["a", "b"])
    #expect(result.records == [["1", "2"], ["3", "4"]])
  }

  @Test("quoted fields keep commas, doubled quotes and line breaks")
  func quoted() throws {
    let text = "id,text\n1,\"a, b\"\n2,\"say \"\"hi\"\"\"\n3,\"line1\nline2\"\n4,\"crlf\r\ninside\"\n5,\"\"\n6,\"\"\"\"\n"
    let result = try parse(text)
    #expect(
      result.records == [
        ["1", "a, b"], ["2", "say \"hi\""], ["3", "line1\nline2"], ["4", "crlf\r\ninside"], ["5", ""], ["6", "\""],
      ]
    )
  }

  @Test("line numbers count the line breaks inside quoted fields")
  func lineNumbersWithEmbeddedNewlines() throws {
    let file = try TempCSV("a,b\r\n1,\"x\r\ny\nz\"\r\n2,3\r\n\r\n4,5\n")
    let reader = try CSVReader(path: file.path)
    #expect(try reader.nextRecord() == ["1", "x\r\ny\nz"])
    #expect(reader.lineNumber == 2)
    #expect(try reader.nextRecord() == ["2", "3"])
    #expect(reader.lineNumber == 5)
    #expect(try reader.nextRecord() == ["4", "5"])
    #expect(reader.lineNumber == 7)
  }

  @Test("a UTF-8 byte order mark is skipped, even with the smallest chunk")
  func bom() throws {
    let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("id,v\n1,2\n".utf8)
    for chunk in [4, 5, 1 << 20] {
      let result = try parse(bytes, chunkSize: chunk)
      #expect(result.header == ["id", "v"], "chunk \(chunk)")
      #expect(result.records == [["1", "2"]], "chunk \(chunk)")
    }
    // A BOM later in the file is data, not skipped.
    #expect(try parse([0xEF, 0xBB, 0xBF] + Array("v\n\u{FEFF}x\n".utf8)).records == [["\u{FEFF}x"]])
  }

  @Test("empty lines, including trailing ones, are skipped")
  func emptyLines() throws {
    #expect(try parse("a,b\n1,2\n\n").records == [["1", "2"]])
    #expect(try parse("a,b\n\n1,2\n\r\n\n3,4").records == [["1", "2"], ["3", "4"]])
    #expect(try parse("\na,b\n1,2\n").header == ["a", "b"])
  }

  @Test("empty fields: between commas, trailing, quoted; a lone empty field is written as \"\"")
  func emptyFields() throws {
    #expect(try parse("a,b,c\n,,\n1,,\n,\"\",x").records == [["", "", ""], ["1", "", ""], ["", "", "x"]])
    #expect(try parse("v\n\"\"\nx\n").records == [[""], ["x"]])
  }

  @Test("a quote inside an unquoted field is literal")
  func bareQuote() throws {
    #expect(try parse("size,name\n5\" screen,tv\n").records == [["5\" screen", "tv"]])
  }

  @Test("non-ASCII UTF-8 text is preserved")
  func unicode() throws {
    #expect(try parse("name,emoji\nJosé,\"🙂, 👍\"\n").records == [["José", "🙂, 👍"]])
  }

  // MARK: Errors

  @Test("a record with the wrong number of fields is an error naming the file and line; reading can continue")
  func fieldCountMismatch() throws {
    let file = try TempCSV("a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n")
    let reader = try CSVReader(path: file.path)
    #expect(try reader.nextRecord() == ["1", "2", "3"])
    #expect(throws: StrataError.invalidArgument("\(file.path) line 3: expected 3 fields (header) but found 2")) {
      try reader.nextRecord()
    }
    #expect(throws: StrataError.invalidArgument("\(file.path) line 4: expected 3 fields (header) but found 4")) {
      try reader.nextRecord()
    }
    #expect(try reader.nextRecord() == ["10", "11", "12"])
  }

  @Test("the mismatch error reports the line where a multi-line record started")
  func fieldCountMismatchMultiline() throws {
    let result = try #require(try readError("a,b\n1,\"x\ny\"\n\"p\nq\"\n"))
    #expect(result.error == .invalidArgument("\(result.path) line 4: expected 2 fields (header) but found 1"))
  }

  @Test("an unterminated quote at the end of the file is an error with its line; later calls rethrow it")
  func unterminatedQuote() throws {
    let file = try TempCSV("a,b\n1,2\n3,\"open\nstill open\n")
    let reader = try CSVReader(path: file.path)
    #expect(try reader.nextRecord() == ["1", "2"])
    let expected = StrataError.invalidArgument(
      "\(file.path) line 3: unterminated quoted field: the quote opened on line 3 is never closed"
    )
    #expect(throws: expected) { try reader.nextRecord() }
    #expect(throws: expected) { try reader.nextRecord() }
  }

  @Test("text after a closing quote is an error")
  func textAfterClosingQuote() throws {
    let result = try #require(try readError("a,b\n1,\"x\"y\n"))
    #expect(result.error.code == .invalidArgument)
    #expect(result.error.message.hasPrefix("\(result.path) line 2: unexpected character 'y' after the closing quote of field 2"))
  }

  @Test("invalid UTF-8 in a field is an error")
  func invalidUTF8() throws {
    let file = try TempCSV(Array("a,b\n1,".utf8) + [0xC3, 0x28] + Array("\n".utf8))
    let reader = try CSVReader(path: file.path)
    #expect(throws: StrataError.invalidArgument("\(file.path) line 2: field 2 is not valid UTF-8")) { try reader.nextRecord() }
  }

  @Test("a missing file is NOT_FOUND")
  func missingFile() {
    let path = temporaryPath("nope.csv")
    #expect(throws: StrataError(.notFound, "CSV file '\(path)' does not exist")) { try CSVReader(path: path) }
  }

  @Test("an empty file has no header and is rejected; a directory is rejected")
  func emptyFileAndDirectory() throws {
    for content in ["", "\n\r\n", "\u{FEFF}"] {
      let file = try TempCSV(content)
      #expect(throws: StrataError.invalidArgument("\(file.path): the file is empty; expected a header line with the column names")) {
        try CSVReader(path: file.path)
      }
    }
    let directory = NSTemporaryDirectory()
    #expect(throws: StrataError.invalidArgument("'\(directory)' is a directory; pass the path of a CSV file")) {
      try CSVReader(path: directory)
    }
  }

  @Test("a header-only file has no records")
  func headerOnly() throws {
    let result = try parse("a,b")
    #expect(result.header == ["a", "b"])
    #expect(result.records.isEmpty)
  }

  // MARK: Progress

  @Test("bytesRead grows to totalBytes, the file size")
  func bytesRead() throws {
    let text = "id,v\n" + (0..<1_000).map { "\($0),value\($0)\n" }.joined()
    let file = try TempCSV(text)
    let reader = try CSVReader(path: file.path, chunkSize: 1_000)
    #expect(reader.totalBytes == text.utf8.count)
    var last = reader.bytesRead
    #expect(last == 5)
    while try reader.nextRecord() != nil {
      #expect(reader.bytesRead > last)
      last = reader.bytesRead
    }
    #expect(reader.bytesRead == reader.totalBytes)
  }

  // MARK: Chunk boundaries

  @Test("every chunk size gives the same result on a file full of edge cases")
  func everyChunkSize() throws {
    var bytes: [UInt8] = [0xEF, 0xBB, 0xBF]
    bytes += Array("id,text,note\r\n1,\"a,b\",\"x\"\"y\"\r\n2,\"multi\r\nline\",plain\n\n3,,\"\"\r4,é🙂,\"q\"\"\"\n5,\"\"\"\",end".utf8)
    let expected = try parse(bytes)
    #expect(expected.header == ["id", "text", "note"])
    #expect(
      expected.records == [
        ["1", "a,b", "x\"y"], ["2", "multi\r\nline", "plain"], ["3", "", ""], ["4", "é🙂", "q\""], ["5", "\"", "end"],
      ]
    )
    for chunk in 4...(bytes.count + 1) {
      let result = try parse(bytes, chunkSize: chunk)
      #expect(result.header == expected.header, "chunk \(chunk)")
      #expect(result.records == expected.records, "chunk \(chunk)")
    }
  }

  @Test("a file larger than the default 1 MiB chunk is read completely, with fields spanning chunks")
  func largerThanDefaultChunk() throws {
    var text = "id,payload\n"
    let count = 30_000
    for i in 0..<count {
      text += "\(i),\"row \(i), with \"\"quotes\"\" and\nnewline \(String(repeating: "x", count: i % 37))\"\n"
    }
    #expect(text.utf8.count > CSVReader.defaultChunkSize)
    let file = try TempCSV(text)
    let reader = try CSVReader(path: file.path)
    var n = 0
    while let record = try reader.nextRecord() {
      let expected = "row \(n), with \"quotes\" and\nnewline \(String(repeating: "x", count: n % 37))"
      guard record == ["\(n)", expected] else {
        Issue.record("record \(n) is \(record)")
        return
      }
      #expect(reader.lineNumber == 2 + 2 * n)
      n += 1
    }
    #expect(n == count)
  }

  @Test("random records survive a round trip through escape and the reader with tiny chunks")
  func randomRoundTrip() throws {
    var rng = SplitMix64.forTest("CSVReader random round trip")
    let seed = rng.seedDescription
    let pieces = ["a", "b", "xyz", " ", ",", "\"", "\r", "\n", "\r\n", "é", "🙂", "0", "\"\"", ",\""]

    for iteration in 0..<300 {
      let columns = Int.random(in: 1...5, using: &rng)
      func randomField() -> String {
        (0..<Int.random(in: 0...6, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
      }
      let header = (0..<columns).map { _ in randomField() }
      let records = (0..<Int.random(in: 0...12, using: &rng)).map { _ in (0..<columns).map { _ in randomField() } }
      var text = Bool.random(using: &rng) ? "\u{FEFF}" : ""
      let rows = [header] + records
      for (i, row) in rows.enumerated() {
        text += CSVReader.formatRecord(row)
        if i < rows.count - 1 || Bool.random(using: &rng) {
          text += ["\n", "\r\n", "\r"].randomElement(using: &rng)!
        }
      }
      let chunk = [4, 5, 7, 13, 64].randomElement(using: &rng)!
      let result = try parse(text, chunkSize: chunk)
      guard result.header == header, result.records == records else {
        Issue.record("\(seed) iteration \(iteration) chunk \(chunk): wrote \(rows), read \([result.header] + result.records) from \(text.debugDescription)")
        return
      }
    }
  }

  // MARK: Writing

  @Test(
    "escape quotes a field only when it must",
    arguments: [
      ("plain", "plain"), ("", ""), ("with space", "with space"), ("a,b", "\"a,b\""), ("say \"hi\"", "\"say \"\"hi\"\"\""),
      ("\"", "\"\"\"\""), ("line\nbreak", "\"line\nbreak\""), ("cr\r", "\"cr\r\""), ("é🙂", "é🙂"),
    ]
  )
  func escape(field: String, escaped: String) {
    #expect(CSVReader.escape(field) == escaped)
  }

  @Test("formatRecord joins escaped fields and writes a lone empty field as \"\"")
  func formatRecord() {
    #expect(CSVReader.formatRecord(["a", "b,c", ""]) == "a,\"b,c\",")
    #expect(CSVReader.formatRecord([""]) == "\"\"")
    #expect(CSVReader.formatRecord(["", ""]) == ",")
  }
}
