public import GRPCCore
internal import GRPCProtobuf
internal import SwiftProtobuf
public import StrataProto
internal import StrataStorage
public import Logging

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
/// never decoded and encoded again. Every call is served by a coordinator on the topology's view
/// current when the call starts (`ClusterTopology`).
public struct ClusterFastPaths<Transport: ClientTransport>: RegistrableRPCService {
  let dispatcher: CoordinatorDispatcher<Transport>

  public init(local: FeatureStoreService, topology: ClusterTopology<Transport>, logger: Logger) {
    dispatcher = CoordinatorDispatcher(local: local, topology: topology, logger: logger)
  }

  /// A cluster whose membership never changes.
  public init(_ coordinator: ClusterCoordinator<Transport>) {
    dispatcher = CoordinatorDispatcher(local: coordinator.local, topology: coordinator.topology, logger: coordinator.logger)
  }

  public func registerMethods<ServerTransport: GRPCCore.ServerTransport>(with router: inout RPCRouter<ServerTransport>) {
    dispatcher.registerMethods(with: &router)
    let dispatcher = self.dispatcher
    router.registerHandler(
      forMethod: Strata_V1_FeatureStore.Method.GetOnlineFeatures.descriptor,
      deserializer: ProtobufDeserializer<Strata_V1_GetOnlineFeaturesRequest>(),
      serializer: RawBytesSerializer(),
      handler: { request, context in
        let single = try await ServerRequest(stream: request)
        let answer = try await dispatcher.coordinator.onlineAnswer(single.message)
        return StreamingServerResponse(single: ServerResponse(message: answer, metadata: [:]))
      })
  }
}

/// Serves each `FeatureStore` call with a `ClusterCoordinator` on the current view.
struct CoordinatorDispatcher<Transport: ClientTransport>: Strata_V1_FeatureStore.SimpleServiceProtocol {
  let local: FeatureStoreService
  let topology: ClusterTopology<Transport>
  let logger: Logger

  var coordinator: ClusterCoordinator<Transport> { ClusterCoordinator(local: local, topology: topology, logger: logger) }

  func applyFeatureGroups(request: Strata_V1_ApplyFeatureGroupsRequest, context: ServerContext) async throws -> Strata_V1_ApplyFeatureGroupsResponse {
    try await coordinator.applyFeatureGroups(request: request, context: context)
  }

  func listFeatureGroups(request: Strata_V1_ListFeatureGroupsRequest, context: ServerContext) async throws -> Strata_V1_ListFeatureGroupsResponse {
    try await coordinator.listFeatureGroups(request: request, context: context)
  }

  func getFeatureGroup(request: Strata_V1_GetFeatureGroupRequest, context: ServerContext) async throws -> Strata_V1_GetFeatureGroupResponse {
    try await coordinator.getFeatureGroup(request: request, context: context)
  }

  func setFeatureGroupStatus(
    request: Strata_V1_SetFeatureGroupStatusRequest, context: ServerContext
  ) async throws -> Strata_V1_SetFeatureGroupStatusResponse {
    try await coordinator.setFeatureGroupStatus(request: request, context: context)
  }

  func writeFeatures(
    request: RPCAsyncSequence<Strata_V1_WriteFeaturesRequest, any Error>, context: ServerContext
  ) async throws -> Strata_V1_WriteFeaturesResponse {
    try await coordinator.writeFeatures(request: request, context: context)
  }

  func pushEvents(
    request: RPCAsyncSequence<Strata_V1_PushEventsRequest, any Error>, response: RPCWriter<Strata_V1_PushEventsResponse>,
    context: ServerContext
  ) async throws {
    try await coordinator.pushEvents(request: request, response: response, context: context)
  }

  func getOnlineFeatures(request: Strata_V1_GetOnlineFeaturesRequest, context: ServerContext) async throws -> Strata_V1_GetOnlineFeaturesResponse {
    try await coordinator.getOnlineFeatures(request: request, context: context)
  }

  func getHistoricalFeatures(
    request: RPCAsyncSequence<Strata_V1_GetHistoricalFeaturesRequest, any Error>,
    response: RPCWriter<Strata_V1_GetHistoricalFeaturesResponse>, context: ServerContext
  ) async throws {
    try await coordinator.getHistoricalFeatures(request: request, response: response, context: context)
  }

  func getStatus(request: Strata_V1_GetStatusRequest, context: ServerContext) async throws -> Strata_V1_GetStatusResponse {
    try await coordinator.getStatus(request: request, context: context)
  }

  func getLineage(request: Strata_V1_GetLineageRequest, context: ServerContext) async throws -> Strata_V1_GetLineageResponse {
    try await coordinator.getLineage(request: request, context: context)
  }

  func ping(request: Strata_V1_PingRequest, context: ServerContext) async throws -> Strata_V1_PingResponse {
    try await coordinator.ping(request: request, context: context)
  }

  func registerModel(request: Strata_V1_RegisterModelRequest, context: ServerContext) async throws -> Strata_V1_RegisterModelResponse {
    try await coordinator.registerModel(request: request, context: context)
  }

  func listModels(request: Strata_V1_ListModelsRequest, context: ServerContext) async throws -> Strata_V1_ListModelsResponse {
    try await coordinator.listModels(request: request, context: context)
  }

  func getModel(request: Strata_V1_GetModelRequest, context: ServerContext) async throws -> Strata_V1_GetModelResponse {
    try await coordinator.getModel(request: request, context: context)
  }

  func setModelStatus(request: Strata_V1_SetModelStatusRequest, context: ServerContext) async throws -> Strata_V1_SetModelStatusResponse {
    try await coordinator.setModelStatus(request: request, context: context)
  }

  func listTrainingSets(
    request: Strata_V1_ListTrainingSetsRequest, context: ServerContext
  ) async throws -> Strata_V1_ListTrainingSetsResponse {
    try await coordinator.listTrainingSets(request: request, context: context)
  }

  func repair(request: Strata_V1_RepairRequest, context: ServerContext) async throws -> Strata_V1_RepairResponse {
    try await coordinator.repair(request: request, context: context)
  }

  func changeMembership(
    request: Strata_V1_ChangeMembershipRequest, context: ServerContext
  ) async throws -> Strata_V1_ChangeMembershipResponse {
    try await coordinator.changeMembership(request: request, context: context)
  }
}
