/// How a returned feature value came about, so a caller can tell a real 0 from an absent value.
public enum ValueStatus: Hashable, Sendable {
  /// The winning stored row has this feature set.
  case present
  /// No stored value (no row, or the winning row has this feature null) and the feature has a default.
  case defaulted
  /// No stored value and no default: the value is null.
  case missing
  /// A row exists but its event time is older than `reference - maxAge`; the value is the default or null.
  case expired
}
