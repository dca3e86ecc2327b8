/// How often a group is expected to be refreshed, from its declared refresh interval:
///
/// | tier | refresh interval | e.g. |
/// |---|---|---|
/// | `batch` | 1 day or more | a nightly job |
/// | `nearRealTime` | 1 hour up to 1 day | an hourly job |
/// | `streaming` | under 1 hour | pushed events, a micro-batch every minute |
///
/// A group without a declared interval is `streaming` when it is a stream or an aggregate group
/// (their values move with every event) and `batch` otherwise. Clients' caches take their default
/// time-to-live from the tier (`defaultCacheTTLSeconds`).
public enum FreshnessTier: String, Hashable, Sendable, CaseIterable {
  case batch = "BATCH"
  case nearRealTime = "NEAR_REAL_TIME"
  case streaming = "STREAMING"

  public init(refreshIntervalSeconds: Int64?, source: GroupSource) {
    switch refreshIntervalSeconds {
    case let s? where s >= 86_400: self = .batch
    case let s? where s >= 3_600: self = .nearRealTime
    case .some: self = .streaming
    case nil: self = source == .rows ? .batch : .streaming
    }
  }

  /// The tier of `spec`.
  public init(_ spec: FeatureGroupSpec) {
    self.init(refreshIntervalSeconds: spec.refreshIntervalSeconds, source: spec.source)
  }

  /// The time-to-live clients' caches give values of this tier unless configured: 1 hour for batch
  /// groups, 1 minute for the others.
  public var defaultCacheTTLSeconds: Int64 { self == .batch ? 3_600 : 60 }
}
