internal import Foundation

/// A one-line progress display on stderr:
///
///     ingest  [#########.........]  45%  1.2M rows  310k rows/s  eta 4s
///
/// It draws only when stderr is a terminal, redraws in place with `\r` at most every `minInterval` seconds
/// (0.1 s: about 10 times per second), and `finish()` erases the line. Not thread-safe: use it from one task.
public final class ProgressBar {
  /// The bar's width in cells between the brackets.
  public static let barWidth = 30
  public static let minInterval = 0.1

  public let total: Int
  public let label: String
  public let isTerminal: Bool
  private let now: () -> Double
  private let output: (String) -> Void
  private let start: Double
  private var lastDraw: Double?
  private var drawn = false
  private var finished = false

  /// - Parameters:
  ///   - total: the amount of work (e.g. the input's size in bytes); `done` in `update` is measured against it.
  ///   - isTerminal: whether to draw at all (by default: whether stderr is a terminal).
  ///   - now: a monotonic clock in seconds (injectable for tests).
  ///   - output: where the text goes (stderr by default).
  public init(
    total: Int,
    label: String,
    isTerminal: Bool = ProgressBar.stderrIsTerminal,
    now: @escaping () -> Double = ProgressBar.monotonicSeconds,
    output: @escaping (String) -> Void = ProgressBar.writeToStderr
  ) {
    self.total = total
    self.label = label
    self.isTerminal = isTerminal
    self.now = now
    self.output = output
    self.start = now()
  }

  /// Reports progress: `done` out of `total`, and `rows` processed so far. Redraws at most every `minInterval`.
  public func update(done: Int, rows: Int) {
    guard isTerminal, !finished else { return }
    let t = now()
    if let lastDraw, t - lastDraw < Self.minInterval { return }
    lastDraw = t
    let fraction = total > 0 ? Double(done) / Double(total) : 1
    let line = Self.render(fraction: fraction, rows: rows, elapsed: t - start, label: label, width: Self.barWidth)
    // `ESC [ K` clears what is left of a longer previous line.
    output("\r" + line + "\u{1B}[K")
    drawn = true
  }

  /// Erases the progress line (if one was drawn). Later updates are ignored.
  public func finish() {
    guard !finished else { return }
    finished = true
    if drawn { output("\r\u{1B}[K") }
  }

  /// The progress line, e.g. `ingest  [#########.........]  45%  1.2M rows  310k rows/s  eta 4s`.
  ///
  /// `fraction` is clamped to 0...1, `width` is the number of cells between the brackets, `elapsed` is in
  /// seconds. The rate and the ETA are shown as `--` until they can be estimated.
  static func render(fraction: Double, rows: Int, elapsed: Double, label: String, width: Int) -> String {
    let f = fraction.isFinite ? Swift.min(Swift.max(fraction, 0), 1) : 0
    let cells = Swift.max(width, 0)
    let filled = Swift.min(Int(f * Double(cells)), cells)
    let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: cells - filled)
    let percent = Int(f * 100)
    let percentText = String(repeating: " ", count: 3 - String(percent).count) + "\(percent)%"
    let rate = elapsed > 0 ? Double(rows) / elapsed : nil
    let rateText = rate.map { compact($0) } ?? "--"
    let eta: String
    if f >= 1 {
      eta = "0s"
    } else if f > 0, elapsed > 0 {
      eta = duration(elapsed * (1 - f) / f)
    } else {
      eta = "--"
    }
    return "\(label)  [\(bar)]  \(percentText)  \(compact(Double(rows))) rows  \(rateText) rows/s  eta \(eta)"
  }

  /// `999`, `1.2k`, `310k`, `1.0M`, `45M`, `3.1G`: at most three significant digits.
  static func compact(_ value: Double) -> String {
    guard value.isFinite, value >= 0 else { return "--" }
    let units = ["", "k", "M", "G", "T"]
    var v = value
    var unit = 0
    while unit < units.count - 1, v.rounded() >= 1000 {
      v /= 1000
      unit += 1
    }
    if unit == 0 { return String(Int(v.rounded())) }
    if v < 9.95 {
      let tenths = Int((v * 10).rounded())
      return "\(tenths / 10).\(tenths % 10)\(units[unit])"
    }
    return "\(Int(v.rounded()))\(units[unit])"
  }

  /// `4s`, `1m05s`, `2h03m`.
  static func duration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "--" }
    let s = Int(seconds.rounded(.up))
    if s < 60 { return "\(s)s" }
    func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
    if s < 3_600 { return "\(s / 60)m\(two(s % 60))s" }
    return "\(s / 3_600)h\(two(s % 3_600 / 60))m"
  }

  // MARK: - Defaults

  /// Whether stderr is a terminal.
  public static var stderrIsTerminal: Bool { isatty(2) != 0 }

  /// Seconds on a monotonic clock (since the first call).
  public static func monotonicSeconds() -> Double {
    let d = clockOrigin.duration(to: .now).components
    return Double(d.seconds) + Double(d.attoseconds) * 1e-18
  }

  private static let clockOrigin = ContinuousClock.now

  public static func writeToStderr(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
  }
}
