internal import GRPCCore
internal import StrataCluster
internal import StrataCore
internal import StrataProto
internal import StrataStorage
internal import SwiftProtobuf

extension ClusterCoordinator {
  /// A lookup at QUORUM or ALL: each entity is read from `required` of its replicas (this node first
  /// when it holds one, then replicas that have not failed recently), each answering with its values
  /// and, per group version, the order (event time, created time, write id) of the row they came from.
  /// Per entity and group version, the values of the replica with the greatest row win (one with a row
  /// beats one without). A replica that fails passes its entities to a replica not asked yet; an
  /// entity that cannot get `required` answers fails the lookup with the last failure. After a QUORUM
  /// write, a QUORUM read sees it (2 + 2 > 3).
  func quorumAnswer(
    _ request: Strata_V1_GetOnlineFeaturesRequest, columns: [ResolvedFeature], required: Int
  ) async throws -> Strata_V1_GetOnlineFeaturesResponse {
    let ids = request.entityIds
    let placement = cluster.placement
    let groupOf = ClusterExport<Transport>.groupIndexes(columns)
    let groups = (groupOf.max() ?? -1) + 1
    let pinned = columns.map(\.qualifiedName)
    // Replica order per entity: this node, then the ones not avoided, then the rest.
    let avoided = cluster.health.avoided(at: .now)
    let order: [[String]] = ids.map { id in
      let replicas = placement.replicas(of: id)
      return replicas.filter { $0 == cluster.selfID } + replicas.filter { $0 != cluster.selfID && !avoided.contains($0) }
        + replicas.filter { $0 != cluster.selfID && avoided.contains($0) }
    }
    var next = [Int](repeating: 0, count: ids.count)
    var answered = [Int](repeating: 0, count: ids.count)
    // Per entity and group: the best results and order so far.
    var best = [[(found: Bool, key: (Int64, Int64, UInt64), results: [Strata_V1_FeatureResult])?]](
      repeating: [(found: Bool, key: (Int64, Int64, UInt64), results: [Strata_V1_FeatureResult])?](repeating: nil, count: groups),
      count: ids.count)
    var pending = Array(ids.indices).flatMap { i in [Int](repeating: i, count: required) }
    var lastFailure: (any Error)?
    while !pending.isEmpty {
      // Route each pending (entity, answer) to the entity's next replica.
      var parts: [String: [Int]] = [:]
      for i in pending {
        guard next[i] < order[i].count else {
          throw lastFailure.map { cluster.failure($0, node: order[i].last ?? "") }
            ?? RPCError(code: .unavailable, message: "entity \(ids[i]) has fewer than \(required) replicas")
        }
        parts[order[i][next[i]], default: []].append(i)
        next[i] += 1
      }
      pending = []
      let results = await withTaskGroup(of: (String, [Int], Result<Strata_V1_GetOnlineFeaturesResponse, any Error>).self) { tasks in
        for (node, items) in parts {
          let part = Strata_V1_GetOnlineFeaturesRequest.with {
            $0.features = pinned
            $0.entityIds = items.map { ids[$0] }
            $0.withRowOrder = true
          }
          tasks.addTask {
            do {
              if node == cluster.selfID {
                let (vectors, orders) = try await store.online(entityIDs: part.entityIds, columns: columns, withOrder: true)
                return (node, items, .success(.with {
                  $0.vectors = zip(part.entityIds, vectors).map { id, results in
                    .with {
                      $0.entityID = id
                      $0.results = results.map(\.proto)
                    }
                  }
                  $0.rowOrders = orders.map { $0.proto() }
                }))
              }
              let answer = try await cluster.peer(node).getOnline(part, metadata: cluster.metadata, options: cluster.options)
              cluster.hints?.answered(node)
              return (node, items, .success(answer))
            } catch {
              if node != cluster.selfID { cluster.health.failed(node, at: .now) }
              return (node, items, .failure(error))
            }
          }
        }
        var all: [(String, [Int], Result<Strata_V1_GetOnlineFeaturesResponse, any Error>)] = []
        for await r in tasks { all.append(r) }
        return all
      }
      for (node, items, result) in results {
        switch result {
        case .failure(let error):
          if CallerDeadline.hasPassed { throw cluster.failure(error, node: node) }
          lastFailure = error
          pending += items
        case .success(let answer):
          guard answer.vectors.count == items.count, answer.rowOrders.count == groups else {
            throw RPCError(
              code: .internalError,
              message: "cluster node \(cluster.describe(node)) answered \(answer.vectors.count) of \(items.count) entities with \(answer.rowOrders.count) row orders for \(groups) group versions")
          }
          let orders = try answer.rowOrders.map { try RowOrders(proto: $0) }
          for (j, i) in items.enumerated() {
            answered[i] += 1
            for g in 0..<groups {
              let found = orders[g].found[j] != 0
              let key = (orders[g].eventTimes[j], orders[g].createdTimes[j], orders[g].sequences[j])
              let wins: Bool
              if let current = best[i][g] {
                wins = found && (!current.found || key > current.key)
              } else {
                wins = true
              }
              if wins {
                let results = answer.vectors[j].results
                best[i][g] = (found, key, columns.indices.filter { groupOf[$0] == g }.map { results[$0] })
              }
            }
          }
        }
      }
    }
    return .with {
      $0.columns = columns.map(\.proto)
      $0.vectors = ids.indices.map { i in
        var taken = [Int](repeating: 0, count: groups)
        return .with {
          $0.entityID = ids[i]
          $0.results = columns.indices.map { c in
            let g = groupOf[c]
            defer { taken[g] += 1 }
            return best[i][g]!.results[taken[g]]
          }
        }
      }
    }
  }
}
