public import GRPCCore
internal import GRPCProtobuf
internal import SwiftProtobuf
public import StrataProto
internal import StrataStorage

// The hot paths of the public service, registered with gRPC's router in place of the generated
// registrations: answers encoded faster, and bulk decoding and encoding moved off the cooperative pool.

/// The serializer of `GetOnlineFeatures` answers: `OnlineResponseEncoder`.
struct OnlineResponseSerializer: MessageSerializer {
  func serialize<Bytes: GRPCContiguousBytes>(_ message: Strata_V1_GetOnlineFeaturesResponse) throws -> Bytes {
    let encoded = try OnlineResponseEncoder.encode(message)
    return Bytes(encoded)
  }
}

/// A `FeatureStore` service whose `GetOnlineFeatures` answers are encoded by `OnlineResponseEncoder`
/// (same bytes, less CPU); every other method is the wrapped service's own registration.
public struct FastOnlineEncoding<Base: Strata_V1_FeatureStore.ServiceProtocol>: RegistrableRPCService {
  public let base: Base

  public init(_ base: Base) {
    self.base = base
  }

  public func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
    base.registerMethods(with: &router)
    let base = self.base
    router.registerHandler(
      forMethod: Strata_V1_FeatureStore.Method.GetOnlineFeatures.descriptor,
      deserializer: ProtobufDeserializer<Strata_V1_GetOnlineFeaturesRequest>(),
      serializer: OnlineResponseSerializer(),
      handler: { request, context in try await base.getOnlineFeatures(request: request, context: context) })
  }
}

/// Sends bytes that are already an encoded message.
struct RawBytesSerializer: MessageSerializer {
  func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
}

/// Hands a message's bytes over undecoded.
struct RawBytesDeserializer: MessageDeserializer {
  func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
    serializedMessageBytes.withUnsafeBytes { Array($0) }
  }
}

/// A single node's `FeatureStore` service with its hot paths tuned: `GetOnlineFeatures` answers
/// encoded by `OnlineResponseEncoder`; `WriteFeatures` batches decoded on the store's writer thread
/// (`FeatureStoreService.writeFeatures(raw:)`) and `GetHistoricalFeatures` messages decoded and encoded
/// on the bulk threads (`getHistoricalFeatures(raw:response:context:)`), instead of on the cooperative
/// pool that serves online lookups. Every other method is the service's own registration.
public struct FeatureStoreFastPaths: RegistrableRPCService {
  public let service: FeatureStoreService

  public init(_ service: FeatureStoreService) {
    self.service = service
  }

  public func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
    FastOnlineEncoding(service).registerMethods(with: &router)
    let service = self.service
    router.registerHandler(
      forMethod: Strata_V1_FeatureStore.Method.WriteFeatures.descriptor,
      deserializer: RawBytesDeserializer(),
      serializer: ProtobufSerializer<Strata_V1_WriteFeaturesResponse>(),
      handler: { request, context in
        let response = try await service.writeFeatures(raw: request.messages)
        return StreamingServerResponse(single: ServerResponse(message: response, metadata: [:]))
      })
    router.registerHandler(
      forMethod: Strata_V1_FeatureStore.Method.GetHistoricalFeatures.descriptor,
      deserializer: RawBytesDeserializer(),
      serializer: RawBytesSerializer(),
      handler: { request, context in
        StreamingServerResponse(of: [UInt8].self) { writer in
          try await service.getHistoricalFeatures(raw: request.messages, response: writer, context: context)
          return [:]
        }
      })
  }
}

/// Encodes each message on the bulk threads, then writes its bytes.
struct BulkEncodingWriter<Message: SwiftProtobuf.Message>: RPCWriterProtocol {
  let base: RPCWriter<[UInt8]>

  func write(_ element: Message) async throws {
    let bytes = try await BackgroundThreads.shared.run { try element.serializedBytes() as [UInt8] }
    try await base.write(bytes)
  }

  func write(contentsOf elements: some Sequence<Message>) async throws {
    for element in elements { try await write(element) }
  }
}

/// A cluster node's `FeatureStore` service with its online hot path tuned: `GetOnlineFeatures`
/// answers are the owners' encoded vectors spliced together (`ClusterCoordinator.onlineAnswer`),
/// never decoded and encoded again. Every other method is the coordinator's own registration.
public struct ClusterFastPaths<Transport: ClientTransport>: RegistrableRPCService {
  public let coordinator: ClusterCoordinator<Transport>

  public init(_ coordinator: ClusterCoordinator<Transport>) {
    self.coordinator = coordinator
  }

  public func registerMethods<ServerTransport: GRPCCore.ServerTransport>(with router: inout RPCRouter<ServerTransport>) {
    coordinator.registerMethods(with: &router)
    let coordinator = self.coordinator
    router.registerHandler(
      forMethod: Strata_V1_FeatureStore.Method.GetOnlineFeatures.descriptor,
      deserializer: ProtobufDeserializer<Strata_V1_GetOnlineFeaturesRequest>(),
      serializer: RawBytesSerializer(),
      handler: { request, context in
        let single = try await ServerRequest(stream: request)
        let answer = try await coordinator.onlineAnswer(single.message)
        return StreamingServerResponse(single: ServerResponse(message: answer, metadata: [:]))
      })
  }
}
