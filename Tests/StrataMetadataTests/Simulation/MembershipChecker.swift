import Foundation
import StrataEtcd
import StrataMetadata

/// Checks a simulated cluster's history of layouts against the membership-change protocol
/// (docs/scale-out.md), at the instant each layout is committed, with what the simulated nodes really
/// did (their "ghost" state, which etcd does not see):
///
/// - **order**: a change is recorded (by a command) in `dual_write`, the driver moves it one phase at
///   a time (dual_write -> streaming -> read_new -> switched -> cleanup -> none); a command may abort
///   it in dual_write or streaming (back to the old ring) or start its cleanup now in switched; nothing
///   else changes the layout;
/// - **applied**: a phase is left only when every participant that serves (not the replaced node)
///   applied that layout revision, or had no `layout-applied` key (no lease) for the grace period;
/// - **streamed**: read_new is entered only when every node of the new ring finished receiving its
///   ranges for this very change;
/// - **epoch**: the epoch and nodes switch exactly once per change, at read_new -> switched, to
///   `toEpoch` and `to`; an abort restores `fromEpoch` and `from`;
/// - **cleanup**: cleanup starts only once `cleanupAtMicros` passed; the change ends only after every
///   serving old node (not the replaced one) finished its cleanup for this change (or had no lease for
///   the grace period);
/// - **one writer**: every layout write is conditioned on the revision it replaces, and at most one
///   write succeeds per revision;
/// - **stale start**: a node does not start serving by a layout older than one the driver already left
///   (it would route two phases behind).
///
/// `strict` drops the "no lease for the grace period" exception: then every serving participant must
/// have applied the layout the driver leaves (`MembershipSimulationTests.slowRestart` shows why the
/// protocol does not guarantee that).
final class MembershipChecker: Sendable {
  struct Version: Sendable {
    var revision: Int64
    var layout: ClusterLayout
    var time: VirtualClock.Instant
    var writer: String
  }

  private struct State {
    var versions: [Version] = []
    /// Serving nodes: the layout revision each has fully applied.
    var routing: [String: Int64] = [:]
    /// "node|change": the node finished receiving (or cleaning up) for the change.
    var streamed: Set<String> = []
    var cleaned: Set<String> = []
    var epochSwitches: [String: Int] = [:]
    var bases: Set<Int64> = []
    /// The newest layout revision a driver moved away from.
    var lastLeft: Int64 = 0
    var violations: [String] = []
    var driverWrites = 0
  }

  static let leaseGrace: Duration = .seconds(3)

  let keys: MetadataKeys
  let store: SimEtcd
  let trace: SimTrace
  let wallClockMicros: @Sendable () -> Int64
  let strict: Bool
  private let state = Locked(State())

  init(
    keys: MetadataKeys, store: SimEtcd, trace: SimTrace, strict: Bool = false, wallClockMicros: @escaping @Sendable () -> Int64
  ) {
    self.keys = keys
    self.store = store
    self.trace = trace
    self.strict = strict
    self.wallClockMicros = wallClockMicros
    store.observe { [weak self] commit in self?.committed(commit) }
  }

  var violations: [String] { state.value.violations }
  var versions: [Version] { state.value.versions }
  var driverWrites: Int { state.value.driverWrites }
  func epochSwitches(_ change: MembershipChange) -> Int { state.value.epochSwitches[Self.id(change)] ?? 0 }

  static func id(_ change: MembershipChange) -> String { "\(change.summary) @\(change.startedAtMicros)" }

  // MARK: What the simulated nodes did

  /// `node` starts serving by the layout at `revision` (after a start).
  func serving(_ node: String, revision: Int64) {
    let left = state.withLock { s -> Int64 in
      s.routing[node] = revision
      return s.lastLeft
    }
    if left > revision {
      fail("stale start: \(node) starts serving by r\(revision), but the driver already left r\(left)")
    }
  }

  /// `node` applied (and routes every write by) the layout at `revision`.
  func applied(_ node: String, revision: Int64) {
    state.withLock { s in
      if s.routing[node] != nil { s.routing[node] = max(s.routing[node]!, revision) }
    }
  }

  /// `node` crashed or stopped: it serves nothing.
  func down(_ node: String) {
    state.withLock { _ = $0.routing.removeValue(forKey: node) }
  }

  func streamed(_ node: String, change: MembershipChange) {
    state.withLock { _ = $0.streamed.insert("\(node)|\(Self.id(change))") }
  }

  func cleaned(_ node: String, change: MembershipChange) {
    state.withLock { _ = $0.cleaned.insert("\(node)|\(Self.id(change))") }
  }

  func fail(_ message: String) {
    trace.log("VIOLATION \(message)")
    state.withLock { $0.violations.append("[\(store.clock.now) s] \(message)") }
  }

  // MARK: The history

  private func committed(_ commit: SimEtcd.Commit) {
    guard let event = commit.events.first(where: { $0.keyValue.key == keys.layout }) else { return }
    guard event.kind == .put, let layout = try? JSONDecoder().decode(ClusterLayout.self, from: Data(event.keyValue.value)) else {
      fail("the layout was deleted or does not decode at revision \(commit.revision) (\(commit.writer))")
      return
    }
    let version = Version(revision: commit.revision, layout: layout, time: commit.time, writer: commit.writer)
    let previous = state.withLock { s -> Version? in
      defer { s.versions.append(version) }
      return s.versions.last
    }
    trace.log("layout r\(commit.revision) by \(commit.writer): \(Self.describe(layout))")
    guard let previous else { return }
    checkCondition(commit, previous: previous)
    checkTransition(from: previous, to: version)
  }

  /// One writer: conditioned on the revision it replaces, once; a driver holds the driver key.
  private func checkCondition(_ commit: SimEtcd.Commit, previous: Version) {
    let base = commit.compares.lazy.compactMap { compare -> Int64? in
      guard compare.key == self.keys.layout, compare.relation == .equal else { return nil }
      switch compare.target {
      case .modRevision(let r): return r
      case .version(0): return 0
      default: return nil
      }
    }.first
    guard let base else {
      fail("the layout write at r\(commit.revision) by \(commit.writer) was not conditioned on the layout's revision")
      return
    }
    if base != previous.revision {
      fail("the layout write at r\(commit.revision) by \(commit.writer) replaced r\(base), but the layout was at r\(previous.revision)")
    }
    if !state.withLock({ $0.bases.insert(base).inserted }) {
      fail("a second layout write succeeded on r\(base) (r\(commit.revision) by \(commit.writer))")
    }
    if commit.writer.hasSuffix("/driver") { state.withLock { $0.lastLeft = max($0.lastLeft, base) } }
  }

  private func checkTransition(from old: Version, to new: Version) {
    let (before, after) = (old.layout, new.layout)
    let writer = new.writer
    let byDriver = writer.hasSuffix("/driver")
    let where_ = "r\(old.revision) -> r\(new.revision) by \(writer)"
    switch (before.change, after.change) {
    case (nil, nil):
      fail("the layout was rewritten without a change (\(where_))")
    case (nil, let started?):
      if byDriver || started.phase != .dualWrite || started.fromEpoch != before.epoch || after.epoch != before.epoch
        || ids(started.from) != ids(before.nodes) || ids(after.nodes) != ids(before.nodes)
      {
        fail("a change must start in dual_write from the current ring, by a command (\(where_): \(Self.describe(after)))")
      }
    case (let ended?, nil):
      if ended.phase == .cleanup {
        guard byDriver else { return fail("only the driver ends a change (\(where_))") }
        if after.epoch != ended.toEpoch || ids(after.nodes) != ids(ended.to) {
          fail("the change \(ended.summary) ended with epoch \(after.epoch) and nodes \(ids(after.nodes)) (\(where_))")
        }
        checkApplied(old, change: ended)
        checkCleaned(ended, at: where_)
      } else if ended.phase <= .streaming {
        if byDriver { fail("the driver aborted \(ended.summary) (\(where_))") }
        if after.epoch != ended.fromEpoch || ids(after.nodes) != ids(ended.from) {
          fail("the abort of \(ended.summary) left epoch \(after.epoch) and nodes \(ids(after.nodes)) (\(where_))")
        }
        trace.log("aborted \(ended.summary) in \(ended.phase.rawValue)")
      } else {
        fail("\(ended.summary) left phase \(ended.phase.rawValue) for no change (\(where_))")
      }
    case (let from?, let to?):
      guard Self.id(from) == Self.id(to), from.from == to.from, from.to == to.to, from.fromEpoch == to.fromEpoch else {
        return fail("the change in progress was replaced by another (\(where_))")
      }
      if from.phase == to.phase {
        var expected = from
        expected.cleanupAtMicros = 0
        if byDriver || from.phase != .switched || to != expected || after.epoch != before.epoch || after.nodes != before.nodes {
          fail("the layout was rewritten in phase \(from.phase.rawValue) (\(where_))")
        }
        return
      }
      guard byDriver, let next = MembershipChange.Phase.allCases.firstIndex(of: from.phase).map({ $0 + 1 }),
        next < MembershipChange.Phase.allCases.count, MembershipChange.Phase.allCases[next] == to.phase
      else {
        return fail("phase \(from.phase.rawValue) -> \(to.phase.rawValue) of \(from.summary) (\(where_))")
      }
      checkApplied(old, change: from)
      switch to.phase {
      case .readNew:
        let missing = from.to.map(\.id).filter { node in !state.value.streamed.contains("\(node)|\(Self.id(from))") }
        if !missing.isEmpty {
          fail("read_new of \(from.summary) before \(missing.joined(separator: ", ")) received its ranges (\(where_))")
        }
      case .switched:
        let switches = state.withLock { s -> Int in
          s.epochSwitches[Self.id(from), default: 0] += 1
          return s.epochSwitches[Self.id(from)]!
        }
        if switches != 1 || after.epoch != from.toEpoch || ids(after.nodes) != ids(from.to) || before.epoch != from.fromEpoch {
          fail("the epoch of \(from.summary) switched \(before.epoch) -> \(after.epoch) (switch \(switches)) with nodes \(ids(after.nodes)) (\(where_))")
        }
      case .cleanup:
        let now = wallClockMicros()
        if now < to.cleanupAtMicros ?? 0 {
          fail("cleanup of \(from.summary) started \(to.cleanupAtMicros! - now) µs before cleanupAtMicros (\(where_))")
        }
      default:
        break
      }
      if to.phase != .switched, after.epoch != before.epoch || after.nodes != before.nodes {
        fail("epoch or nodes moved outside read_new -> switched (\(where_))")
      }
    }
  }

  /// Every serving participant (not the replaced node) applied `old`, or had no lease for the grace.
  private func checkApplied(_ old: Version, change: MembershipChange) {
    for node in change.allMembers.map(\.id) where node != change.dead {
      guard let routing = state.value.routing[node], routing < old.revision else { continue }
      let absent = store.absentFor(keys.layoutApplied(node: node))
      if strict || absent == nil || absent! < Self.leaseGrace {
        fail(
          "\(change.summary) left \(change.phase.rawValue) (r\(old.revision)) while \(node) serves by r\(routing)"
            + (absent.map { " with no lease for only \($0)" } ?? " and holds a lease"))
      }
    }
  }

  /// Every serving old node (not the replaced one) cleaned up, or had no lease for the grace.
  private func checkCleaned(_ change: MembershipChange, at where_: String) {
    for node in change.from.map(\.id) where node != change.dead && state.value.routing[node] != nil {
      guard !state.value.cleaned.contains("\(node)|\(Self.id(change))") else { continue }
      let absent = store.absentFor(keys.layoutApplied(node: node))
      if strict || absent == nil || absent! < Self.leaseGrace {
        fail("\(change.summary) ended before \(node), serving, cleaned up (\(where_))")
      }
    }
  }

  private func ids(_ members: [ClusterLayout.Member]) -> [String] { members.map(\.id) }

  static func describe(_ layout: ClusterLayout) -> String {
    let ring = "epoch \(layout.epoch) [\(layout.nodes.map(\.id).joined(separator: ","))]"
    guard let change = layout.change else { return ring }
    let cleanup = change.cleanupAtMicros.map { " cleanupAt \($0)" } ?? ""
    return "\(ring) \(change.summary) \(change.phase.rawValue)\(cleanup)"
  }
}

/// The simulation's log, with virtual times: what a failing seed prints.
final class SimTrace: Sendable {
  let clock: VirtualClock
  private let lines = Locked<[String]>([])

  init(clock: VirtualClock) {
    self.clock = clock
  }

  func log(_ line: String) {
    let stamped = "[\(clock.now)] \(line)"
    lines.withLock { $0.append(stamped) }
  }

  var all: [String] { lines.value }

  func tail(_ n: Int) -> String { all.suffix(n).joined(separator: "\n") }
}
