from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DTYPE_UNSPECIFIED: _ClassVar[DType]
    DTYPE_FLOAT: _ClassVar[DType]
    DTYPE_INT: _ClassVar[DType]
    DTYPE_STRING: _ClassVar[DType]
    DTYPE_EMBEDDING: _ClassVar[DType]

class EntityType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENTITY_TYPE_UNSPECIFIED: _ClassVar[EntityType]
    ENTITY_TYPE_USER: _ClassVar[EntityType]
    ENTITY_TYPE_ITEM: _ClassVar[EntityType]
    ENTITY_TYPE_SESSION: _ClassVar[EntityType]

class GroupStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GROUP_STATUS_UNSPECIFIED: _ClassVar[GroupStatus]
    GROUP_STATUS_ACTIVE: _ClassVar[GroupStatus]
    GROUP_STATUS_DEPRECATED: _ClassVar[GroupStatus]
    GROUP_STATUS_RETIRED: _ClassVar[GroupStatus]

class ValueStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VALUE_STATUS_UNSPECIFIED: _ClassVar[ValueStatus]
    VALUE_STATUS_PRESENT: _ClassVar[ValueStatus]
    VALUE_STATUS_DEFAULTED: _ClassVar[ValueStatus]
    VALUE_STATUS_MISSING: _ClassVar[ValueStatus]
    VALUE_STATUS_EXPIRED: _ClassVar[ValueStatus]

class AggregateFunction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGGREGATE_FUNCTION_UNSPECIFIED: _ClassVar[AggregateFunction]
    AGGREGATE_FUNCTION_COUNT: _ClassVar[AggregateFunction]
    AGGREGATE_FUNCTION_SUM: _ClassVar[AggregateFunction]
    AGGREGATE_FUNCTION_AVG: _ClassVar[AggregateFunction]
    AGGREGATE_FUNCTION_MIN: _ClassVar[AggregateFunction]
    AGGREGATE_FUNCTION_MAX: _ClassVar[AggregateFunction]
    AGGREGATE_FUNCTION_LAST: _ClassVar[AggregateFunction]

class GroupKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GROUP_KIND_ROWS: _ClassVar[GroupKind]
    GROUP_KIND_STREAM: _ClassVar[GroupKind]
    GROUP_KIND_AGGREGATES: _ClassVar[GroupKind]

class ModelStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_STATUS_UNSPECIFIED: _ClassVar[ModelStatus]
    MODEL_STATUS_ACTIVE: _ClassVar[ModelStatus]
    MODEL_STATUS_ARCHIVED: _ClassVar[ModelStatus]
DTYPE_UNSPECIFIED: DType
DTYPE_FLOAT: DType
DTYPE_INT: DType
DTYPE_STRING: DType
DTYPE_EMBEDDING: DType
ENTITY_TYPE_UNSPECIFIED: EntityType
ENTITY_TYPE_USER: EntityType
ENTITY_TYPE_ITEM: EntityType
ENTITY_TYPE_SESSION: EntityType
GROUP_STATUS_UNSPECIFIED: GroupStatus
GROUP_STATUS_ACTIVE: GroupStatus
GROUP_STATUS_DEPRECATED: GroupStatus
GROUP_STATUS_RETIRED: GroupStatus
VALUE_STATUS_UNSPECIFIED: ValueStatus
VALUE_STATUS_PRESENT: ValueStatus
VALUE_STATUS_DEFAULTED: ValueStatus
VALUE_STATUS_MISSING: ValueStatus
VALUE_STATUS_EXPIRED: ValueStatus
AGGREGATE_FUNCTION_UNSPECIFIED: AggregateFunction
AGGREGATE_FUNCTION_COUNT: AggregateFunction
AGGREGATE_FUNCTION_SUM: AggregateFunction
AGGREGATE_FUNCTION_AVG: AggregateFunction
AGGREGATE_FUNCTION_MIN: AggregateFunction
AGGREGATE_FUNCTION_MAX: AggregateFunction
AGGREGATE_FUNCTION_LAST: AggregateFunction
GROUP_KIND_ROWS: GroupKind
GROUP_KIND_STREAM: GroupKind
GROUP_KIND_AGGREGATES: GroupKind
MODEL_STATUS_UNSPECIFIED: ModelStatus
MODEL_STATUS_ACTIVE: ModelStatus
MODEL_STATUS_ARCHIVED: ModelStatus

class Embedding(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class Value(_message.Message):
    __slots__ = ("float_value", "int_value", "string_value", "embedding_value")
    FLOAT_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_VALUE_FIELD_NUMBER: _ClassVar[int]
    float_value: float
    int_value: int
    string_value: str
    embedding_value: Embedding
    def __init__(self, float_value: _Optional[float] = ..., int_value: _Optional[int] = ..., string_value: _Optional[str] = ..., embedding_value: _Optional[_Union[Embedding, _Mapping]] = ...) -> None: ...

class FeatureSpec(_message.Message):
    __slots__ = ("name", "dtype", "embedding_dim", "default_value", "description", "aggregation")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_DIM_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    AGGREGATION_FIELD_NUMBER: _ClassVar[int]
    name: str
    dtype: DType
    embedding_dim: int
    default_value: Value
    description: str
    aggregation: Aggregation
    def __init__(self, name: _Optional[str] = ..., dtype: _Optional[_Union[DType, str]] = ..., embedding_dim: _Optional[int] = ..., default_value: _Optional[_Union[Value, _Mapping]] = ..., description: _Optional[str] = ..., aggregation: _Optional[_Union[Aggregation, _Mapping]] = ...) -> None: ...

class Aggregation(_message.Message):
    __slots__ = ("field", "function", "window_seconds")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    field: str
    function: AggregateFunction
    window_seconds: int
    def __init__(self, field: _Optional[str] = ..., function: _Optional[_Union[AggregateFunction, str]] = ..., window_seconds: _Optional[int] = ...) -> None: ...

class FeatureGroupSpec(_message.Message):
    __slots__ = ("name", "entity_type", "description", "owner", "refresh_interval_seconds", "max_age_seconds", "features", "kind", "stream", "stream_version", "retention_seconds", "lineage")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENTITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    REFRESH_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    STREAM_VERSION_FIELD_NUMBER: _ClassVar[int]
    RETENTION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    entity_type: EntityType
    description: str
    owner: str
    refresh_interval_seconds: int
    max_age_seconds: int
    features: _containers.RepeatedCompositeFieldContainer[FeatureSpec]
    kind: GroupKind
    stream: str
    stream_version: int
    retention_seconds: int
    lineage: Lineage
    def __init__(self, name: _Optional[str] = ..., entity_type: _Optional[_Union[EntityType, str]] = ..., description: _Optional[str] = ..., owner: _Optional[str] = ..., refresh_interval_seconds: _Optional[int] = ..., max_age_seconds: _Optional[int] = ..., features: _Optional[_Iterable[_Union[FeatureSpec, _Mapping]]] = ..., kind: _Optional[_Union[GroupKind, str]] = ..., stream: _Optional[str] = ..., stream_version: _Optional[int] = ..., retention_seconds: _Optional[int] = ..., lineage: _Optional[_Union[Lineage, _Mapping]] = ...) -> None: ...

class Lineage(_message.Message):
    __slots__ = ("source", "transformation", "upstream", "pipeline")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TRANSFORMATION_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    source: str
    transformation: str
    upstream: _containers.RepeatedScalarFieldContainer[str]
    pipeline: str
    def __init__(self, source: _Optional[str] = ..., transformation: _Optional[str] = ..., upstream: _Optional[_Iterable[str]] = ..., pipeline: _Optional[str] = ...) -> None: ...

class FeatureGroup(_message.Message):
    __slots__ = ("spec", "version", "status", "created_at_micros", "status_changes")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MICROS_FIELD_NUMBER: _ClassVar[int]
    STATUS_CHANGES_FIELD_NUMBER: _ClassVar[int]
    spec: FeatureGroupSpec
    version: int
    status: GroupStatus
    created_at_micros: int
    status_changes: _containers.RepeatedCompositeFieldContainer[StatusChange]
    def __init__(self, spec: _Optional[_Union[FeatureGroupSpec, _Mapping]] = ..., version: _Optional[int] = ..., status: _Optional[_Union[GroupStatus, str]] = ..., created_at_micros: _Optional[int] = ..., status_changes: _Optional[_Iterable[_Union[StatusChange, _Mapping]]] = ...) -> None: ...

class StatusChange(_message.Message):
    __slots__ = ("to", "at_micros", "changed_by", "reason")
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    AT_MICROS_FIELD_NUMBER: _ClassVar[int]
    CHANGED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    to: GroupStatus
    at_micros: int
    changed_by: str
    reason: str
    def __init__(self, to: _Optional[_Union[GroupStatus, str]] = ..., at_micros: _Optional[int] = ..., changed_by: _Optional[str] = ..., reason: _Optional[str] = ..., **kwargs) -> None: ...

class FeatureColumn(_message.Message):
    __slots__ = ("ref", "group", "version", "feature", "dtype", "embedding_dim")
    REF_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_DIM_FIELD_NUMBER: _ClassVar[int]
    ref: str
    group: str
    version: int
    feature: str
    dtype: DType
    embedding_dim: int
    def __init__(self, ref: _Optional[str] = ..., group: _Optional[str] = ..., version: _Optional[int] = ..., feature: _Optional[str] = ..., dtype: _Optional[_Union[DType, str]] = ..., embedding_dim: _Optional[int] = ...) -> None: ...

class FeatureResult(_message.Message):
    __slots__ = ("value", "status", "event_timestamp_micros")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIMESTAMP_MICROS_FIELD_NUMBER: _ClassVar[int]
    value: Value
    status: ValueStatus
    event_timestamp_micros: int
    def __init__(self, value: _Optional[_Union[Value, _Mapping]] = ..., status: _Optional[_Union[ValueStatus, str]] = ..., event_timestamp_micros: _Optional[int] = ...) -> None: ...

class Model(_message.Message):
    __slots__ = ("name", "version", "features", "training_set", "description", "status", "registered_at_micros", "registered_by", "status_changes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    TRAINING_SET_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AT_MICROS_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_BY_FIELD_NUMBER: _ClassVar[int]
    STATUS_CHANGES_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    features: _containers.RepeatedScalarFieldContainer[str]
    training_set: str
    description: str
    status: ModelStatus
    registered_at_micros: int
    registered_by: str
    status_changes: _containers.RepeatedCompositeFieldContainer[ModelStatusChange]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., features: _Optional[_Iterable[str]] = ..., training_set: _Optional[str] = ..., description: _Optional[str] = ..., status: _Optional[_Union[ModelStatus, str]] = ..., registered_at_micros: _Optional[int] = ..., registered_by: _Optional[str] = ..., status_changes: _Optional[_Iterable[_Union[ModelStatusChange, _Mapping]]] = ...) -> None: ...

class ModelStatusChange(_message.Message):
    __slots__ = ("to", "at_micros", "changed_by", "reason")
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    AT_MICROS_FIELD_NUMBER: _ClassVar[int]
    CHANGED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    to: ModelStatus
    at_micros: int
    changed_by: str
    reason: str
    def __init__(self, to: _Optional[_Union[ModelStatus, str]] = ..., at_micros: _Optional[int] = ..., changed_by: _Optional[str] = ..., reason: _Optional[str] = ..., **kwargs) -> None: ...

class TrainingSet(_message.Message):
    __slots__ = ("name", "features", "label_rows", "label_checksum", "first_label_micros", "last_label_micros", "used_known_at", "created_at_micros", "created_by", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    LABEL_ROWS_FIELD_NUMBER: _ClassVar[int]
    LABEL_CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    FIRST_LABEL_MICROS_FIELD_NUMBER: _ClassVar[int]
    LAST_LABEL_MICROS_FIELD_NUMBER: _ClassVar[int]
    USED_KNOWN_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MICROS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    features: _containers.RepeatedScalarFieldContainer[str]
    label_rows: int
    label_checksum: str
    first_label_micros: int
    last_label_micros: int
    used_known_at: bool
    created_at_micros: int
    created_by: str
    description: str
    def __init__(self, name: _Optional[str] = ..., features: _Optional[_Iterable[str]] = ..., label_rows: _Optional[int] = ..., label_checksum: _Optional[str] = ..., first_label_micros: _Optional[int] = ..., last_label_micros: _Optional[int] = ..., used_known_at: _Optional[bool] = ..., created_at_micros: _Optional[int] = ..., created_by: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...
