import Testing

@testable import StrataCLI

/// A clock the test moves by hand and a sink that records what the bar writes.
private final class Harness {
  var time = 100.0
  var written: [String] = []

  func bar(total: Int, isTerminal: Bool = true) -> ProgressBar {
    ProgressBar(
      total: total, label: "ingest", isTerminal: isTerminal,
      now: { [unowned self] in self.time },
      output: { [unowned self] in self.written.append($0) }
    )
  }
}

@Suite("ProgressBar: rendering and throttling")
struct ProgressBarTests {

  // MARK: Rendering

  @Test("a line shows the label, bar, percentage, rows, rate and ETA")
  func renderLine() {
    let line = ProgressBar.render(fraction: 0.45, rows: 1_200_000, elapsed: 3.87, label: "ingest", width: 20)
    // 9 of 20 cells; 1.2M / 3.87 s = 310k rows/s; eta = 3.87 * 0.55 / 0.45 = 4.73 s, rounded up.
    #expect(line == "ingest  [#########...........]   45%  1.2M rows  310k rows/s  eta 5s")
  }

  @Test("before any progress the rate and ETA are unknown")
  func renderStart() {
    #expect(ProgressBar.render(fraction: 0, rows: 0, elapsed: 0, label: "load", width: 4) == "load  [....]    0%  0 rows  -- rows/s  eta --")
  }

  @Test("the fraction is clamped to 0...1")
  func renderClamped() {
    #expect(ProgressBar.render(fraction: 1.7, rows: 10, elapsed: 2, label: "x", width: 4) == "x  [####]  100%  10 rows  5 rows/s  eta 0s")
    #expect(ProgressBar.render(fraction: -1, rows: 10, elapsed: 2, label: "x", width: 4) == "x  [....]    0%  10 rows  5 rows/s  eta --")
    #expect(ProgressBar.render(fraction: .nan, rows: 10, elapsed: 2, label: "x", width: 4).hasPrefix("x  [....]    0%"))
  }

  @Test(
    "counts are compact with at most three significant digits",
    arguments: [
      (0.0, "0"), (999, "999"), (999.6, "1.0k"), (1_000, "1.0k"), (1_234, "1.2k"), (9_999, "10k"), (310_077, "310k"),
      (999_999, "1.0M"), (1_200_000, "1.2M"), (45_000_000, "45M"), (3_100_000_000, "3.1G"),
    ]
  )
  func compact(value: Double, text: String) {
    #expect(ProgressBar.compact(value) == text)
  }

  @Test("durations are seconds, minutes or hours", arguments: [(0.0, "0s"), (4, "4s"), (4.2, "5s"), (65, "1m05s"), (7_380, "2h03m")])
  func duration(seconds: Double, text: String) {
    #expect(ProgressBar.duration(seconds) == text)
  }

  // MARK: Drawing

  @Test("redraws at most every 0.1 s of the injected clock")
  func throttling() {
    let harness = Harness()
    let bar = harness.bar(total: 1_000)
    harness.time = 100
    bar.update(done: 100, rows: 10)  // the first update draws
    harness.time = 100.05
    bar.update(done: 200, rows: 20)  // too soon
    harness.time = 100.12
    bar.update(done: 300, rows: 30)  // more than 0.1 s after the first draw
    harness.time = 100.2
    bar.update(done: 400, rows: 40)  // only 0.08 s after the second draw
    harness.time = 100.7
    bar.update(done: 500, rows: 50)
    #expect(harness.written.count == 3)
    #expect(harness.written.allSatisfy { $0.hasPrefix("\r") && $0.hasSuffix("\u{1B}[K") })
    #expect(harness.written[0].contains(" 10% "))
    #expect(harness.written[1].contains(" 30% "))
    #expect(harness.written[2].contains(" 50 rows "))
  }

  @Test("many fast updates draw about 10 times per second")
  func rate() {
    let harness = Harness()
    let bar = harness.bar(total: 10_000)
    for i in 0..<10_000 {  // 10,000 updates over 2 seconds
      harness.time += 0.0002
      bar.update(done: i, rows: i)
    }
    #expect((19...21).contains(harness.written.count))
  }

  @Test("the drawn line is the rendered line with the elapsed time since creation")
  func drawnContent() {
    let harness = Harness()
    let bar = harness.bar(total: 200)
    harness.time += 2
    bar.update(done: 50, rows: 1_000)
    let expected = ProgressBar.render(fraction: 0.25, rows: 1_000, elapsed: 2, label: "ingest", width: ProgressBar.barWidth)
    #expect(harness.written == ["\r" + expected + "\u{1B}[K"])
  }

  @Test("finish clears the drawn line once and stops later updates")
  func finish() {
    let harness = Harness()
    let bar = harness.bar(total: 10)
    bar.update(done: 5, rows: 5)
    bar.finish()
    bar.finish()
    harness.time += 1
    bar.update(done: 10, rows: 10)
    #expect(harness.written.count == 2)
    #expect(harness.written.last == "\r\u{1B}[K")
  }

  @Test("finish writes nothing when nothing was drawn")
  func finishWithoutDraw() {
    let harness = Harness()
    harness.bar(total: 10).finish()
    #expect(harness.written.isEmpty)
  }

  @Test("when stderr is not a terminal nothing is written")
  func notTerminal() {
    let harness = Harness()
    let bar = harness.bar(total: 10, isTerminal: false)
    for i in 0...10 {
      harness.time += 1
      bar.update(done: i, rows: i)
    }
    bar.finish()
    #expect(harness.written.isEmpty)
  }
}
