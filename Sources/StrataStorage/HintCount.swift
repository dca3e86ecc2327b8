/// How much a `HintStore` holds for one node (or for all): hints and the rows they carry.
public struct HintCount: Sendable, Equatable, CustomStringConvertible {
  public var hints: Int
  public var rows: Int

  public init(hints: Int, rows: Int) {
    self.hints = hints
    self.rows = rows
  }

  public static let zero = HintCount(hints: 0, rows: 0)

  public var description: String { "\(hints) hints (\(rows) rows)" }
}
