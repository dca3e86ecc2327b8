internal import Synchronization

/// When history images are built and how much memory they may hold.
public struct HistoryImagePolicy: Sendable, Equatable {
  /// Heap bytes all images together may hold (approximately); 0 turns images off, so every export
  /// reads storage. A group version whose image would not fit is always read from storage.
  public var budgetBytes: Int
  /// A chunk with fewer labels than this never builds an image (it reads storage); an image that
  /// exists is used by chunks of any size.
  public var minLabelsToBuild: Int
  /// An image is rebuilt (by the next chunk of at least `minLabelsToBuild` labels) once more than this
  /// fraction of its entities were touched after its scan began (rows of a row group written, events
  /// removed or expired; not a stream's events, held beside the image): their labels are read from
  /// storage, which is exact but slower.
  public var maxStaleFraction: Double
  /// A stream's image is rebuilt once the events stored since its scan (held beside it, `ImageDelta`)
  /// outnumber this fraction of its rows: by the next export, or in the background right away when
  /// the policy prebuilds (even while writes go on).
  public var maxDeltaFraction: Double

  /// Writes to a group version of at least `prebuildMinRows` rows schedule a background build of its
  /// image (when it has none or it is stale) once they pause for this long. nil: only exports build.
  public var prebuildAfterQuietSeconds: Double?
  public var prebuildMinRows: UInt64

  public init(
    budgetBytes: Int, minLabelsToBuild: Int, maxStaleFraction: Double, maxDeltaFraction: Double = 0.05,
    prebuildAfterQuietSeconds: Double? = nil, prebuildMinRows: UInt64 = 10_000
  ) {
    self.budgetBytes = budgetBytes
    self.minLabelsToBuild = minLabelsToBuild
    self.maxStaleFraction = maxStaleFraction
    self.maxDeltaFraction = maxDeltaFraction
    self.prebuildAfterQuietSeconds = prebuildAfterQuietSeconds
    self.prebuildMinRows = prebuildMinRows
  }

  public static let defaults = HistoryImagePolicy(
    budgetBytes: 1 << 30, minLabelsToBuild: 10_000, maxStaleFraction: 0.02, prebuildAfterQuietSeconds: 1)
  public static let disabled = HistoryImagePolicy(budgetBytes: 0, minLabelsToBuild: .max, maxStaleFraction: 0)
}

/// What the history images of a store hold.
public struct HistoryImageStats: Sendable, Equatable {
  /// Images held now.
  public var images: Int
  /// Their approximate heap bytes, with the stream events held beside them since their scans.
  public var bytes: Int
  /// Builds completed since the store was opened.
  public var builds: Int
}

/// The history images of one shard and, for each, what happened since its scan began.
///
/// Correctness does not depend on freshness. For each image:
/// - a stream's events stored since its scan began are kept beside it (`delta`): the writer adds a
///   batch's stored events (`addStreamEvents`) after writing it to storage and before acknowledging
///   it, so an entity's stored events, as of any acknowledged write, are its image rows plus its
///   delta rows;
/// - entities whose stored history changed otherwise (rows of a row group written, events removed
///   or expired, a stream write that failed) are `touched` (`noteWrite`, before the change): they
///   are answered from storage until the next build;
/// - labels with a known-at time are answered from storage by row joins (the image keeps only the
///   winner of each event time of a row group); aggregates read them from the image and delta, which
///   keep every event of a stream with its created time.
/// Writers call these under the writer lock, and a build takes its storage snapshot under the same
/// lock (`beginBuild`), so every write (or removal) is either in the image or recorded.
final class HistoryImages: Sendable {
  struct Entry {
    var image: HistoryImage?
    /// Tokens of the entities the image (with `delta`) does not answer: changed otherwise than by
    /// stream events stored since its scan began.
    var touched: Set<UInt64> = []
    /// The stream events stored since `image`'s scan began.
    var delta = ImageDelta()
    /// While a build runs: `touched` and `delta` of the image it builds (since its scan began).
    var pending: Set<UInt64>?
    var pendingDelta = ImageDelta()
    var lastUsed: UInt64 = 0
    /// The group's row count when a build last failed to fit the budget: no retry until it changes.
    var tooLargeAtRows: UInt64?
  }

  struct State {
    var entries: [UInt32: Entry] = [:]
    var tick: UInt64 = 0
    var builds: Int = 0
  }

  /// What a read uses: the image, the stream events stored since its scan, and the entities the two
  /// do not answer.
  struct Use: Sendable {
    var image: HistoryImage
    var touched: Set<UInt64>
    var delta = ImageDelta()

    /// Whether the image and the delta hold exactly the stored events of the entity of `token`.
    @inline(__always) func holds(_ token: UInt64) -> Bool { touched.isEmpty || !touched.contains(token) }

    /// Whether the image alone holds exactly the stored rows of `entityID` (of `token`): what a row
    /// join, which does not read the delta, asks.
    @inline(__always) func holdsInImage(_ entityID: String, token: UInt64) -> Bool {
      holds(token) && !delta.contains(entityID)
    }
  }

  private static func use(_ e: Entry) -> Use? {
    e.image.map { Use(image: $0, touched: e.touched, delta: e.delta) }
  }

  let state = Mutex(State())

  /// Records that `tokens` of group version `sid` are about to be changed otherwise than by stream
  /// events (rows of a row group written, events removed or expired). Called under the writer lock.
  func noteWrite(_ sid: UInt32, tokens: some Sequence<UInt64>) {
    state.withLock { s in
      guard var e = s.entries[sid], e.image != nil || e.pending != nil else { return }
      s.entries[sid] = nil  // unique ownership of the sets while they grow
      for t in tokens {
        if e.image != nil { e.touched.insert(t) }
        e.pending?.insert(t)
      }
      s.entries[sid] = e
    }
  }

  /// Adds `stored`, the events a batch of stream `sid` stored for the first time (`row.values` the
  /// stream's fields), to the delta of its image (and of a running build). Called under the writer
  /// lock, after the write and before it is acknowledged; a write that fails calls `noteWrite`
  /// instead (its entities are read from storage until the next build, whatever it stored).
  ///
  /// A read that took the image before this call does not see the batch: it was not acknowledged
  /// then, and the row cache does not keep what such a read computed (`AggregateRowCache`: the
  /// batch's invalidation follows this call).
  func addStreamEvents(_ sid: UInt32, stored: [StreamTiles.NewEvent]) {
    guard !stored.isEmpty else { return }
    state.withLock { s in
      guard var e = s.entries[sid], e.image != nil || e.pending != nil else { return }
      s.entries[sid] = nil  // unique ownership of the deltas while they grow
      for event in stored {
        if e.image != nil { e.delta.add(event.entityID, event.row) }
        if e.pending != nil { e.pendingDelta.add(event.entityID, event.row) }
      }
      s.entries[sid] = e
    }
  }

  /// Whether `sid`'s image is due for a rebuild because its delta outgrew `policy.maxDeltaFraction`
  /// of it, and no build runs.
  func deltaRebuildDue(_ sid: UInt32, policy: HistoryImagePolicy) -> Bool {
    state.withLock { s in
      guard let e = s.entries[sid], let image = e.image, e.pending == nil else { return false }
      return Self.deltaOutgrown(e.delta, image: image, policy: policy)
    }
  }

  private static func deltaOutgrown(_ delta: ImageDelta, image: HistoryImage, policy: HistoryImagePolicy) -> Bool {
    Double(delta.rowCount) > policy.maxDeltaFraction * Double(max(1, image.rowCount))
  }

  /// The current image of `sid`, whether a (re)build is due for a chunk of `labels` labels, and
  /// whether one is running. A caller told to build owns the build from this call on (it must
  /// `beginBuild` or `abandonBuild`): any other caller is told one is running, so two builds of one
  /// group never overlap (the second's start would reset the first's record of writes, and the
  /// first's image would miss them).
  func current(_ sid: UInt32, labels: Int, policy: HistoryImagePolicy, rowsTotal: UInt64, estimate: Int)
    -> (use: Use?, build: Bool, building: Bool)
  {
    state.withLock { s in
      s.tick += 1
      var e = s.entries[sid] ?? Entry()
      e.lastUsed = s.tick
      var use: Use?
      var stale = true
      if let image = e.image {
        use = Self.use(e)
        stale =
          Double(e.touched.count) > policy.maxStaleFraction * Double(max(1, image.entityCount))
          || Self.deltaOutgrown(e.delta, image: image, policy: policy)
      }
      let fits = estimate <= policy.budgetBytes && e.tooLargeAtRows != rowsTotal
      let wanted = stale && fits && labels >= policy.minLabelsToBuild && rowsTotal > 0
      let build = wanted && e.pending == nil
      let building = wanted && e.pending != nil
      // Claimed: writes from here on are recorded (more than from the snapshot on: harmless for
      // `pending`; `beginBuild` empties `pendingDelta`, which must start at the snapshot).
      if build {
        e.pending = []
        e.pendingDelta = ImageDelta()
      }
      s.entries[sid] = e
      return (use, build, building)
    }
  }

  /// The current image of `sid` and what changed since its scan, as of this call; nil when there is
  /// none. Never builds one (online lookups use an image only when exports or the background build
  /// made one).
  func existing(_ sid: UInt32) -> Use? {
    state.withLock { s in s.entries[sid].flatMap(Self.use) }
  }

  /// Starts a build of `sid` (call under the writer lock, right before taking the storage snapshot).
  func beginBuild(_ sid: UInt32) {
    state.withLock { s in
      var e = s.entries[sid] ?? Entry()
      e.pending = []
      e.pendingDelta = ImageDelta()
      s.entries[sid] = e
    }
  }

  /// Installs a finished build and evicts the least recently used other images beyond `budget`.
  func finishBuild(_ sid: UInt32, image: HistoryImage, budget: Int) -> Use {
    state.withLock { s in
      var e = s.entries[sid] ?? Entry()
      e.image = image
      e.touched = e.pending ?? []
      e.delta = e.pendingDelta
      e.pending = nil
      e.pendingDelta = ImageDelta()
      e.tooLargeAtRows = nil
      s.entries[sid] = e
      s.builds += 1
      var total = s.entries.values.reduce(0) { $0 + ($1.image?.byteSize ?? 0) }
      let victims = s.entries.filter { $0.key != sid && $0.value.image != nil }.sorted { $0.value.lastUsed < $1.value.lastUsed }
      for (other, _) in victims where total > budget {
        total -= s.entries[other]?.image?.byteSize ?? 0
        s.entries[other]?.image = nil
        s.entries[other]?.touched = []
        s.entries[other]?.delta = ImageDelta()
      }
      return Self.use(e)!
    }
  }

  /// Abandons a build; `tooLargeAtRows` set means it did not fit and is not retried at that size.
  func abandonBuild(_ sid: UInt32, tooLargeAtRows: UInt64?) {
    state.withLock { s in
      s.entries[sid]?.pending = nil
      s.entries[sid]?.pendingDelta = ImageDelta()
      if let tooLargeAtRows { s.entries[sid]?.tooLargeAtRows = tooLargeAtRows }
    }
  }

  /// Drops every image (tests, and when memory must be released).
  func removeAll() {
    state.withLock { s in
      for sid in s.entries.keys {
        s.entries[sid]?.image = nil
        s.entries[sid]?.touched = []
        s.entries[sid]?.delta = ImageDelta()
      }
    }
  }

  var summary: HistoryImageStats {
    state.withLock { s in
      let held = s.entries.values.filter { $0.image != nil }
      let bytes = held.reduce(0) { $0 + $1.image!.byteSize + $1.delta.byteSize }
      return HistoryImageStats(images: held.count, bytes: bytes, builds: s.builds)
    }
  }
}
