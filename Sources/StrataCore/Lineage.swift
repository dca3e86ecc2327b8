/// Where a group's or stream's values come from, as its definition declares it. Every field is
/// optional (empty); all are part of the definition, so changing one registers a new version.
/// `strata describe` shows them.
public struct Lineage: Hashable, Sendable {
  /// A URI or table name the values are read from ("s3://lake/orders/", "warehouse.orders").
  public var source: String
  /// How the values are computed: text such as SQL, or a code reference with its commit.
  public var transformation: String
  /// The groups and streams the values are derived from, as written: `NAME` (its latest version) or
  /// `NAME@VERSION`. Each must be registered, or applied in the same call (`Catalog.apply` checks).
  public var upstream: [String]
  /// The pipeline expected to write the group.
  public var pipeline: String

  public static let maxSourceBytes = 2_048
  public static let maxTransformationBytes = 65_536
  public static let maxPipelineBytes = 256
  public static let maxUpstream = 64

  public init(source: String = "", transformation: String = "", upstream: [String] = [], pipeline: String = "") {
    self.source = source
    self.transformation = transformation
    self.upstream = upstream
    self.pipeline = pipeline
  }

  /// No field set.
  public var isEmpty: Bool { source.isEmpty && transformation.isEmpty && upstream.isEmpty && pipeline.isEmpty }

  /// One upstream reference parsed: the group or stream name and the pinned version (nil: latest).
  public struct Reference: Hashable, Sendable {
    public var name: String
    public var version: Int?

    /// `NAME` or `NAME@VERSION` (a version from 1); nil when `text` is neither.
    public init?(_ text: String) {
      let parts = text.split(separator: "@", omittingEmptySubsequences: false)
      guard parts.count <= 2, FeatureGroupSpec.isValidName(String(parts[0])) else { return nil }
      name = String(parts[0])
      if parts.count == 2 {
        guard let v = Int(parts[1]), v >= 1, String(v) == parts[1] else { return nil }
        version = v
      } else {
        version = nil
      }
    }
  }

  /// The rules a definition's lineage follows on its own (existence of the upstream groups is the
  /// catalog's to check): the byte limits, at most `maxUpstream` upstream references, each `NAME` or
  /// `NAME@VERSION`, no repeats, not `group` itself. INVALID_ARGUMENT naming what is wrong.
  public func validate(group: String) throws(StrataError) {
    func limit(_ value: String, _ field: String, _ max: Int) throws(StrataError) {
      guard value.utf8.count <= max else {
        throw .invalidArgument("group '\(group)': lineage \(field) is \(value.utf8.count) bytes; at most \(max) are allowed")
      }
    }
    try limit(source, "source", Self.maxSourceBytes)
    try limit(transformation, "transformation", Self.maxTransformationBytes)
    try limit(pipeline, "pipeline", Self.maxPipelineBytes)
    guard upstream.count <= Self.maxUpstream else {
      throw .invalidArgument("group '\(group)': lineage lists \(upstream.count) upstream groups; at most \(Self.maxUpstream) are allowed")
    }
    var seen = Set<String>()
    for text in upstream {
      guard let reference = Reference(text) else {
        throw .invalidArgument(
          "group '\(group)': lineage upstream '\(text)' is not a group or stream reference: write NAME or NAME@VERSION (a version from 1)")
      }
      guard reference.name != group else {
        throw .invalidArgument("group '\(group)': lineage upstream '\(text)' is the group itself; list the groups and streams it is derived from")
      }
      guard seen.insert(text).inserted else {
        throw .invalidArgument("group '\(group)': lineage upstream '\(text)' is listed twice")
      }
    }
  }
}
