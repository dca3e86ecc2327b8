import GRPCCore
import StrataProto
import StrataStorage
import Testing

/// Everything a client can observe about the stored state (registry, write counters, per-group write
/// statistics, online vectors of a few entities for every group version), for "changed nothing" checks.
/// Read-side counters (online_lookups, historical_rows) are left out because taking the snapshot reads.
struct StoreSnapshot: Equatable {
  var groups: [Strata_V1_FeatureGroup]
  var rowsWritten: UInt64
  var lateRows: UInt64
  var groupStats: [Strata_V1_GroupWriteStatus]
  /// Feature ref (`group@version:feature`) → one result per probed entity.
  var online: [String: [Strata_V1_FeatureResult]]

  static let probedEntities = ["u1", "u2", "u3", "new"]
}

extension StrataHarness {
  func snapshot() async throws -> StoreSnapshot {
    let groups = try await listGroups()
    let status = try await status()
    // One column and at most `maxEntitiesPerLookup` entities per call, so that small test limits
    // never make the snapshot itself fail.
    let chunk = max(1, store.limits.maxEntitiesPerLookup)
    var online: [String: [Strata_V1_FeatureResult]] = [:]
    for g in groups where g.status != .retired {
      for f in g.spec.features {
        let ref = "\(g.spec.name)@\(g.version):\(f.name)"
        var results: [Strata_V1_FeatureResult] = []
        var rest = StoreSnapshot.probedEntities[...]
        while !rest.isEmpty {
          let response = try await self.online(Array(rest.prefix(chunk)), [ref])
          results += response.vectors.map { $0.results[0] }
          rest = rest.dropFirst(chunk)
        }
        online[ref] = results
      }
    }
    return StoreSnapshot(
      groups: groups, rowsWritten: status.rowsWritten, lateRows: status.lateRows, groupStats: status.groups, online: online)
  }

  /// Expects `body` to fail with `code` (message mentioning `fragments`) and the store to be unchanged.
  @discardableResult
  func expectRejected<R>(
    _ code: RPCError.Code,
    mentioning fragments: [String] = [],
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> R
  ) async throws -> RPCError? {
    let before = try await snapshot()
    let error = await expectRPCError(code, mentioning: fragments, sourceLocation: sourceLocation, body)
    let after = try await snapshot()
    #expect(before == after, "the rejected request changed the store", sourceLocation: sourceLocation)
    return error
  }
}
