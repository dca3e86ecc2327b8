from . import feature_store_pb2 as _feature_store_pb2
from . import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DigestRequest(_message.Message):
    __slots__ = ("peer", "moving_to_epoch")
    PEER_FIELD_NUMBER: _ClassVar[int]
    MOVING_TO_EPOCH_FIELD_NUMBER: _ClassVar[int]
    peer: str
    moving_to_epoch: int
    def __init__(self, peer: _Optional[str] = ..., moving_to_epoch: _Optional[int] = ...) -> None: ...

class BucketDigest(_message.Message):
    __slots__ = ("bucket", "group", "version", "sum", "rows")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    bucket: int
    group: str
    version: int
    sum: int
    rows: int
    def __init__(self, bucket: _Optional[int] = ..., group: _Optional[str] = ..., version: _Optional[int] = ..., sum: _Optional[int] = ..., rows: _Optional[int] = ...) -> None: ...

class DigestResponse(_message.Message):
    __slots__ = ("digests",)
    DIGESTS_FIELD_NUMBER: _ClassVar[int]
    digests: _containers.RepeatedCompositeFieldContainer[BucketDigest]
    def __init__(self, digests: _Optional[_Iterable[_Union[BucketDigest, _Mapping]]] = ...) -> None: ...

class RangeRowsRequest(_message.Message):
    __slots__ = ("peer", "bucket", "group", "version", "moving_to_epoch")
    PEER_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MOVING_TO_EPOCH_FIELD_NUMBER: _ClassVar[int]
    peer: str
    bucket: int
    group: str
    version: int
    moving_to_epoch: int
    def __init__(self, peer: _Optional[str] = ..., bucket: _Optional[int] = ..., group: _Optional[str] = ..., version: _Optional[int] = ..., moving_to_epoch: _Optional[int] = ...) -> None: ...

class ShardLookup(_message.Message):
    __slots__ = ("id", "request", "ring_epoch")
    ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    RING_EPOCH_FIELD_NUMBER: _ClassVar[int]
    id: int
    request: _feature_store_pb2.GetOnlineFeaturesRequest
    ring_epoch: int
    def __init__(self, id: _Optional[int] = ..., request: _Optional[_Union[_feature_store_pb2.GetOnlineFeaturesRequest, _Mapping]] = ..., ring_epoch: _Optional[int] = ...) -> None: ...

class ShardLookupAnswer(_message.Message):
    __slots__ = ("id", "response", "code", "message")
    ID_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    id: int
    response: _feature_store_pb2.GetOnlineFeaturesResponse
    code: int
    message: str
    def __init__(self, id: _Optional[int] = ..., response: _Optional[_Union[_feature_store_pb2.GetOnlineFeaturesResponse, _Mapping]] = ..., code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class GetLookupLaneRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LookupLane(_message.Message):
    __slots__ = ("port", "host")
    PORT_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    port: int
    host: str
    def __init__(self, port: _Optional[int] = ..., host: _Optional[str] = ...) -> None: ...

class RegistrySnapshot(_message.Message):
    __slots__ = ("groups", "generation", "models", "training_sets")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    TRAINING_SETS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[_types_pb2.FeatureGroup]
    generation: int
    models: _containers.RepeatedCompositeFieldContainer[_types_pb2.Model]
    training_sets: _containers.RepeatedCompositeFieldContainer[_types_pb2.TrainingSet]
    def __init__(self, groups: _Optional[_Iterable[_Union[_types_pb2.FeatureGroup, _Mapping]]] = ..., generation: _Optional[int] = ..., models: _Optional[_Iterable[_Union[_types_pb2.Model, _Mapping]]] = ..., training_sets: _Optional[_Iterable[_Union[_types_pb2.TrainingSet, _Mapping]]] = ...) -> None: ...

class PutRegistryResponse(_message.Message):
    __slots__ = ("added",)
    ADDED_FIELD_NUMBER: _ClassVar[int]
    added: int
    def __init__(self, added: _Optional[int] = ...) -> None: ...

class GetRegistryRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
