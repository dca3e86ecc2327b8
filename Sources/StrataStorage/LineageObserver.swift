public import StrataCore

/// Receives what a node did that lineage tools follow (`strata serve --openlineage-*`): definitions
/// registered, client batches stored, training data exported. Called on the thread that did it:
/// implementations only enqueue (they never block and never fail the call they observe).
public protocol LineageObserver: Sendable {
  /// Versions an apply registered (created or new), and the catalog after it.
  func registered(_ versions: [FeatureGroup], catalog: Catalog)
  /// One client batch stored (and, on a cluster, acknowledged) through this node.
  func wrote(_ group: FeatureGroup, writer: WriterIdentity, rows: Int, events: ClosedRange<Timestamp>?, at: Timestamp)
  /// One export a client asked this node for: the columns it read, its label rows, and the training
  /// set it saved (if it named one).
  func exported(_ columns: [ResolvedFeature], labels: Int, trainingSet: TrainingSet?, started: Timestamp, ended: Timestamp)
}
