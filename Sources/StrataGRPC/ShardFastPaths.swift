public import GRPCCore
internal import GRPCProtobuf
public import StrataProto
internal import StrataStorage

// The bulk paths of the internode service, registered with gRPC's router in place of the generated
// registrations so that their protobuf work runs off the cooperative pool, which serves online lookups.

/// A cluster node's `Shard` service with its bulk paths moved off the cooperative pool:
/// - `WriteBatch` (replica writes, hints, rows repair and range transfers send): each message is decoded
///   on the store's writer thread, like a client's `WriteFeatures` (`FeatureStoreFastPaths`);
/// - `GetRangeRows` (repair and range transfers read): rows become messages and messages bytes on the
///   bulk threads (`BackgroundThreads`, below normal priority).
/// The bytes on the wire are the generated registrations'; every other method is the service's own.
public struct ShardFastPaths<Transport: ClientTransport>: RegistrableRPCService {
  public let shard: ShardService<Transport>

  public init(_ shard: ShardService<Transport>) {
    self.shard = shard
  }

  public func registerMethods<Server: ServerTransport>(with router: inout RPCRouter<Server>) {
    shard.registerMethods(with: &router)
    let shard = self.shard
    router.registerHandler(
      forMethod: Strata_V1_Shard.Method.WriteBatch.descriptor,
      deserializer: RawBytesDeserializer(),
      serializer: ProtobufSerializer<Strata_V1_WriteFeaturesResponse>(),
      handler: { request, context in
        let single = try await ServerRequest(stream: request)
        let response = try await shard.writeBatch(raw: single.message)
        return StreamingServerResponse(single: ServerResponse(message: response, metadata: [:]))
      })
    router.registerHandler(
      forMethod: Strata_V1_Shard.Method.GetRangeRows.descriptor,
      deserializer: ProtobufDeserializer<Strata_V1_RangeRowsRequest>(),
      serializer: RawBytesSerializer(),
      handler: { request, context in
        let single = try await ServerRequest(stream: request)
        return StreamingServerResponse(of: [UInt8].self) { writer in
          try await shard.getRangeRows(
            request: single.message, response: RPCWriter(wrapping: BulkEncodingWriter<Strata_V1_WriteFeaturesRequest>(base: writer)),
            context: context)
          return [:]
        }
      })
  }
}
