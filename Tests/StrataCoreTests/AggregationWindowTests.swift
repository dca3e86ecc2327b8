import StrataTestSupport
import Testing

@testable import StrataCore

private let second: Int64 = 1_000_000
private let minute = 60 * second
private let hour = 60 * minute
private let day = 24 * hour

@Suite("AggregationWindow, AggregationTiling and AggregateSpec: ranges and the tile rule")
struct AggregationWindowTests {
  @Test("windows from 1 minute to 90 days are accepted; anything else is INVALID_ARGUMENT naming the range")
  func windowRange() throws {
    #expect(try AggregationWindow(microseconds: minute).microseconds == minute)
    #expect(try AggregationWindow(microseconds: 90 * day).microseconds == 90 * day)
    #expect(try AggregationWindow(seconds: 3_600).description == "1h")
    #expect(try AggregationWindow(microseconds: minute + 1).description == "60000001us")
    for bad in [minute - 1, 0, -minute, 90 * day + 1, .max] {
      expectStrataError(.invalidArgument, mentioning: ["1 minute to 90 days"]) { () throws(StrataError) in
        try AggregationWindow(microseconds: bad)
      }
    }
    expectStrataError(.invalidArgument, mentioning: ["out of range"]) { () throws(StrataError) in
      try AggregationWindow(seconds: .max)
    }
  }

  @Test(
    "the tile width is the smallest ladder width with window <= 360 widths",
    arguments: [
      (minute, second), (6 * minute, second), (6 * minute + 1, 10 * second), (5 * minute, second),
      (hour, 10 * second), (hour + 1, minute), (6 * hour, minute), (60 * hour, 10 * minute),
      (15 * day, hour), (15 * day + 1, 6 * hour), (30 * day, 6 * hour), (90 * day, 6 * hour),
    ])
  func tileWidthRule(window: Int64, width: Int64) throws {
    #expect(try AggregationWindow(microseconds: window).tileWidth == width)
  }

  @Test("every window spans at most 360 and (past the finest width) more than 36 tiles of its width")
  func tileCounts() throws {
    var rng = SplitMix64.forTest("AggregationWindow.tileCounts")
    var lengths: [Int64] = [minute, 90 * day]
    for w in AggregationTiling.ladder { lengths += [360 * w - 1, 360 * w, 360 * w + 1] }
    for _ in 0..<2_000 { lengths.append(Int64.random(in: minute...(90 * day), using: &rng)) }
    for length in lengths where length >= minute && length <= 90 * day {
      let window = try AggregationWindow(microseconds: length)
      let tiles = (length + window.tileWidth - 1) / window.tileWidth
      #expect(tiles <= 360, "\(window): \(tiles) tiles of \(window.tileWidth); \(rng.seedDescription)")
      if window.tileWidth > second {
        #expect(tiles > 36, "\(window): only \(tiles) tiles of \(window.tileWidth); \(rng.seedDescription)")
      }
    }
  }

  @Test("the tiling for a set of windows is the ladder up to their coarsest width, coarsest first")
  func tilingForWindows() throws {
    let five = try AggregationWindow(seconds: 300)
    let month = try AggregationWindow(seconds: 30 * 86_400)
    #expect(AggregationTiling(windows: [five]).widths == [second])
    #expect(AggregationTiling(windows: [five, try AggregationWindow(seconds: 3_600)]).widths == [10 * second, second])
    #expect(AggregationTiling(windows: [month, five]).widths == [6 * hour, hour, 10 * minute, minute, 10 * second, second])
    #expect(AggregationTiling(windows: []).widths == [])
    #expect(try AggregationTiling(widths: [hour, minute, second]).widths == [hour, minute, second])
    expectStrataError(.invalidArgument, mentioning: ["multiple"]) { () throws(StrataError) in
      try AggregationTiling(widths: [hour, 7 * second])
    }
    expectStrataError(.invalidArgument, mentioning: ["coarsest first"]) { () throws(StrataError) in
      try AggregationTiling(widths: [second, minute])
    }
    expectStrataError(.invalidArgument, mentioning: ["positive"]) { () throws(StrataError) in
      try AggregationTiling(widths: [0])
    }
  }

  @Test("sum and avg need a number; count, min, max and last take any field; result types")
  func specValidation() throws {
    let hourWindow = try AggregationWindow(seconds: 3_600)
    for f in [AggregateFunction.sum, .avg] {
      expectStrataError(.invalidArgument, mentioning: ["\(f)", "STRING"]) { () throws(StrataError) in
        try AggregateSpec(function: f, fieldType: .string, window: hourWindow)
      }
    }
    #expect(try AggregateSpec(function: .count, fieldType: .string, window: hourWindow).resultType == .int)
    #expect(try AggregateSpec(function: .avg, fieldType: .int, window: hourWindow).resultType == .float)
    #expect(try AggregateSpec(function: .sum, fieldType: .int, window: hourWindow).resultType == .int)
    #expect(try AggregateSpec(function: .max, fieldType: .string, window: hourWindow).resultType == .string)
    #expect(AggregateFunction(name: "AVG") == .avg)
    #expect(AggregateFunction(name: "median") == nil)
    #expect(AggregateFieldType(.embedding(dimension: 4)) == nil)
    #expect(AggregateFieldType(.int) == .int)
  }
}
