internal import EtcdProto
internal import Foundation

// Conversions between StrataEtcd's types and etcd's wire messages. Nothing else touches EtcdProto types.

extension EtcdKeyValue {
  init(wire kv: Mvccpb_KeyValue) {
    self.init(
      key: String(decoding: kv.key, as: UTF8.self), value: [UInt8](kv.value), createRevision: kv.createRevision,
      modRevision: kv.modRevision, version: kv.version, lease: kv.lease)
  }
}

extension EtcdEvent {
  init(wire event: Mvccpb_Event) {
    self.init(kind: event.type == .delete ? .delete : .put, keyValue: EtcdKeyValue(wire: event.kv))
  }
}

extension EtcdRangeResult {
  init(wire response: Etcdserverpb_RangeResponse) {
    self.init(
      revision: response.header.revision, keyValues: response.kvs.map(EtcdKeyValue.init(wire:)),
      more: response.more, count: response.count)
  }
}

extension Etcdserverpb_RangeRequest {
  init(_ range: EtcdKeyRange, revision: Int64, limit: Int64) {
    self.init()
    key = Data(range.key)
    rangeEnd = Data(range.rangeEnd)
    self.revision = revision
    self.limit = limit
  }
}

extension Etcdserverpb_PutRequest {
  init(key: String, value: [UInt8], lease: Int64?) {
    self.init()
    self.key = Data(key.utf8)
    self.value = Data(value)
    self.lease = lease ?? 0
  }
}

extension Etcdserverpb_DeleteRangeRequest {
  init(_ range: EtcdKeyRange) {
    self.init()
    key = Data(range.key)
    rangeEnd = Data(range.rangeEnd)
  }
}

extension Etcdserverpb_Compare {
  init(_ compare: EtcdCompare) {
    self.init()
    key = Data(compare.key.utf8)
    switch compare.relation {
    case .equal: result = .equal
    case .notEqual: result = .notEqual
    case .less: result = .less
    case .greater: result = .greater
    }
    switch compare.target {
    case .modRevision(let revision):
      target = .mod
      modRevision = revision
    case .createRevision(let revision):
      target = .create
      createRevision = revision
    case .version(let version):
      target = .version
      self.version = version
    case .value(let bytes):
      target = .value
      value = Data(bytes)
    }
  }
}

extension Etcdserverpb_RequestOp {
  init(_ operation: EtcdOperation) {
    self.init()
    switch operation {
    case .put(let key, let value, let lease):
      request = .requestPut(Etcdserverpb_PutRequest(key: key, value: value, lease: lease))
    case .delete(let range):
      request = .requestDeleteRange(Etcdserverpb_DeleteRangeRequest(range))
    case .get(let range):
      request = .requestRange(Etcdserverpb_RangeRequest(range, revision: 0, limit: 0))
    }
  }
}

extension EtcdTransactionResult.Response {
  init(wire response: Etcdserverpb_ResponseOp) throws(EtcdError) {
    switch response.response {
    case .responsePut: self = .put
    case .responseDeleteRange(let delete): self = .delete(deleted: delete.deleted)
    case .responseRange(let range): self = .get(EtcdRangeResult(wire: range))
    case .responseTxn, .none:
      throw EtcdError(.internalError, "etcd answered a transaction with an operation this client did not send")
    }
  }
}

extension EtcdOperation {
  /// Whether the operation changes the store (a transaction with writes is not safe to send twice).
  var writes: Bool {
    switch self {
    case .put, .delete: true
    case .get: false
    }
  }
}
