internal import EtcdProto
internal import GRPCCore

extension EtcdClient {
  /// Evaluates `compares` atomically and runs `then` if all hold, else `else`; all at one revision.
  ///
  /// This is etcd's only multi-key primitive and the way to make a change conditional on what was read:
  /// read a key (note its `modRevision`), compute, then
  /// `transaction(if: [.modRevision(key, .equal, seen)], then: [.put(...)])`: exactly one of several
  /// concurrent writers that read the same revision succeeds.
  ///
  /// A transaction whose branches only read is retried on other endpoints like a read; one that writes
  /// is never sent twice (see `EtcdClient`), so `succeeded == false` always means a comparison failed.
  public func transaction(
    if compares: [EtcdCompare], then success: [EtcdOperation], else failure: [EtcdOperation] = []
  ) async throws(EtcdError) -> EtcdTransactionResult {
    var request = Etcdserverpb_TxnRequest()
    request.compare = compares.map(Etcdserverpb_Compare.init)
    request.success = success.map(Etcdserverpb_RequestOp.init)
    request.failure = failure.map(Etcdserverpb_RequestOp.init)
    let writes = success.contains(where: \.writes) || failure.contains(where: \.writes)
    let keys = compares.map(\.key).joined(separator: ", ")
    let response = try await unary("transaction on [\(keys)]", retry: writes ? .ifNotSent : .always) {
      connection, options in
      try await connection.kv.txn(request, options: options)
    }
    var responses: [EtcdTransactionResult.Response] = []
    for op in response.responses {
      responses.append(try EtcdTransactionResult.Response(wire: op))
    }
    return EtcdTransactionResult(succeeded: response.succeeded, revision: response.header.revision, responses: responses)
  }
}
