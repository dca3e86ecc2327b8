from . import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Consistency(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSISTENCY_DEFAULT: _ClassVar[Consistency]
    CONSISTENCY_ONE: _ClassVar[Consistency]
    CONSISTENCY_QUORUM: _ClassVar[Consistency]
    CONSISTENCY_ALL: _ClassVar[Consistency]

class FreshnessState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FRESHNESS_STATE_UNSPECIFIED: _ClassVar[FreshnessState]
    FRESHNESS_STATE_FRESH: _ClassVar[FreshnessState]
    FRESHNESS_STATE_LATE: _ClassVar[FreshnessState]
    FRESHNESS_STATE_ALERT: _ClassVar[FreshnessState]
    FRESHNESS_STATE_UNTRACKED: _ClassVar[FreshnessState]

class FreshnessTier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FRESHNESS_TIER_UNSPECIFIED: _ClassVar[FreshnessTier]
    FRESHNESS_TIER_BATCH: _ClassVar[FreshnessTier]
    FRESHNESS_TIER_NEAR_REAL_TIME: _ClassVar[FreshnessTier]
    FRESHNESS_TIER_STREAMING: _ClassVar[FreshnessTier]
CONSISTENCY_DEFAULT: Consistency
CONSISTENCY_ONE: Consistency
CONSISTENCY_QUORUM: Consistency
CONSISTENCY_ALL: Consistency
FRESHNESS_STATE_UNSPECIFIED: FreshnessState
FRESHNESS_STATE_FRESH: FreshnessState
FRESHNESS_STATE_LATE: FreshnessState
FRESHNESS_STATE_ALERT: FreshnessState
FRESHNESS_STATE_UNTRACKED: FreshnessState
FRESHNESS_TIER_UNSPECIFIED: FreshnessTier
FRESHNESS_TIER_BATCH: FreshnessTier
FRESHNESS_TIER_NEAR_REAL_TIME: FreshnessTier
FRESHNESS_TIER_STREAMING: FreshnessTier

class ChangeMembershipRequest(_message.Message):
    __slots__ = ("action", "node", "replacement", "address", "internode_port", "zone")
    class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ACTION_UNSPECIFIED: _ClassVar[ChangeMembershipRequest.Action]
        ADD: _ClassVar[ChangeMembershipRequest.Action]
        REMOVE: _ClassVar[ChangeMembershipRequest.Action]
        REPLACE: _ClassVar[ChangeMembershipRequest.Action]
        CLEANUP: _ClassVar[ChangeMembershipRequest.Action]
        STATUS: _ClassVar[ChangeMembershipRequest.Action]
        ABORT: _ClassVar[ChangeMembershipRequest.Action]
    ACTION_UNSPECIFIED: ChangeMembershipRequest.Action
    ADD: ChangeMembershipRequest.Action
    REMOVE: ChangeMembershipRequest.Action
    REPLACE: ChangeMembershipRequest.Action
    CLEANUP: ChangeMembershipRequest.Action
    STATUS: ChangeMembershipRequest.Action
    ABORT: ChangeMembershipRequest.Action
    ACTION_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    REPLACEMENT_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    INTERNODE_PORT_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    action: ChangeMembershipRequest.Action
    node: str
    replacement: str
    address: str
    internode_port: int
    zone: str
    def __init__(self, action: _Optional[_Union[ChangeMembershipRequest.Action, str]] = ..., node: _Optional[str] = ..., replacement: _Optional[str] = ..., address: _Optional[str] = ..., internode_port: _Optional[int] = ..., zone: _Optional[str] = ...) -> None: ...

class ChangeMembershipResponse(_message.Message):
    __slots__ = ("change", "ring_epoch", "members")
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    RING_EPOCH_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    change: MembershipChange
    ring_epoch: int
    members: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, change: _Optional[_Union[MembershipChange, _Mapping]] = ..., ring_epoch: _Optional[int] = ..., members: _Optional[_Iterable[str]] = ...) -> None: ...

class MembershipChange(_message.Message):
    __slots__ = ("kind", "node", "replacement", "phase", "from_epoch", "from_members", "to_members", "started_at_micros", "driver", "transfers", "cleanup_at_micros")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    REPLACEMENT_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    FROM_EPOCH_FIELD_NUMBER: _ClassVar[int]
    FROM_MEMBERS_FIELD_NUMBER: _ClassVar[int]
    TO_MEMBERS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_MICROS_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    TRANSFERS_FIELD_NUMBER: _ClassVar[int]
    CLEANUP_AT_MICROS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    node: str
    replacement: str
    phase: str
    from_epoch: int
    from_members: _containers.RepeatedScalarFieldContainer[str]
    to_members: _containers.RepeatedScalarFieldContainer[str]
    started_at_micros: int
    driver: str
    transfers: _containers.RepeatedCompositeFieldContainer[RangeTransfer]
    cleanup_at_micros: int
    def __init__(self, kind: _Optional[str] = ..., node: _Optional[str] = ..., replacement: _Optional[str] = ..., phase: _Optional[str] = ..., from_epoch: _Optional[int] = ..., from_members: _Optional[_Iterable[str]] = ..., to_members: _Optional[_Iterable[str]] = ..., started_at_micros: _Optional[int] = ..., driver: _Optional[str] = ..., transfers: _Optional[_Iterable[_Union[RangeTransfer, _Mapping]]] = ..., cleanup_at_micros: _Optional[int] = ...) -> None: ...

class RangeTransfer(_message.Message):
    __slots__ = ("target", "token_share", "sources", "sources_done", "buckets_done", "buckets_total", "rows_received", "bytes_received", "started_at_micros", "updated_at_micros", "done", "error")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TOKEN_SHARE_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    SOURCES_DONE_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_DONE_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ROWS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    BYTES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_MICROS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MICROS_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    target: str
    token_share: float
    sources: _containers.RepeatedScalarFieldContainer[str]
    sources_done: int
    buckets_done: int
    buckets_total: int
    rows_received: int
    bytes_received: int
    started_at_micros: int
    updated_at_micros: int
    done: bool
    error: str
    def __init__(self, target: _Optional[str] = ..., token_share: _Optional[float] = ..., sources: _Optional[_Iterable[str]] = ..., sources_done: _Optional[int] = ..., buckets_done: _Optional[int] = ..., buckets_total: _Optional[int] = ..., rows_received: _Optional[int] = ..., bytes_received: _Optional[int] = ..., started_at_micros: _Optional[int] = ..., updated_at_micros: _Optional[int] = ..., done: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class RepairRequest(_message.Message):
    __slots__ = ("max_rows_per_second",)
    MAX_ROWS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    max_rows_per_second: int
    def __init__(self, max_rows_per_second: _Optional[int] = ...) -> None: ...

class RepairResponse(_message.Message):
    __slots__ = ("node_id", "peers_repaired", "buckets_compared", "buckets_differing", "rows_received", "rows_sent", "peers_failed", "duration_micros")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PEERS_REPAIRED_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_COMPARED_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_DIFFERING_FIELD_NUMBER: _ClassVar[int]
    ROWS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    ROWS_SENT_FIELD_NUMBER: _ClassVar[int]
    PEERS_FAILED_FIELD_NUMBER: _ClassVar[int]
    DURATION_MICROS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    peers_repaired: int
    buckets_compared: int
    buckets_differing: int
    rows_received: int
    rows_sent: int
    peers_failed: _containers.RepeatedCompositeFieldContainer[RepairPeerFailure]
    duration_micros: int
    def __init__(self, node_id: _Optional[str] = ..., peers_repaired: _Optional[int] = ..., buckets_compared: _Optional[int] = ..., buckets_differing: _Optional[int] = ..., rows_received: _Optional[int] = ..., rows_sent: _Optional[int] = ..., peers_failed: _Optional[_Iterable[_Union[RepairPeerFailure, _Mapping]]] = ..., duration_micros: _Optional[int] = ...) -> None: ...

class RepairPeerFailure(_message.Message):
    __slots__ = ("node_id", "address", "message")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    address: str
    message: str
    def __init__(self, node_id: _Optional[str] = ..., address: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ApplyFeatureGroupsRequest(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[_types_pb2.FeatureGroupSpec]
    def __init__(self, groups: _Optional[_Iterable[_Union[_types_pb2.FeatureGroupSpec, _Mapping]]] = ...) -> None: ...

class ApplyFeatureGroupsResponse(_message.Message):
    __slots__ = ("results",)
    class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OUTCOME_UNSPECIFIED: _ClassVar[ApplyFeatureGroupsResponse.Outcome]
        OUTCOME_CREATED: _ClassVar[ApplyFeatureGroupsResponse.Outcome]
        OUTCOME_NEW_VERSION: _ClassVar[ApplyFeatureGroupsResponse.Outcome]
        OUTCOME_UNCHANGED: _ClassVar[ApplyFeatureGroupsResponse.Outcome]
    OUTCOME_UNSPECIFIED: ApplyFeatureGroupsResponse.Outcome
    OUTCOME_CREATED: ApplyFeatureGroupsResponse.Outcome
    OUTCOME_NEW_VERSION: ApplyFeatureGroupsResponse.Outcome
    OUTCOME_UNCHANGED: ApplyFeatureGroupsResponse.Outcome
    class Result(_message.Message):
        __slots__ = ("group", "version", "outcome")
        GROUP_FIELD_NUMBER: _ClassVar[int]
        VERSION_FIELD_NUMBER: _ClassVar[int]
        OUTCOME_FIELD_NUMBER: _ClassVar[int]
        group: str
        version: int
        outcome: ApplyFeatureGroupsResponse.Outcome
        def __init__(self, group: _Optional[str] = ..., version: _Optional[int] = ..., outcome: _Optional[_Union[ApplyFeatureGroupsResponse.Outcome, str]] = ...) -> None: ...
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ApplyFeatureGroupsResponse.Result]
    def __init__(self, results: _Optional[_Iterable[_Union[ApplyFeatureGroupsResponse.Result, _Mapping]]] = ...) -> None: ...

class ListFeatureGroupsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListFeatureGroupsResponse(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[_types_pb2.FeatureGroup]
    def __init__(self, groups: _Optional[_Iterable[_Union[_types_pb2.FeatureGroup, _Mapping]]] = ...) -> None: ...

class GetFeatureGroupRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetFeatureGroupResponse(_message.Message):
    __slots__ = ("group", "versions")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    group: _types_pb2.FeatureGroup
    versions: _containers.RepeatedCompositeFieldContainer[_types_pb2.FeatureGroup]
    def __init__(self, group: _Optional[_Union[_types_pb2.FeatureGroup, _Mapping]] = ..., versions: _Optional[_Iterable[_Union[_types_pb2.FeatureGroup, _Mapping]]] = ...) -> None: ...

class SetFeatureGroupStatusRequest(_message.Message):
    __slots__ = ("name", "version", "status", "reason", "changed_by")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CHANGED_BY_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    status: _types_pb2.GroupStatus
    reason: str
    changed_by: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., status: _Optional[_Union[_types_pb2.GroupStatus, str]] = ..., reason: _Optional[str] = ..., changed_by: _Optional[str] = ...) -> None: ...

class SetFeatureGroupStatusResponse(_message.Message):
    __slots__ = ("group",)
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group: _types_pb2.FeatureGroup
    def __init__(self, group: _Optional[_Union[_types_pb2.FeatureGroup, _Mapping]] = ...) -> None: ...

class WriteFeaturesRequest(_message.Message):
    __slots__ = ("group", "version", "features", "rows", "consistency", "writer")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    WRITER_FIELD_NUMBER: _ClassVar[int]
    group: str
    version: int
    features: _containers.RepeatedScalarFieldContainer[str]
    rows: _containers.RepeatedCompositeFieldContainer[WriteRow]
    consistency: Consistency
    writer: WriterIdentity
    def __init__(self, group: _Optional[str] = ..., version: _Optional[int] = ..., features: _Optional[_Iterable[str]] = ..., rows: _Optional[_Iterable[_Union[WriteRow, _Mapping]]] = ..., consistency: _Optional[_Union[Consistency, str]] = ..., writer: _Optional[_Union[WriterIdentity, _Mapping]] = ...) -> None: ...

class WriterIdentity(_message.Message):
    __slots__ = ("pipeline", "run_id")
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    pipeline: str
    run_id: str
    def __init__(self, pipeline: _Optional[str] = ..., run_id: _Optional[str] = ...) -> None: ...

class WriteRow(_message.Message):
    __slots__ = ("entity_id", "event_timestamp_micros", "created_timestamp_micros", "values", "write_id")
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIMESTAMP_MICROS_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIMESTAMP_MICROS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    WRITE_ID_FIELD_NUMBER: _ClassVar[int]
    entity_id: str
    event_timestamp_micros: int
    created_timestamp_micros: int
    values: _containers.RepeatedCompositeFieldContainer[_types_pb2.Value]
    write_id: int
    def __init__(self, entity_id: _Optional[str] = ..., event_timestamp_micros: _Optional[int] = ..., created_timestamp_micros: _Optional[int] = ..., values: _Optional[_Iterable[_Union[_types_pb2.Value, _Mapping]]] = ..., write_id: _Optional[int] = ...) -> None: ...

class PushEventsRequest(_message.Message):
    __slots__ = ("stream", "version", "fields", "events", "idempotency_key", "consistency", "writer")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    WRITER_FIELD_NUMBER: _ClassVar[int]
    stream: str
    version: int
    fields: _containers.RepeatedScalarFieldContainer[str]
    events: _containers.RepeatedCompositeFieldContainer[WriteRow]
    idempotency_key: str
    consistency: Consistency
    writer: WriterIdentity
    def __init__(self, stream: _Optional[str] = ..., version: _Optional[int] = ..., fields: _Optional[_Iterable[str]] = ..., events: _Optional[_Iterable[_Union[WriteRow, _Mapping]]] = ..., idempotency_key: _Optional[str] = ..., consistency: _Optional[_Union[Consistency, str]] = ..., writer: _Optional[_Union[WriterIdentity, _Mapping]] = ...) -> None: ...

class PushEventsResponse(_message.Message):
    __slots__ = ("idempotency_key", "events_written", "late_events", "duplicate")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    EVENTS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    LATE_EVENTS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    events_written: int
    late_events: int
    duplicate: bool
    def __init__(self, idempotency_key: _Optional[str] = ..., events_written: _Optional[int] = ..., late_events: _Optional[int] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class WriteFeaturesResponse(_message.Message):
    __slots__ = ("rows_written", "late_rows", "batches", "replicas_acknowledged", "replication_factor")
    ROWS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    LATE_ROWS_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_FACTOR_FIELD_NUMBER: _ClassVar[int]
    rows_written: int
    late_rows: int
    batches: int
    replicas_acknowledged: int
    replication_factor: int
    def __init__(self, rows_written: _Optional[int] = ..., late_rows: _Optional[int] = ..., batches: _Optional[int] = ..., replicas_acknowledged: _Optional[int] = ..., replication_factor: _Optional[int] = ...) -> None: ...

class GetOnlineFeaturesRequest(_message.Message):
    __slots__ = ("entity_ids", "features", "consistency", "with_row_order", "with_freshness", "model")
    ENTITY_IDS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    WITH_ROW_ORDER_FIELD_NUMBER: _ClassVar[int]
    WITH_FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    entity_ids: _containers.RepeatedScalarFieldContainer[str]
    features: _containers.RepeatedScalarFieldContainer[str]
    consistency: Consistency
    with_row_order: bool
    with_freshness: bool
    model: str
    def __init__(self, entity_ids: _Optional[_Iterable[str]] = ..., features: _Optional[_Iterable[str]] = ..., consistency: _Optional[_Union[Consistency, str]] = ..., with_row_order: _Optional[bool] = ..., with_freshness: _Optional[bool] = ..., model: _Optional[str] = ...) -> None: ...

class GetOnlineFeaturesResponse(_message.Message):
    __slots__ = ("columns", "vectors", "row_orders", "freshness", "model")
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    ROW_ORDERS_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.RepeatedCompositeFieldContainer[_types_pb2.FeatureColumn]
    vectors: _containers.RepeatedCompositeFieldContainer[FeatureVector]
    row_orders: _containers.RepeatedCompositeFieldContainer[JoinedRowOrder]
    freshness: _containers.RepeatedCompositeFieldContainer[GroupWriteStatus]
    model: str
    def __init__(self, columns: _Optional[_Iterable[_Union[_types_pb2.FeatureColumn, _Mapping]]] = ..., vectors: _Optional[_Iterable[_Union[FeatureVector, _Mapping]]] = ..., row_orders: _Optional[_Iterable[_Union[JoinedRowOrder, _Mapping]]] = ..., freshness: _Optional[_Iterable[_Union[GroupWriteStatus, _Mapping]]] = ..., model: _Optional[str] = ...) -> None: ...

class FeatureVector(_message.Message):
    __slots__ = ("entity_id", "results")
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    entity_id: str
    results: _containers.RepeatedCompositeFieldContainer[_types_pb2.FeatureResult]
    def __init__(self, entity_id: _Optional[str] = ..., results: _Optional[_Iterable[_Union[_types_pb2.FeatureResult, _Mapping]]] = ...) -> None: ...

class LabelRow(_message.Message):
    __slots__ = ("entity_id", "label_timestamp_micros", "known_at_micros")
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_TIMESTAMP_MICROS_FIELD_NUMBER: _ClassVar[int]
    KNOWN_AT_MICROS_FIELD_NUMBER: _ClassVar[int]
    entity_id: str
    label_timestamp_micros: int
    known_at_micros: int
    def __init__(self, entity_id: _Optional[str] = ..., label_timestamp_micros: _Optional[int] = ..., known_at_micros: _Optional[int] = ...) -> None: ...

class GetHistoricalFeaturesRequest(_message.Message):
    __slots__ = ("features", "labels", "columnar", "with_event_timestamps", "with_row_order", "force", "training_set", "created_by", "training_set_description")
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    COLUMNAR_FIELD_NUMBER: _ClassVar[int]
    WITH_EVENT_TIMESTAMPS_FIELD_NUMBER: _ClassVar[int]
    WITH_ROW_ORDER_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    TRAINING_SET_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    TRAINING_SET_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    features: _containers.RepeatedScalarFieldContainer[str]
    labels: _containers.RepeatedCompositeFieldContainer[LabelRow]
    columnar: bool
    with_event_timestamps: bool
    with_row_order: bool
    force: bool
    training_set: str
    created_by: str
    training_set_description: str
    def __init__(self, features: _Optional[_Iterable[str]] = ..., labels: _Optional[_Iterable[_Union[LabelRow, _Mapping]]] = ..., columnar: _Optional[bool] = ..., with_event_timestamps: _Optional[bool] = ..., with_row_order: _Optional[bool] = ..., force: _Optional[bool] = ..., training_set: _Optional[str] = ..., created_by: _Optional[str] = ..., training_set_description: _Optional[str] = ...) -> None: ...

class JoinedRow(_message.Message):
    __slots__ = ("entity_id", "label_timestamp_micros", "results")
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_TIMESTAMP_MICROS_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    entity_id: str
    label_timestamp_micros: int
    results: _containers.RepeatedCompositeFieldContainer[_types_pb2.FeatureResult]
    def __init__(self, entity_id: _Optional[str] = ..., label_timestamp_micros: _Optional[int] = ..., results: _Optional[_Iterable[_Union[_types_pb2.FeatureResult, _Mapping]]] = ...) -> None: ...

class GetHistoricalFeaturesResponse(_message.Message):
    __slots__ = ("columns", "rows", "batch", "training_set")
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    TRAINING_SET_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.RepeatedCompositeFieldContainer[_types_pb2.FeatureColumn]
    rows: _containers.RepeatedCompositeFieldContainer[JoinedRow]
    batch: JoinedBatch
    training_set: _types_pb2.TrainingSet
    def __init__(self, columns: _Optional[_Iterable[_Union[_types_pb2.FeatureColumn, _Mapping]]] = ..., rows: _Optional[_Iterable[_Union[JoinedRow, _Mapping]]] = ..., batch: _Optional[_Union[JoinedBatch, _Mapping]] = ..., training_set: _Optional[_Union[_types_pb2.TrainingSet, _Mapping]] = ...) -> None: ...

class JoinedBatch(_message.Message):
    __slots__ = ("row_count", "columns", "row_orders")
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROW_ORDERS_FIELD_NUMBER: _ClassVar[int]
    row_count: int
    columns: _containers.RepeatedCompositeFieldContainer[JoinedColumn]
    row_orders: _containers.RepeatedCompositeFieldContainer[JoinedRowOrder]
    def __init__(self, row_count: _Optional[int] = ..., columns: _Optional[_Iterable[_Union[JoinedColumn, _Mapping]]] = ..., row_orders: _Optional[_Iterable[_Union[JoinedRowOrder, _Mapping]]] = ...) -> None: ...

class JoinedRowOrder(_message.Message):
    __slots__ = ("found", "event_timestamps_micros", "created_timestamps_micros", "write_ids")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIMESTAMPS_MICROS_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIMESTAMPS_MICROS_FIELD_NUMBER: _ClassVar[int]
    WRITE_IDS_FIELD_NUMBER: _ClassVar[int]
    found: bytes
    event_timestamps_micros: _containers.RepeatedScalarFieldContainer[int]
    created_timestamps_micros: _containers.RepeatedScalarFieldContainer[int]
    write_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, found: _Optional[bytes] = ..., event_timestamps_micros: _Optional[_Iterable[int]] = ..., created_timestamps_micros: _Optional[_Iterable[int]] = ..., write_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class JoinedColumn(_message.Message):
    __slots__ = ("statuses", "value_mask", "float_values", "int_values", "string_values", "embedding_values", "event_timestamps_micros")
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    VALUE_MASK_FIELD_NUMBER: _ClassVar[int]
    FLOAT_VALUES_FIELD_NUMBER: _ClassVar[int]
    INT_VALUES_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUES_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_VALUES_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIMESTAMPS_MICROS_FIELD_NUMBER: _ClassVar[int]
    statuses: bytes
    value_mask: bytes
    float_values: _containers.RepeatedScalarFieldContainer[float]
    int_values: _containers.RepeatedScalarFieldContainer[int]
    string_values: _containers.RepeatedScalarFieldContainer[str]
    embedding_values: _containers.RepeatedScalarFieldContainer[float]
    event_timestamps_micros: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, statuses: _Optional[bytes] = ..., value_mask: _Optional[bytes] = ..., float_values: _Optional[_Iterable[float]] = ..., int_values: _Optional[_Iterable[int]] = ..., string_values: _Optional[_Iterable[str]] = ..., embedding_values: _Optional[_Iterable[float]] = ..., event_timestamps_micros: _Optional[_Iterable[int]] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PingRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PingResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("node_id", "version", "started_at_micros", "storage_engine", "data_directory", "feature_groups", "rows_written", "late_rows", "online_lookups", "historical_rows", "groups", "history_images", "history_image_bytes", "history_image_builds", "ring_epoch", "cluster_nodes", "limits", "online_rows", "internode_lookups_on_lanes", "internode_lookups_over_grpc", "lane_lookups_answered", "replication_factor", "membership_change", "aggregate_row_cache_capacity", "aggregate_row_cache_rows", "aggregate_row_cache_hits", "aggregate_row_cache_misses")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_MICROS_FIELD_NUMBER: _ClassVar[int]
    STORAGE_ENGINE_FIELD_NUMBER: _ClassVar[int]
    DATA_DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    FEATURE_GROUPS_FIELD_NUMBER: _ClassVar[int]
    ROWS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    LATE_ROWS_FIELD_NUMBER: _ClassVar[int]
    ONLINE_LOOKUPS_FIELD_NUMBER: _ClassVar[int]
    HISTORICAL_ROWS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_IMAGES_FIELD_NUMBER: _ClassVar[int]
    HISTORY_IMAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    HISTORY_IMAGE_BUILDS_FIELD_NUMBER: _ClassVar[int]
    RING_EPOCH_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_NODES_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    ONLINE_ROWS_FIELD_NUMBER: _ClassVar[int]
    INTERNODE_LOOKUPS_ON_LANES_FIELD_NUMBER: _ClassVar[int]
    INTERNODE_LOOKUPS_OVER_GRPC_FIELD_NUMBER: _ClassVar[int]
    LANE_LOOKUPS_ANSWERED_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_FACTOR_FIELD_NUMBER: _ClassVar[int]
    MEMBERSHIP_CHANGE_FIELD_NUMBER: _ClassVar[int]
    AGGREGATE_ROW_CACHE_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    AGGREGATE_ROW_CACHE_ROWS_FIELD_NUMBER: _ClassVar[int]
    AGGREGATE_ROW_CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    AGGREGATE_ROW_CACHE_MISSES_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    version: str
    started_at_micros: int
    storage_engine: str
    data_directory: str
    feature_groups: int
    rows_written: int
    late_rows: int
    online_lookups: int
    historical_rows: int
    groups: _containers.RepeatedCompositeFieldContainer[GroupWriteStatus]
    history_images: int
    history_image_bytes: int
    history_image_builds: int
    ring_epoch: int
    cluster_nodes: _containers.RepeatedCompositeFieldContainer[ClusterNodeStatus]
    limits: NodeLimits
    online_rows: int
    internode_lookups_on_lanes: int
    internode_lookups_over_grpc: int
    lane_lookups_answered: int
    replication_factor: int
    membership_change: MembershipChange
    aggregate_row_cache_capacity: int
    aggregate_row_cache_rows: int
    aggregate_row_cache_hits: int
    aggregate_row_cache_misses: int
    def __init__(self, node_id: _Optional[str] = ..., version: _Optional[str] = ..., started_at_micros: _Optional[int] = ..., storage_engine: _Optional[str] = ..., data_directory: _Optional[str] = ..., feature_groups: _Optional[int] = ..., rows_written: _Optional[int] = ..., late_rows: _Optional[int] = ..., online_lookups: _Optional[int] = ..., historical_rows: _Optional[int] = ..., groups: _Optional[_Iterable[_Union[GroupWriteStatus, _Mapping]]] = ..., history_images: _Optional[int] = ..., history_image_bytes: _Optional[int] = ..., history_image_builds: _Optional[int] = ..., ring_epoch: _Optional[int] = ..., cluster_nodes: _Optional[_Iterable[_Union[ClusterNodeStatus, _Mapping]]] = ..., limits: _Optional[_Union[NodeLimits, _Mapping]] = ..., online_rows: _Optional[int] = ..., internode_lookups_on_lanes: _Optional[int] = ..., internode_lookups_over_grpc: _Optional[int] = ..., lane_lookups_answered: _Optional[int] = ..., replication_factor: _Optional[int] = ..., membership_change: _Optional[_Union[MembershipChange, _Mapping]] = ..., aggregate_row_cache_capacity: _Optional[int] = ..., aggregate_row_cache_rows: _Optional[int] = ..., aggregate_row_cache_hits: _Optional[int] = ..., aggregate_row_cache_misses: _Optional[int] = ...) -> None: ...

class NodeLimits(_message.Message):
    __slots__ = ("max_rows_per_batch", "max_request_bytes", "max_entities_per_lookup", "max_labels_per_message")
    MAX_ROWS_PER_BATCH_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUEST_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_ENTITIES_PER_LOOKUP_FIELD_NUMBER: _ClassVar[int]
    MAX_LABELS_PER_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    max_rows_per_batch: int
    max_request_bytes: int
    max_entities_per_lookup: int
    max_labels_per_message: int
    def __init__(self, max_rows_per_batch: _Optional[int] = ..., max_request_bytes: _Optional[int] = ..., max_entities_per_lookup: _Optional[int] = ..., max_labels_per_message: _Optional[int] = ...) -> None: ...

class ClusterNodeStatus(_message.Message):
    __slots__ = ("node_id", "address", "ring_share", "reachable", "rows_total", "error", "zone", "hints_pending", "groups")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    RING_SHARE_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    ROWS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    HINTS_PENDING_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    address: str
    ring_share: float
    reachable: bool
    rows_total: int
    error: str
    zone: str
    hints_pending: int
    groups: _containers.RepeatedCompositeFieldContainer[GroupWriteStatus]
    def __init__(self, node_id: _Optional[str] = ..., address: _Optional[str] = ..., ring_share: _Optional[float] = ..., reachable: _Optional[bool] = ..., rows_total: _Optional[int] = ..., error: _Optional[str] = ..., zone: _Optional[str] = ..., hints_pending: _Optional[int] = ..., groups: _Optional[_Iterable[_Union[GroupWriteStatus, _Mapping]]] = ...) -> None: ...

class GroupWriteStatus(_message.Message):
    __slots__ = ("group", "version", "last_write_micros", "rows_total", "freshness", "tier", "refresh_interval_seconds")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LAST_WRITE_MICROS_FIELD_NUMBER: _ClassVar[int]
    ROWS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    REFRESH_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    group: str
    version: int
    last_write_micros: int
    rows_total: int
    freshness: FreshnessState
    tier: FreshnessTier
    refresh_interval_seconds: int
    def __init__(self, group: _Optional[str] = ..., version: _Optional[int] = ..., last_write_micros: _Optional[int] = ..., rows_total: _Optional[int] = ..., freshness: _Optional[_Union[FreshnessState, str]] = ..., tier: _Optional[_Union[FreshnessTier, str]] = ..., refresh_interval_seconds: _Optional[int] = ...) -> None: ...

class GetLineageRequest(_message.Message):
    __slots__ = ("group", "version")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    group: str
    version: int
    def __init__(self, group: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetLineageResponse(_message.Message):
    __slots__ = ("group", "upstream", "downstream", "writers", "models", "training_sets")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_FIELD_NUMBER: _ClassVar[int]
    DOWNSTREAM_FIELD_NUMBER: _ClassVar[int]
    WRITERS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    TRAINING_SETS_FIELD_NUMBER: _ClassVar[int]
    group: _types_pb2.FeatureGroup
    upstream: _containers.RepeatedCompositeFieldContainer[LineageNode]
    downstream: _containers.RepeatedCompositeFieldContainer[LineageNode]
    writers: _containers.RepeatedCompositeFieldContainer[WriteRecord]
    models: _containers.RepeatedCompositeFieldContainer[_types_pb2.Model]
    training_sets: _containers.RepeatedCompositeFieldContainer[_types_pb2.TrainingSet]
    def __init__(self, group: _Optional[_Union[_types_pb2.FeatureGroup, _Mapping]] = ..., upstream: _Optional[_Iterable[_Union[LineageNode, _Mapping]]] = ..., downstream: _Optional[_Iterable[_Union[LineageNode, _Mapping]]] = ..., writers: _Optional[_Iterable[_Union[WriteRecord, _Mapping]]] = ..., models: _Optional[_Iterable[_Union[_types_pb2.Model, _Mapping]]] = ..., training_sets: _Optional[_Iterable[_Union[_types_pb2.TrainingSet, _Mapping]]] = ...) -> None: ...

class LineageNode(_message.Message):
    __slots__ = ("group", "version", "kind", "status", "lineage", "depth", "derived_from")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    DERIVED_FROM_FIELD_NUMBER: _ClassVar[int]
    group: str
    version: int
    kind: _types_pb2.GroupKind
    status: _types_pb2.GroupStatus
    lineage: _types_pb2.Lineage
    depth: int
    derived_from: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, group: _Optional[str] = ..., version: _Optional[int] = ..., kind: _Optional[_Union[_types_pb2.GroupKind, str]] = ..., status: _Optional[_Union[_types_pb2.GroupStatus, str]] = ..., lineage: _Optional[_Union[_types_pb2.Lineage, _Mapping]] = ..., depth: _Optional[int] = ..., derived_from: _Optional[_Iterable[str]] = ...) -> None: ...

class WriteRecord(_message.Message):
    __slots__ = ("node_id", "pipeline", "run_id", "batches", "rows", "first_write_micros", "last_write_micros", "min_event_micros", "max_event_micros")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    FIRST_WRITE_MICROS_FIELD_NUMBER: _ClassVar[int]
    LAST_WRITE_MICROS_FIELD_NUMBER: _ClassVar[int]
    MIN_EVENT_MICROS_FIELD_NUMBER: _ClassVar[int]
    MAX_EVENT_MICROS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    pipeline: str
    run_id: str
    batches: int
    rows: int
    first_write_micros: int
    last_write_micros: int
    min_event_micros: int
    max_event_micros: int
    def __init__(self, node_id: _Optional[str] = ..., pipeline: _Optional[str] = ..., run_id: _Optional[str] = ..., batches: _Optional[int] = ..., rows: _Optional[int] = ..., first_write_micros: _Optional[int] = ..., last_write_micros: _Optional[int] = ..., min_event_micros: _Optional[int] = ..., max_event_micros: _Optional[int] = ...) -> None: ...

class RegisterModelRequest(_message.Message):
    __slots__ = ("name", "version", "features", "training_set", "description", "registered_by", "force")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    TRAINING_SET_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_BY_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    features: _containers.RepeatedScalarFieldContainer[str]
    training_set: str
    description: str
    registered_by: str
    force: bool
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., features: _Optional[_Iterable[str]] = ..., training_set: _Optional[str] = ..., description: _Optional[str] = ..., registered_by: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class RegisterModelResponse(_message.Message):
    __slots__ = ("model", "created")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    model: _types_pb2.Model
    created: bool
    def __init__(self, model: _Optional[_Union[_types_pb2.Model, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[_types_pb2.Model]
    def __init__(self, models: _Optional[_Iterable[_Union[_types_pb2.Model, _Mapping]]] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetModelResponse(_message.Message):
    __slots__ = ("model", "training_set")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TRAINING_SET_FIELD_NUMBER: _ClassVar[int]
    model: _types_pb2.Model
    training_set: _types_pb2.TrainingSet
    def __init__(self, model: _Optional[_Union[_types_pb2.Model, _Mapping]] = ..., training_set: _Optional[_Union[_types_pb2.TrainingSet, _Mapping]] = ...) -> None: ...

class SetModelStatusRequest(_message.Message):
    __slots__ = ("name", "version", "status", "reason", "changed_by")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CHANGED_BY_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    status: _types_pb2.ModelStatus
    reason: str
    changed_by: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., status: _Optional[_Union[_types_pb2.ModelStatus, str]] = ..., reason: _Optional[str] = ..., changed_by: _Optional[str] = ...) -> None: ...

class SetModelStatusResponse(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: _types_pb2.Model
    def __init__(self, model: _Optional[_Union[_types_pb2.Model, _Mapping]] = ...) -> None: ...

class ListTrainingSetsRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListTrainingSetsResponse(_message.Message):
    __slots__ = ("training_sets",)
    TRAINING_SETS_FIELD_NUMBER: _ClassVar[int]
    training_sets: _containers.RepeatedCompositeFieldContainer[_types_pb2.TrainingSet]
    def __init__(self, training_sets: _Optional[_Iterable[_Union[_types_pb2.TrainingSet, _Mapping]]] = ...) -> None: ...
