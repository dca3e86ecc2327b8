import Foundation
import StrataCore
import StrataEtcd
import StrataMetadata

/// What one seed's scenario did, for the test's summary.
struct ScenarioStats: Sendable {
  var completed = 0
  var aborted = 0
  var refused = 0
  /// The longest a change took to finish after the later of its start and the last fault.
  var longestAfterFaults: Duration = .zero
  var virtualTime: Duration = .zero
}

extension SimCluster {
  enum ChangeKind: CaseIterable { case add, remove, replace }

  /// One seed: 3 or 4 nodes (replication factor pinned by the first change, or 2), then two or three
  /// changes one after the other (add, remove or replace, drawn among those the cluster allows), some
  /// aborted or cleaned up at once, while faults happen for the first 10-45 s: crashes of any node or of
  /// the driving one, restarts 1-12 s later, slow starts and slow applies. An added node sometimes never
  /// starts: that change is aborted. Checks liveness after the faults, and at the end that every
  /// member serves and published the last layout and that no one else runs (a removed node, a node
  /// whose addition was aborted, stopped by itself).
  func membershipScenario(stats: Locked<ScenarioStats>) async {
    let count = 3 + below(2)
    let rf: Int? = oneIn(3) ? 2 : nil
    let members = (1...count).map { addNode("n\($0)").member }
    let initial = ClusterLayout(
      state: .active, epoch: 1, virtualNodes: 8, replicationFactor: rf, expectedNodes: count, nodes: members)
    store.seed(keys.layout, Array(try! JSONEncoder().encode(initial)))
    trace.log("seed \(seed): \(count) nodes, replication factor \(rf.map(String.init) ?? "pinned")")
    for node in allNodes { node.restart() }
    let faultsEnd = clock.now + .seconds(config.faultWindow.lowerBound + below(config.faultWindow.count))
    startFaults(until: faultsEnd)
    var nextID = count + 1
    for _ in 0..<(2 + below(2)) {
      do { try await sleep(millis(0...3000)) } catch { return }
      guard await oneChange(nextID: &nextID, faultsEnd: faultsEnd, stats: stats) else { return }
    }
    // Quiet: every node that should run runs and routes by the last layout; no one else runs.
    do {
      while !quiet { try await sleep(.milliseconds(500)) }
      try await clock.sleep(until: max(lastFault, clock.now) + .seconds(6))
    } catch { return }
    guard let (final, revision) = layout else { return checker.fail("no layout at the end") }
    for node in allNodes {
      let member = final.member(node.id) != nil
      if member, node.status != .serving {
        checker.fail("end: member \(node.id) is \(node.status), not serving")
      } else if !member, node.isUp {
        checker.fail("end: \(node.id) is no member of \(MembershipChecker.describe(final)) but still runs")
      }
      let applied = store.value(keys.layoutApplied(node: node.id)).map { Int64($0.valueString) ?? 0 }
      if member, applied != revision {
        checker.fail("end: \(node.id) published layout-applied \(applied.map(String.init) ?? "nothing"), not r\(revision)")
      }
    }
    stats.withLock { $0.virtualTime = clock.now.offset }
  }

  /// Records one change, starts or kills the nodes it needs, maybe aborts it or cleans up at once, and
  /// waits until it is over; false after a liveness failure (the scenario stops).
  private func oneChange(nextID: inout Int, faultsEnd: VirtualClock.Instant, stats: Locked<ScenarioStats>) async -> Bool {
    guard let (current, _) = layout else {
      checker.fail("no layout")
      return false
    }
    let rf = current.replicationFactor ?? min(3, max(1, current.nodes.count))
    var kinds: [ChangeKind] = current.nodes.count < 6 ? [.add] : []
    if current.nodes.count - 1 >= rf { kinds.append(.remove) }
    if rf > 1 { kinds.append(.replace) }
    let kind = kinds[below(kinds.count)]
    var stuck = false
    var replaced: SimNode?
    let recorded: ClusterLayout
    do {
      switch kind {
      case .add:
        let node = addNode("n\(nextID)")
        nextID += 1
        recorded = try await admin.add(node.member)
        stuck = oneIn(5)
        if stuck {
          trace.log("\(node.id) will never start")
        } else {
          let delay = millis(0...3000)
          spawn { [self] in
            do { try await sleep(delay) } catch { return }
            node.restart()
          }
        }
      case .remove:
        recorded = try await admin.remove(current.nodes[below(current.nodes.count)].id)
      case .replace:
        let dead = current.nodes[below(current.nodes.count)].id
        trace.log("FAULT \(dead) dies for good (to be replaced)")
        replaced = node(dead)
        replaced?.crash(permanently: true)
        do { try await sleep(millis(0...6000)) } catch { return false }
        let node = addNode("n\(nextID)")
        nextID += 1
        recorded = try await admin.replace(dead, with: node.member)
        let delay = millis(0...2000)
        spawn { [self] in
          do { try await sleep(delay) } catch { return }
          node.restart()
        }
      }
    } catch {
      trace.log("command refused: \(error)")
      if current.change == nil, let recorded = layout?.0.change {
        checker.fail("the command was refused (\(error)), yet it recorded \(recorded.summary)")
      }
      stats.withLock { $0.refused += 1 }
      replaced?.revive()
      return true
    }
    let change = recorded.change!
    let id = MembershipChecker.id(change)
    let started = clock.now
    trace.log("recorded \(change.summary)")
    if stuck {
      spawn { [self] in await abort(id, after: config.abortStuckAfter, untilDone: true) }
    } else if oneIn(5) {
      let after = millis(0...15000)
      spawn { [self] in await abort(id, after: after, untilDone: false) }
    }
    if oneIn(3) {
      spawn { [self] in await cleanUpNow(id) }
    }
    while true {
      do { try await sleep(.milliseconds(200)) } catch { return false }
      guard let (now, _) = layout else { return false }
      if now.change.map(MembershipChecker.id) != id {
        let quietSince = max(started, faultsEnd, lastFault)
        let aborted = now.epoch == change.fromEpoch
        trace.log("\(change.summary) \(aborted ? "aborted" : "completed")")
        if aborted { replaced?.revive() }
        let switches = checker.epochSwitches(change)
        if switches != (aborted ? 0 : 1) { checker.fail("\(change.summary): the epoch switched \(switches) times") }
        stats.withLock { s in
          if aborted { s.aborted += 1 } else { s.completed += 1 }
          if !stuck, clock.now > quietSince { s.longestAfterFaults = max(s.longestAfterFaults, quietSince.duration(to: clock.now)) }
        }
        return true
      }
      let deadline = max(started, faultsEnd, lastFault) + config.livenessBound + (stuck ? config.abortStuckAfter : .zero)
      if clock.now > deadline {
        checker.fail(
          "liveness: \(change.summary) is still in \(now.change!.phase.rawValue) \(config.livenessBound) after the faults ended"
            + " (started \(started) s, last fault \(lastFault) s)")
        return false
      }
    }
  }

  /// Aborts the change `id` after `delay` (once, or retried until it is over).
  private func abort(_ id: String, after delay: Duration, untilDone: Bool) async {
    do { try await sleep(delay) } catch { return }
    while layout?.0.change.map(MembershipChecker.id) == id {
      do {
        _ = try await admin.abort()
        trace.log("abort accepted")
        return
      } catch {
        trace.log("abort refused: \(error)")
        if !untilDone { return }
      }
      do { try await sleep(.seconds(1)) } catch { return }
    }
  }

  /// Starts the cleanup of the change `id` as soon as it is switched.
  private func cleanUpNow(_ id: String) async {
    while let change = layout?.0.change, MembershipChecker.id(change) == id {
      if change.phase == .switched {
        do {
          _ = try await admin.cleanupNow()
          trace.log("cleanup now accepted")
        } catch {
          trace.log("cleanup now refused: \(error)")
        }
        return
      }
      do { try await sleep(.milliseconds(500)) } catch { return }
    }
  }
}

extension SimCluster {
  /// Without faults: 4 nodes; add n5, which never starts, so the change waits in streaming once the
  /// old nodes reported their (empty) transfers; abort it; then remove n3, a change to the same epoch
  /// in which n1, n2 and n4 receive n3's ranges.
  func abortThenRemove() async {
    let members = (1...4).map { addNode("n\($0)").member }
    let initial = ClusterLayout(state: .active, epoch: 1, virtualNodes: 8, replicationFactor: nil, expectedNodes: 4, nodes: members)
    store.seed(keys.layout, Array(try! JSONEncoder().encode(initial)))
    for node in allNodes { node.restart() }
    do {
      try await sleep(.seconds(1))
      let added = try await admin.add(addNode("n5").member).change!
      let marker = added.doneMarker(.streaming)
      while !["n1", "n2", "n3", "n4"].allSatisfy({ store.value(keys.changeDone(node: $0))?.valueString == marker }) {
        try await sleep(.milliseconds(100))
      }
      _ = try await admin.abort()
      let removal = try await admin.remove("n3").change!
      let deadline = clock.now + .seconds(60)
      while layout?.0.change.map(MembershipChecker.id) == MembershipChecker.id(removal) {
        guard clock.now < deadline else { return checker.fail("remove n3 did not finish within 60 s") }
        try await sleep(.milliseconds(100))
      }
    } catch {
      checker.fail("a command failed: \(error)")
    }
  }
}

extension SimCluster {
  /// Without faults: 3 nodes; add n4; as reads move to the new ring (read_new), a node that does not
  /// drive crashes and restarts a second later, taking 12 s to open its storage. It read the layout
  /// when it started; its old `layout-applied` key runs out with its old lease meanwhile, and the
  /// driver, having waited the grace, takes it for down and moves on twice: the node then serves by a
  /// layout two phases old.
  func slowRestartDuringChange() async {
    let members = (1...3).map { addNode("n\($0)").member }
    let initial = ClusterLayout(state: .active, epoch: 1, virtualNodes: 8, replicationFactor: nil, expectedNodes: 3, nodes: members)
    store.seed(keys.layout, Array(try! JSONEncoder().encode(initial)))
    for node in allNodes { node.restart() }
    do {
      try await sleep(.seconds(1))
      let n4 = addNode("n4")
      let added = try await admin.add(n4.member).change!
      n4.restart()
      while layout?.0.change?.phase != .readNew { try await sleep(.milliseconds(5)) }
      let driver = store.value(keys.changeDriver)?.valueString
      let victim = allNodes.first { $0.id != driver && $0.id != "n4" }!
      trace.log("FAULT crash \(victim.id), restart in 1 s, opening its storage for 12 s")
      victim.crash(permanently: false)
      try await sleep(.seconds(1))
      victim.restart(opening: .seconds(12))
      let deadline = clock.now + .seconds(60)
      while layout?.0.change.map(MembershipChecker.id) == MembershipChecker.id(added) {
        guard clock.now < deadline else { return checker.fail("add n4 did not finish within 60 s") }
        try await sleep(.milliseconds(100))
      }
      try await sleep(.seconds(15))
    } catch {
      checker.fail("a command failed: \(error)")
    }
  }
}
