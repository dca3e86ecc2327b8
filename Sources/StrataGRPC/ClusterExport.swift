internal import GRPCCore
internal import SwiftProtobuf
internal import StrataCore
internal import StrataCluster
internal import StrataProto
internal import StrataStorage
internal import Foundation
internal import Synchronization

/// One point-in-time export through a cluster coordinator: a bidirectional stream to each owner that
/// has labels in it (opened when its first label arrives), label messages split by owner as they come
/// in, and each message's answers merged back in input order before the next message is read.
struct ClusterExport<Transport: ClientTransport> {
  let coordinator: ClusterCoordinator<Transport>

  var cluster: ClusterView<Transport> { coordinator.cluster }

  /// The stream to one owner: requests go in through `send`, answers come out of `answers`.
  final class OwnerStream: Sendable {
    let node: String
    let requests: AsyncStream<Strata_V1_GetHistoricalFeaturesRequest>.Continuation
    let requestStream: AsyncStream<Strata_V1_GetHistoricalFeaturesRequest>
    let answers: AsyncThrowingStream<Strata_V1_GetHistoricalFeaturesResponse, any Error>
    let answerSink: AsyncThrowingStream<Strata_V1_GetHistoricalFeaturesResponse, any Error>.Continuation
    /// Label rows sent to the owner, and answered by it, so far in this export.
    let sent = Mutex(0)
    let answered = Mutex(0)

    init(node: String) {
      self.node = node
      (requestStream, requests) = AsyncStream.makeStream()
      (answers, answerSink) = AsyncThrowingStream.makeStream()
    }

    /// Passes an answer on, counting its label rows.
    func yield(_ answer: Strata_V1_GetHistoricalFeaturesResponse) {
      let rows = answer.hasBatch ? Int(answer.batch.rowCount) : answer.rows.count
      answered.withLock { $0 += rows }
      answerSink.yield(answer)
    }

    /// Fails the owner's answers with `error` unless it answered the first `labels` label rows.
    func expire(unlessAnswered labels: Int, with error: any Error) {
      if answered.withLock({ $0 }) < labels { answerSink.finish(throwing: error) }
    }
  }

  /// Returns the columns the export read, its label rows and the training set it saved.
  func run(
    request: RPCAsyncSequence<Strata_V1_GetHistoricalFeaturesRequest, any Error>,
    response: RPCWriter<Strata_V1_GetHistoricalFeaturesResponse>
  ) async throws -> (columns: [ResolvedFeature], labels: Int, trainingSet: TrainingSet?) {
    try await withThrowingTaskGroup(of: Void.self) { tasks in
      var owners: [String: OwnerStream] = [:]
      var iterators: [String: AsyncThrowingStream<Strata_V1_GetHistoricalFeaturesResponse, any Error>.AsyncIterator] = [:]
      defer {
        for o in owners.values { o.requests.finish() }
      }
      var first: Strata_V1_GetHistoricalFeaturesRequest?
      var (clientColumnar, clientEventTimes) = (false, false)
      let readReplicas = Self.readReplicas(cluster.placement)
      var failedInExport: Set<String> = []
      var columns: [ResolvedFeature] = []
      var received = 0
      var trainingSet: TrainingSet?
      var digest = LabelDigest()
      for try await message in request {
        try coordinator.local.sizeLimit.check(
          message, estimate: message.labels.reduce(0) { $0 + $1.entityID.utf8.count + 4 },
          what: "label message with rows \(received)...")
        if first == nil {
          guard !message.features.isEmpty else {
            throw RPCError(
              code: .invalidArgument,
              message: "the first GetHistoricalFeatures message must list the features to join (group:feature, group@2:feature or group:*)")
          }
          columns = try await rpc { try coordinator.store.resolveForExport(try [FeatureRef](parsing: message.features), force: message.force) }
          trainingSet = try await rpc { try FeatureStoreService.plannedTrainingSet(message, catalog: coordinator.store.catalog) }
          var header = message
          header.labels = []
          // The training set is saved here, once, when every answer was sent.
          header.trainingSet = ""
          header.createdBy = ""
          header.trainingSetDescription = ""
          // Owners join exactly the versions resolved here (their registries may lag or lead), and
          // the deprecation check was made here.
          header.features = columns.map(\.qualifiedName)
          header.force = true
          // Several replicas per label: every owner answers in columns with event times and row orders,
          // and the answers are merged by the order (event time, created time, write id).
          (clientColumnar, clientEventTimes) = (message.columnar, message.withEventTimestamps)
          if readReplicas > 1 {
            header.columnar = true
            header.withEventTimestamps = true
            header.withRowOrder = true
          }
          first = header
          try await response.write(.with { $0.columns = columns.map(\.proto) })
        }
        guard !message.labels.isEmpty else { continue }
        guard message.labels.count <= coordinator.store.limits.maxLabelsPerMessage else {
          throw RPCError(
            code: .resourceExhausted,
            message: "message carries \(message.labels.count) label rows; the limit is \(coordinator.store.limits.maxLabelsPerMessage) per message")
        }
        if let i = message.labels.firstIndex(where: { $0.entityID.isEmpty }) {
          throw RPCError(code: .invalidArgument, message: "label row \(received + i) has an empty entity id")
        }
        if trainingSet != nil { for label in FeatureStoreService.labelRows(message) { digest.add(label) } }
        // Route.
        // Each label to `readReplicas` replicas of its entity: this node first when it holds one, then
        // those that have not failed recently (nor failed earlier in this export).
        let chosen = ReplicaPlan(
          entityIDs: message.labels.map(\.entityID), placement: cluster.placement, count: readReplicas,
          preferring: cluster.selfID, avoiding: cluster.health.avoided(at: .now).union(failedInExport))
        let firstPlan = (nodes: chosen.nodes, parts: chosen.parts)
        var asked = [Set<String>](repeating: [], count: message.labels.count)
        for (owner, idx) in zip(firstPlan.nodes, firstPlan.parts) { for i in idx { asked[i].insert(owner) } }
        func send(_ plan: (nodes: [String], parts: [[Int]])) throws {
          for (owner, idx) in zip(plan.nodes, plan.parts) {
            var part = owners[owner] == nil ? first! : Strata_V1_GetHistoricalFeaturesRequest()
            part.labels = idx.map { message.labels[$0] }
            if owners[owner] == nil {
              let stream = OwnerStream(node: owner)
              owners[owner] = stream
              iterators[owner] = stream.answers.makeAsyncIterator()
              if owner == cluster.selfID {
                // This node's own labels: joined here, without a round trip to itself.
                let store = coordinator.store
                let (header, joined) = (first!, columns)
                tasks.addTask {
                  do {
                    for await m in stream.requestStream where !m.labels.isEmpty {
                      let labels = FeatureStoreService.labelRows(m)
                      if header.columnar {
                        let (blocks, orders) = try await store.historicalColumns(
                          labels: labels, columns: joined, withOrder: header.withRowOrder)
                        var batch = Strata_V1_JoinedBatch()
                        batch.rowCount = UInt32(labels.count)
                        batch.columns = zip(joined, blocks).map { c, b in
                          FeatureStoreService.slice(b, 0..<labels.count, dtype: c.feature.dtype, eventTimes: header.withEventTimestamps)
                        }
                        batch.rowOrders = orders.map { $0.proto() }
                        stream.yield(.with { $0.batch = batch })
                      } else {
                        let results = try await store.historical(labels: labels, columns: joined)
                        stream.yield(.with { $0.rows = FeatureStoreService.joinedRows(labels: labels, results: results) })
                      }
                    }
                    stream.answerSink.finish()
                  } catch let error as StrataError {
                    stream.answerSink.finish(throwing: error.rpcError)
                  } catch {
                    stream.answerSink.finish(throwing: error)
                  }
                }
                owners[owner]!.requests.yield(part)
                continue
              }
              let peer = try cluster.peer(owner)
              let metadata = cluster.metadata
              var options = cluster.options
              options.timeout = nil  // an export lasts as long as its input
              tasks.addTask {
                do {
                  try await peer.getHistorical(
                    request: StreamingClientRequest(metadata: metadata) { writer in
                      for await m in stream.requestStream { try await writer.write(m) }
                    },
                    options: options
                  ) { answers in
                    for try await m in answers.messages { stream.yield(m) }
                    stream.answerSink.finish()
                  }
                } catch {
                  if !Task.isCancelled { cluster.health.failed(owner, at: .now) }
                  stream.answerSink.finish(throwing: cluster.failure(error, node: owner))
                }
              }
            }
            let stream = owners[owner]!
            let target = stream.sent.withLock {
              $0 += idx.count
              return $0
            }
            stream.requests.yield(part)
            // The short limit only where every label of the message has a replica left to go to: the
            // last replica a label can be read from gets the call timeout to answer.
            let fallback = readReplicas > 1 && idx.allSatisfy { i in
              cluster.placement.replicas(of: message.labels[i].entityID).contains {
                $0 != owner && !asked[i].contains($0) && !failedInExport.contains($0)
              }
            }
            let limit = Self.answerLimit(
              labels: idx.count, callTimeout: cluster.callTimeout, base: cluster.exportAnswerBase, fallback: fallback)
            let error = cluster.nodeError(
              .unavailable, "cluster node \(cluster.describe(owner)) is unavailable: no answer to an export message within \(limit)",
              reason: .unavailable, node: owner)
            watchdogs.append(Task {
              try await Task.sleep(for: limit)
              stream.expire(unlessAnswered: target, with: error)
            })
          }
        }
        var watchdogs: [Task<Void, any Error>] = []
        try send(firstPlan)
        // Collect every owner's answer to its part, then merge in input order. The stream has no
        // deadline (an export lasts as long as its input), but each owner must answer each message in
        // time (`answerLimit`), counted from when the message was sent, or it fails naming the node
        // (with several replicas per label, its labels then go to another replica).
        defer { for w in watchdogs { w.cancel() } }
        var parts: [(idx: [Int], answers: [Strata_V1_GetHistoricalFeaturesResponse])] = []
        var plan = firstPlan
        while true {
        var retry: [Int] = []
        var lastFailure: (any Error)?
        for (owner, idx) in zip(plan.nodes, plan.parts) {
          do {
          var got: [Strata_V1_GetHistoricalFeaturesResponse] = []
          var rows = 0
          while rows < idx.count {
            guard let m = try await iterators[owner]!.next() else {
              throw cluster.nodeError(
                .unavailable, "cluster node \(cluster.describe(owner)) ended the export early", reason: .unavailable, node: owner)
            }
            if m.hasBatch {
              rows += Int(m.batch.rowCount)
              got.append(m)
            } else if !m.rows.isEmpty {
              rows += m.rows.count
              got.append(m)
            }
          }
          guard rows == idx.count else {
            throw RPCError(
              code: .internalError, message: "cluster node \(cluster.describe(owner)) answered \(rows) rows for \(idx.count) labels")
          }
          parts.append((idx, got))
          } catch let error as RPCError where readReplicas > 1 && NodeFailure.details(of: error)?.node == owner && !Task.isCancelled {
            // A replica failed: its labels of this message go to replicas not asked yet, and it gets
            // no more labels in this export.
            failedInExport.insert(owner)
            retry += idx
            lastFailure = error
          }
        }
        if retry.isEmpty { break }
        var next: (nodes: [String], parts: [[Int]]) = ([], [])
        for i in retry.sorted() {
          let replicas = cluster.placement.replicas(of: message.labels[i].entityID)
          let avoided = cluster.health.avoided(at: .now)
          guard let node = replicas.first(where: { !asked[i].contains($0) && !avoided.contains($0) && !failedInExport.contains($0) })
            ?? replicas.first(where: { !asked[i].contains($0) && !failedInExport.contains($0) })
          else { throw lastFailure! }
          asked[i].insert(node)
          if let k = next.nodes.firstIndex(of: node) { next.parts[k].append(i) } else {
            next.nodes.append(node)
            next.parts.append([i])
          }
        }
        plan = next
        try send(plan)
        }
        if readReplicas > 1 {
          let winners = try Self.winners(parts, count: message.labels.count, groups: (Self.groupIndexes(columns).max() ?? -1) + 1)
          let blocks = try Self.mergeColumns(parts, count: message.labels.count, columns: columns, winners: winners)
          if clientColumnar {
            try await coordinator.local.sendColumnar(
              blocks, columns: columns, count: message.labels.count, eventTimes: clientEventTimes, to: response)
          } else {
            let labels = FeatureStoreService.labelRows(message)
            try await FeatureStoreService.sendRows(
              FeatureStoreService.joinedRows(labels: labels, results: Self.results(blocks, columns: columns, count: labels.count)),
              to: response)
          }
        } else if first!.columnar {
          let blocks = try Self.mergeColumns(parts, count: message.labels.count, columns: columns)
          try await coordinator.local.sendColumnar(
            blocks, columns: columns, count: message.labels.count, eventTimes: first!.withEventTimestamps, to: response)
        } else {
          var rows = [Strata_V1_JoinedRow](repeating: .init(), count: message.labels.count)
          for (idx, answers) in parts {
            var k = 0
            for a in answers {
              for r in a.rows {
                rows[idx[k]] = r
                k += 1
              }
            }
          }
          try await FeatureStoreService.sendRows(rows, to: response)
        }
        received += message.labels.count
      }
      if first == nil {
        throw RPCError(code: .invalidArgument, message: "GetHistoricalFeatures received no request message; send the features first")
      }
      for o in owners.values { o.requests.finish() }
      // Every answer is in. A replica that failed during the export may still hang in its call: it is
      // not waited for.
      if !failedInExport.isEmpty { tasks.cancelAll() }
      try await tasks.waitForAll()
      if var set = trainingSet {
        set.features = columns.map(\.pinnedReference)
        set.labels = digest.summary()
        set.createdAt = coordinator.store.now
        try await coordinator.saveTrainingSet(set)
        try await response.write(.with { $0.trainingSet = set.proto })
        return (columns, received, set)
      }
      return (columns, received, nil)
    }
  }

  /// Scatters each owner's columnar answers (its labels, in its order) into blocks in input order.
  ///
  /// With `winners` (several replicas answered each label), label `i`'s values of column `c` come
  /// from part `winners[g][i]` only, `g` being the column's group version (`groupIndexes`).
  static func mergeColumns(
    _ parts: [(idx: [Int], answers: [Strata_V1_GetHistoricalFeaturesResponse])], count n: Int, columns: [ResolvedFeature],
    winners: [[Int32]]? = nil
  ) throws -> [ColumnBlock] {
    var blocks: [ColumnBlock] = []
    let groupOf = groupIndexes(columns)
    for (c, column) in columns.enumerated() {
      let winner = winners?[groupOf[c]]
      var b = ColumnBlock()
      b.statuses = [UInt8](repeating: 0, count: n)
      b.hasValue = [UInt8](repeating: 0, count: n)
      var events: [Int64] = []
      var anyEvents = false
      let dimension: Int
      switch column.feature.dtype {
      case .float: b.floats = [Double](repeating: 0, count: n); dimension = 0
      case .int: b.ints = [Int64](repeating: 0, count: n); dimension = 0
      case .string: b.strings = [String](repeating: "", count: n); dimension = 0
      case .embedding(let d):
        b.embeddings = [Float](repeating: 0, count: n * d)
        dimension = d
      }
      for (p, (idx, answers)) in parts.enumerated() {
        var k = 0
        for a in answers {
          guard a.batch.columns.count == columns.count else {
            throw RPCError(code: .internalError, message: "an owner answered with \(a.batch.columns.count) columns instead of \(columns.count)")
          }
          let col = a.batch.columns[c]
          let statuses = [UInt8](col.statuses)
          let mask = [UInt8](col.valueMask)
          let floats = col.floatValues
          let ints = col.intValues
          let strings = col.stringValues
          let embeddings = col.embeddingValues
          if !col.eventTimestampsMicros.isEmpty && !anyEvents {
            anyEvents = true
            events = [Int64](repeating: 0, count: n)
          }
          let times = col.eventTimestampsMicros
          let count = Int(a.batch.rowCount)
          let values =
            switch column.feature.dtype {
            case .float: floats.count
            case .int: ints.count
            case .string: strings.count
            case .embedding: embeddings.count / max(1, dimension)
            }
          guard statuses.count == count, mask.count == count, values == count, k + count <= idx.count else {
            throw RPCError(code: .internalError, message: "an owner answered with a malformed batch (\(count) rows)")
          }
          var targets = Array(zip(0..<count, idx[k..<(k + count)]))
          k += count
          if let winner { targets = targets.filter { winner[$0.1] == Int32(p) } }
          for (j, i) in targets {
            b.statuses[i] = statuses[j]
            b.hasValue[i] = mask[j]
          }
          if anyEvents {
            for (j, i) in targets where j < times.count { events[i] = times[j] }
          }
          // The values of the column's dtype only: one loop per batch, no dtype test per value.
          switch column.feature.dtype {
          case .float: for (j, i) in targets { b.floats[i] = floats[j] }
          case .int: for (j, i) in targets { b.ints[i] = ints[j] }
          case .string: for (j, i) in targets { b.strings[i] = strings[j] }
          case .embedding:
            for (j, i) in targets {
              b.embeddings.replaceSubrange((i * dimension)..<((i + 1) * dimension), with: embeddings[(j * dimension)..<((j + 1) * dimension)])
            }
          }
        }
      }
      b.eventTimes = anyEvents ? events : [Int64](repeating: 0, count: n)
      blocks.append(b)
    }
    return blocks
  }

  /// How long an owner may take to answer one export message: the call timeout; when each of the
  /// message's labels has another replica left to read it from (`fallback`), at most `base` (5 s on
  /// a node) plus 1 s per 20,000 labels, so that a paused replica costs an export a few seconds (its
  /// labels then go to another replica) instead of the whole call timeout.
  static func answerLimit(labels: Int, callTimeout: Duration, base: Duration, fallback: Bool) -> Duration {
    guard fallback else { return callTimeout }
    return min(callTimeout, base + .seconds(Double(labels) / 20_000))
  }

  /// Replicas an export reads per label: enough that any row written at QUORUM is on one of them
  /// (`RF - (RF / 2 + 1) + 1`: 2 of 3, 1 of 2, 3 of 5).
  static func readReplicas(_ placement: ReplicaPlacement) -> Int {
    placement.replicationFactor - placement.required(.quorum) + 1
  }

  /// The group version of each column, numbered in order of first appearance (the order of
  /// `JoinedBatch.row_orders`).
  static func groupIndexes(_ columns: [ResolvedFeature]) -> [Int] {
    var seen: [String: Int] = [:]
    return columns.map { c in
      let key = "\(c.group.name)@\(c.group.version)"
      if let g = seen[key] { return g }
      seen[key] = seen.count
      return seen.count - 1
    }
  }

  /// For each group version and label, the part whose row wins: the greatest (event time, created
  /// time, write id) among the parts that answered the label with a row; the first part that answered
  /// it when none has a row. INTERNAL when an answer lacks its row orders.
  static func winners(
    _ parts: [(idx: [Int], answers: [Strata_V1_GetHistoricalFeaturesResponse])], count n: Int, groups: Int
  ) throws -> [[Int32]] {
    var winner = [[Int32]](repeating: [Int32](repeating: -1, count: n), count: groups)
    var best = [[(Int64, Int64, UInt64)?]](repeating: [(Int64, Int64, UInt64)?](repeating: nil, count: n), count: groups)
    for (p, (idx, answers)) in parts.enumerated() {
      var k = 0
      for a in answers {
        let count = Int(a.batch.rowCount)
        guard a.batch.rowOrders.count == groups else {
          throw RPCError(
            code: .internalError, message: "a replica answered with \(a.batch.rowOrders.count) row orders instead of \(groups)")
        }
        for (g, order) in a.batch.rowOrders.enumerated() {
          let found = [UInt8](order.found)
          guard found.count == count, order.eventTimestampsMicros.count == count, order.createdTimestampsMicros.count == count,
            order.writeIds.count == count
          else { throw RPCError(code: .internalError, message: "a replica answered with malformed row orders") }
          for j in 0..<count {
            let i = idx[k + j]
            let key = found[j] != 0 ? (order.eventTimestampsMicros[j], order.createdTimestampsMicros[j], order.writeIds[j]) : nil
            if winner[g][i] < 0 {
              winner[g][i] = Int32(p)
              best[g][i] = key
            } else if let key, best[g][i].map({ key > $0 }) ?? true {
              winner[g][i] = Int32(p)
              best[g][i] = key
            }
          }
        }
        k += count
      }
    }
    return winner
  }

  /// The row form of merged blocks: one `FeatureResult` per label and column.
  static func results(_ blocks: [ColumnBlock], columns: [ResolvedFeature], count n: Int) -> [[FeatureResult]] {
    (0..<n).map { i in
      zip(columns, blocks).map { column, b in
        var value: FeatureValue?
        if b.hasValue[i] != 0 {
          switch column.feature.dtype {
          case .float: value = .float(b.floats[i])
          case .int: value = .int(b.ints[i])
          case .string: value = .string(b.strings[i])
          case .embedding(let d): value = .embedding(Array(b.embeddings[(i * d)..<((i + 1) * d)]))
          }
        }
        let status: ValueStatus =
          switch b.statuses[i] {
          case 1: .present
          case 2: .defaulted
          case 4: .expired
          default: .missing
          }
        return FeatureResult(value: value, status: status, eventTime: b.eventTimes[i] == 0 ? nil : Timestamp(microseconds: b.eventTimes[i]))
      }
    }
  }
}
