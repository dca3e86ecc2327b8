/// A model as users name it: `NAME` (its newest ACTIVE version) or `NAME@V`.
public struct ModelReference: Hashable, Sendable, CustomStringConvertible {
  public var name: String
  public var version: Int?

  public init(name: String, version: Int? = nil) {
    self.name = name
    self.version = version
  }

  /// INVALID_ARGUMENT for anything but `NAME` or `NAME@V` with a valid name and V >= 1.
  public init(parsing text: String) throws(StrataError) {
    let parts = text.split(separator: "@", omittingEmptySubsequences: false)
    guard parts.count <= 2, RegistryName.isValid(String(parts[0])) else {
      throw .invalidArgument("model reference '\(text)' is not NAME or NAME@VERSION (names: letters, digits, '_', '-', '.')")
    }
    name = String(parts[0])
    if parts.count == 2 {
      guard let v = Int(parts[1]), v >= 1 else {
        throw .invalidArgument("model reference '\(text)' has an invalid version '\(parts[1])'; versions are 1, 2, 3, ...")
      }
      version = v
    }
  }

  public var description: String { version.map { "\(name)@\($0)" } ?? name }
}
