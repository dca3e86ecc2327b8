/// Names of models and training sets: 1 to 128 characters, ASCII letters, digits, `_`, `-` and `.`,
/// starting with a letter or a digit (so that `NAME@V` and keys stay unambiguous).
public enum RegistryName {
  public static let maxLength = 128

  public static func isValid(_ name: String) -> Bool {
    let u = name.utf8
    guard let first = u.first, u.count <= maxLength, isAlnum(first) else { return false }
    return u.allSatisfy { isAlnum($0) || $0 == 95 || $0 == 45 || $0 == 46 }
  }

  static func isAlnum(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) }

  static func check(_ name: String, what: String) throws(StrataError) {
    guard isValid(name) else {
      throw .invalidArgument(
        "\(what) name '\(name)' is not valid: use 1 to \(maxLength) letters, digits, '_', '-' or '.', starting with a letter or a digit")
    }
  }
}
