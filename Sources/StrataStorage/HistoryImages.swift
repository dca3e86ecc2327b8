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
  /// fraction of its entities were written after its scan began: their labels are read from storage,
  /// which is exact but slower.
  public var maxStaleFraction: Double

  /// Writes to a group version of at least `prebuildMinRows` rows schedule a background build of its
  /// image (when it has none or it is stale) once they pause for this long. nil: only exports build.
  public var prebuildAfterQuietSeconds: Double?
  public var prebuildMinRows: UInt64

  public init(
    budgetBytes: Int, minLabelsToBuild: Int, maxStaleFraction: Double, prebuildAfterQuietSeconds: Double? = nil,
    prebuildMinRows: UInt64 = 10_000
  ) {
    self.budgetBytes = budgetBytes
    self.minLabelsToBuild = minLabelsToBuild
    self.maxStaleFraction = maxStaleFraction
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
  /// Their approximate heap bytes.
  public var bytes: Int
  /// Builds completed since the store was opened.
  public var builds: Int
}

/// The history images of one shard and, for each, the entities written after its scan began.
///
/// Correctness does not depend on freshness: a label whose entity was written after the image's scan
/// began (or that has a known-at time) is answered from storage, every other label from the image,
/// which holds exactly that entity's stored history. Writers record the entities of a batch here
/// before the batch is written to storage (`LocalShard.append` and `removeEntities`, under the writer
/// lock), and a build takes its storage snapshot under the same lock, so every write (or removal) is
/// either in the image or recorded.
final class HistoryImages: Sendable {
  struct Entry {
    var image: HistoryImage?
    /// Tokens of the entities written since `image`'s scan began.
    var touched: Set<UInt64> = []
    /// While a build runs: tokens of the entities written since its scan began.
    var pending: Set<UInt64>?
    var lastUsed: UInt64 = 0
    /// The group's row count when a build last failed to fit the budget: no retry until it changes.
    var tooLargeAtRows: UInt64?
  }

  struct State {
    var entries: [UInt32: Entry] = [:]
    var tick: UInt64 = 0
    var builds: Int = 0
  }

  /// What a join uses: the image and the entities it must not answer.
  struct Use: Sendable {
    var image: HistoryImage
    var touched: Set<UInt64>
  }

  let state = Mutex(State())

  /// Records that `tokens` of group version `sid` are about to be written (or removed). Called under
  /// the writer lock.
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
        use = Use(image: image, touched: e.touched)
        stale = Double(e.touched.count) > policy.maxStaleFraction * Double(max(1, image.entityCount))
      }
      let fits = estimate <= policy.budgetBytes && e.tooLargeAtRows != rowsTotal
      let wanted = stale && fits && labels >= policy.minLabelsToBuild && rowsTotal > 0
      let build = wanted && e.pending == nil
      let building = wanted && e.pending != nil
      // Claimed: writes from here on are recorded (more than from the snapshot on: harmless).
      if build { e.pending = [] }
      s.entries[sid] = e
      return (use, build, building)
    }
  }

  /// The current image of `sid` and the entities written since its scan, as of this call; nil when
  /// there is none. Never builds one (online lookups use an image only when exports or the
  /// background build made one).
  func existing(_ sid: UInt32) -> Use? {
    state.withLock { s in s.entries[sid]?.image.map { Use(image: $0, touched: s.entries[sid]!.touched) } }
  }

  /// Starts a build of `sid` (call under the writer lock, right before taking the storage snapshot).
  func beginBuild(_ sid: UInt32) {
    state.withLock { s in
      var e = s.entries[sid] ?? Entry()
      e.pending = []
      s.entries[sid] = e
    }
  }

  /// Installs a finished build and evicts the least recently used other images beyond `budget`.
  func finishBuild(_ sid: UInt32, image: HistoryImage, budget: Int) -> Use {
    state.withLock { s in
      var e = s.entries[sid] ?? Entry()
      e.image = image
      e.touched = e.pending ?? []
      e.pending = nil
      e.tooLargeAtRows = nil
      s.entries[sid] = e
      s.builds += 1
      var total = s.entries.values.reduce(0) { $0 + ($1.image?.byteSize ?? 0) }
      let victims = s.entries.filter { $0.key != sid && $0.value.image != nil }.sorted { $0.value.lastUsed < $1.value.lastUsed }
      for (other, _) in victims where total > budget {
        total -= s.entries[other]?.image?.byteSize ?? 0
        s.entries[other]?.image = nil
        s.entries[other]?.touched = []
      }
      return Use(image: image, touched: e.touched)
    }
  }

  /// Abandons a build; `tooLargeAtRows` set means it did not fit and is not retried at that size.
  func abandonBuild(_ sid: UInt32, tooLargeAtRows: UInt64?) {
    state.withLock { s in
      s.entries[sid]?.pending = nil
      if let tooLargeAtRows { s.entries[sid]?.tooLargeAtRows = tooLargeAtRows }
    }
  }

  /// Drops every image (tests, and when memory must be released).
  func removeAll() {
    state.withLock { s in
      for sid in s.entries.keys {
        s.entries[sid]?.image = nil
        s.entries[sid]?.touched = []
      }
    }
  }

  var summary: HistoryImageStats {
    state.withLock { s in
      let held = s.entries.values.compactMap(\.image)
      return HistoryImageStats(images: held.count, bytes: held.reduce(0) { $0 + $1.byteSize }, builds: s.builds)
    }
  }
}
