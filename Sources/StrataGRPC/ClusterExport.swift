internal import GRPCCore
internal import SwiftProtobuf
internal import StrataCore
internal import StrataCluster
internal import StrataProto
internal import StrataStorage
internal import Foundation

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

    init(node: String) {
      self.node = node
      (requestStream, requests) = AsyncStream.makeStream()
      (answers, answerSink) = AsyncThrowingStream.makeStream()
    }
  }

  func run(
    request: RPCAsyncSequence<Strata_V1_GetHistoricalFeaturesRequest, any Error>,
    response: RPCWriter<Strata_V1_GetHistoricalFeaturesResponse>
  ) async throws {
    try await withThrowingTaskGroup(of: Void.self) { tasks in
      var owners: [String: OwnerStream] = [:]
      var iterators: [String: AsyncThrowingStream<Strata_V1_GetHistoricalFeaturesResponse, any Error>.AsyncIterator] = [:]
      defer {
        for o in owners.values { o.requests.finish() }
      }
      var first: Strata_V1_GetHistoricalFeaturesRequest?
      var columns: [ResolvedFeature] = []
      var received = 0
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
          columns = try await rpc { try coordinator.store.resolve(try [FeatureRef](parsing: message.features)) }
          var header = message
          header.labels = []
          // Owners join exactly the versions resolved here (their registries may lag or lead).
          header.features = columns.map(\.qualifiedName)
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
        // Route.
        // Each label to one replica of its entity: this node when it holds one, else the first that
        // has not failed recently.
        let plan = RoutingPlan(
          entityIDs: message.labels.lazy.map(\.entityID), placement: cluster.placement, preferring: cluster.selfID,
          avoiding: cluster.health.avoided(at: .now))
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
                      let blocks = try await store.historicalColumns(labels: labels, columns: joined)
                      var batch = Strata_V1_JoinedBatch()
                      batch.rowCount = UInt32(labels.count)
                      batch.columns = zip(joined, blocks).map { c, b in
                        FeatureStoreService.slice(b, 0..<labels.count, dtype: c.feature.dtype, eventTimes: header.withEventTimestamps)
                      }
                      stream.answerSink.yield(.with { $0.batch = batch })
                    } else {
                      let results = try await store.historical(labels: labels, columns: joined)
                      stream.answerSink.yield(.with { $0.rows = FeatureStoreService.joinedRows(labels: labels, results: results) })
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
                  for try await m in answers.messages { stream.answerSink.yield(m) }
                  stream.answerSink.finish()
                }
              } catch {
                if !Task.isCancelled { cluster.health.failed(owner, at: .now) }
                stream.answerSink.finish(throwing: cluster.failure(error, node: owner))
              }
            }
          }
          owners[owner]!.requests.yield(part)
        }
        // Collect every owner's answer to its part, then merge in input order. The stream has no
        // deadline (an export lasts as long as its input), but each owner must answer each message
        // within the call timeout, counted from when the message was sent, or the export fails naming it.
        let limit = cluster.callTimeout
        let watchdogs = plan.nodes.map { owner in
          let sink = owners[owner]!.answerSink
          let error = cluster.nodeError(
            .unavailable, "cluster node \(cluster.describe(owner)) is unavailable: no answer to an export message within \(limit)",
            reason: .unavailable, node: owner)
          return Task {
            try await Task.sleep(for: limit)
            sink.finish(throwing: error)
          }
        }
        defer { for w in watchdogs { w.cancel() } }
        var parts: [(idx: [Int], answers: [Strata_V1_GetHistoricalFeaturesResponse])] = []
        for (owner, idx) in zip(plan.nodes, plan.parts) {
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
        }
        if first!.columnar {
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
      try await tasks.waitForAll()
    }
  }

  /// Scatters each owner's columnar answers (its labels, in its order) into blocks in input order.
  static func mergeColumns(
    _ parts: [(idx: [Int], answers: [Strata_V1_GetHistoricalFeaturesResponse])], count n: Int, columns: [ResolvedFeature]
  ) throws -> [ColumnBlock] {
    var blocks: [ColumnBlock] = []
    for (c, column) in columns.enumerated() {
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
      for (idx, answers) in parts {
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
          let targets = idx[k..<(k + count)]
          k += count
          for (j, i) in zip(0..<count, targets) {
            b.statuses[i] = statuses[j]
            b.hasValue[i] = mask[j]
          }
          if anyEvents {
            for (j, i) in zip(0..<min(count, times.count), targets) { events[i] = times[j] }
          }
          // The values of the column's dtype only: one loop per batch, no dtype test per value.
          switch column.feature.dtype {
          case .float: for (j, i) in zip(0..<count, targets) { b.floats[i] = floats[j] }
          case .int: for (j, i) in zip(0..<count, targets) { b.ints[i] = ints[j] }
          case .string: for (j, i) in zip(0..<count, targets) { b.strings[i] = strings[j] }
          case .embedding:
            for (j, i) in zip(0..<count, targets) {
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
}
