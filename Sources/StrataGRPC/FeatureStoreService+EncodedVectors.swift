internal import GRPCCore
internal import StrataCore
internal import StrataProto
internal import StrataStorage

/// Online lookups answered as encoded vectors: what a cluster node returns for its own part of a
/// coordinated lookup (on the lookup lane, or to itself as coordinator).
extension FeatureStoreService {
  /// The answer to `request` as an encoded `GetOnlineFeaturesResponse` without `columns` (the
  /// coordinator has them), computed on the calling thread; nil when the lookup is too large to
  /// answer inline (see `FeatureStore.onlineInline`), in which case `encodedVectors(_:)` answers it.
  /// Same checks and errors as `GetOnlineFeatures`, as `RPCError`s; with `with_row_order`, the answer
  /// carries `row_orders` after the vectors, as `GetOnlineFeatures` does.
  func encodedVectorsInline(_ request: Strata_V1_GetOnlineFeaturesRequest) throws(RPCError) -> [UInt8]? {
    try encodedVectorsInline(request.entityIds, columns: try checkedColumns(request), withRowOrder: request.withRowOrder)
  }

  /// `encodedVectorsInline` for any size: large lookups run on the storage read threads.
  func encodedVectors(_ request: Strata_V1_GetOnlineFeaturesRequest) async throws(RPCError) -> [UInt8] {
    try await encodedVectors(request.entityIds, columns: try checkedColumns(request), withRowOrder: request.withRowOrder)
  }

  /// `encodedVectorsInline` of columns already resolved (a coordinator's own part of a lookup).
  func encodedVectorsInline(
    _ entityIDs: [String], columns: [ResolvedFeature], withRowOrder: Bool = false
  ) throws(RPCError) -> [UInt8]? {
    do {
      guard let (vectors, orders) = try store.onlineInline(entityIDs: entityIDs, columns: columns, withOrder: withRowOrder)
      else { return nil }
      return try Self.encode(vectors, entityIDs: entityIDs, orders: orders)
    } catch {
      throw Self.rpcError(error)
    }
  }

  /// `encodedVectors` of columns already resolved.
  func encodedVectors(
    _ entityIDs: [String], columns: [ResolvedFeature], withRowOrder: Bool = false
  ) async throws(RPCError) -> [UInt8] {
    do {
      let (vectors, orders) = try await store.online(entityIDs: entityIDs, columns: columns, withOrder: withRowOrder)
      return try Self.encode(vectors, entityIDs: entityIDs, orders: orders)
    } catch {
      throw Self.rpcError(error)
    }
  }

  private func checkedColumns(_ request: Strata_V1_GetOnlineFeaturesRequest) throws(RPCError) -> [ResolvedFeature] {
    do {
      try sizeLimit.check(
        request, estimate: request.entityIds.reduce(0) { $0 + $1.utf8.count + 2 }, what: "the lookup request")
      return try store.resolve(try [FeatureRef](parsing: request.features))
    } catch {
      throw Self.rpcError(error)
    }
  }

  private static func encode(_ vectors: [[FeatureResult]], entityIDs: [String], orders: [RowOrders]) throws -> [UInt8] {
    var response = Strata_V1_GetOnlineFeaturesResponse()
    response.vectors.reserveCapacity(vectors.count)
    for (i, results) in vectors.enumerated() {
      var v = Strata_V1_FeatureVector()
      v.entityID = entityIDs[i]
      v.results = results.map(\.proto)
      response.vectors.append(v)
    }
    response.rowOrders = orders.map { $0.proto() }
    return try OnlineResponseEncoder.encode(response)
  }

  /// Any error as the status a caller gets (the mapping of `rpc { }`).
  static func rpcError(_ error: any Error) -> RPCError {
    switch error {
    case let e as StrataError: e.rpcError
    case let e as RPCError: e
    case is CancellationError: RPCError(code: .cancelled, message: "the call was cancelled")
    default: RPCError(code: .internalError, message: "internal error: \(error)")
    }
  }
}
