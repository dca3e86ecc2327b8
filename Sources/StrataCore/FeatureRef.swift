/// A reference to one feature or a whole group, as users write it.
///
/// Forms: `group:feature`, `group@2:feature` (pinned version), `group:*` and `group@2:*` (every feature
/// of the group, in definition order). Unpinned means the latest ACTIVE version at resolution time.
public struct FeatureRef: Hashable, Sendable, CustomStringConvertible {
  public var group: String
  /// `nil` = latest ACTIVE version.
  public var version: Int?
  /// `nil` = every feature of the group (`group:*`).
  public var feature: String?

  public init(group: String, version: Int? = nil, feature: String?) {
    self.group = group
    self.version = version
    self.feature = feature
  }

  public init(parsing text: String) throws(StrataError) {
    let trimmed = text.trimmingSpaces
    guard let colon = trimmed.firstIndex(of: ":") else {
      throw .invalidArgument("feature reference '\(text)' has no ':'; write group:feature, group@2:feature or group:*")
    }
    var groupPart = String(trimmed[..<colon])
    let featurePart = String(trimmed[trimmed.index(after: colon)...])
    var version: Int?
    if let at = groupPart.firstIndex(of: "@") {
      let v = groupPart[groupPart.index(after: at)...]
      guard let parsed = Int(v), parsed >= 1 else {
        throw .invalidArgument("feature reference '\(text)' has an invalid version '\(v)'; versions are 1, 2, 3, ...")
      }
      version = parsed
      groupPart = String(groupPart[..<at])
    }
    guard !groupPart.isEmpty else { throw .invalidArgument("feature reference '\(text)' has an empty group name") }
    guard !featurePart.isEmpty else {
      throw .invalidArgument("feature reference '\(text)' has an empty feature name; use group:* for every feature")
    }
    self.group = groupPart
    self.version = version
    self.feature = featurePart == "*" ? nil : featurePart
  }

  public var description: String {
    "\(group)\(version.map { "@\($0)" } ?? ""):\(feature ?? "*")"
  }
}

extension String {
  var trimmingSpaces: Substring {
    var s = Substring(self)
    while s.first?.isWhitespace == true { s.removeFirst() }
    while s.last?.isWhitespace == true { s.removeLast() }
    return s
  }
}

extension Array where Element == FeatureRef {
  /// The distinct `group@V` of pinned references, in order of first appearance.
  public var groupVersions: [String] {
    var seen = Set<String>()
    return compactMap { f in
      let key = "\(f.group)@\(f.version ?? 0)"
      return seen.insert(key).inserted ? key : nil
    }
  }
}
