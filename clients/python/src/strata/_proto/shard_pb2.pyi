from . import feature_store_pb2 as _feature_store_pb2
from . import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RegistrySnapshot(_message.Message):
    __slots__ = ("groups", "generation")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[_types_pb2.FeatureGroup]
    generation: int
    def __init__(self, groups: _Optional[_Iterable[_Union[_types_pb2.FeatureGroup, _Mapping]]] = ..., generation: _Optional[int] = ...) -> None: ...

class PutRegistryResponse(_message.Message):
    __slots__ = ("added",)
    ADDED_FIELD_NUMBER: _ClassVar[int]
    added: int
    def __init__(self, added: _Optional[int] = ...) -> None: ...

class GetRegistryRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
