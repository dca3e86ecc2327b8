"""`strata.Client`: the Python client of a Strata node (any node of a cluster serves the whole API)."""
from __future__ import annotations

import collections
import copy
import dataclasses
import datetime as _dt
import getpass
import os
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Mapping, Sequence, Union

import grpc
import numpy as np
import pyarrow as pa

from . import _columns as cols
from . import _wire
from ._progress import Progress
from ._proto import feature_store_pb2 as fs
from ._proto import feature_store_pb2_grpc as fs_grpc
from ._proto import types_pb2 as pb
from ._sources import TableSource
from .definitions import (AggregateGroup, DType, FeatureGroup, GroupKind, GroupStatus, Lineage, RegisteredGroup, Stream,
                          _reject_unknown_keys, _utf8_size, load_definitions, python_value)
from ._columns import ColumnData
from .cache import OnlineCache, _Column, monotonic
from .errors import FailedPrecondition, Internal, InvalidArgument, NotFound, StrataError, Unavailable, from_rpc_error
from .models import (MAX_BY_BYTES, MAX_DESCRIPTION_BYTES, Model, ModelStatus, TrainingSet, check_name, check_text,
                     check_version, parse_model_ref)
from .results import OnlineResponse, RetrievalJob

if TYPE_CHECKING:  # pragma: no cover
    from .session import PushSession

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
# Write messages are cut to stay under this many (estimated) bytes; the node accepts up to
# --max-request-bytes (16 MiB by default).
_MAX_WRITE_MESSAGE_BYTES = 4 << 20
_MAX_MESSAGE = 64 << 20
# Push batches sent and not yet answered, at most (bounds what a push holds for resending).
_PUSH_IN_FLIGHT = 8


def _utc(micros: int) -> _dt.datetime | None:
    return None if micros == 0 else _EPOCH + _dt.timedelta(microseconds=micros)


def _utc0(micros: int) -> _dt.datetime:
    return _EPOCH + _dt.timedelta(microseconds=micros)


@dataclasses.dataclass
class ApplyResult:
    """One result of `Client.apply`: `outcome` is "CREATED", "NEW_VERSION" or "UNCHANGED"."""

    group: str
    version: int
    outcome: str


@dataclasses.dataclass
class WriteResult:
    rows_written: int
    late_rows: int
    batches: int
    seconds: float
    # The fewest replicas that had stored any row of the write when it was acknowledged (at least the
    # level asked for), and the cluster's replication factor (both 1 on a single node; 0 from a node
    # that does not report them).
    replicas_acknowledged: int = 0
    replication_factor: int = 0

    @property
    def rows_per_second(self) -> float:
        return self.rows_written / self.seconds if self.seconds > 0 else 0.0


@dataclasses.dataclass
class PushResult:
    """What `Client.push` did: events the node stored (on a duplicate batch: by its first application),
    late events (older than the entity's latest stored event), batches sent, batches answered as
    duplicates (already applied with the same idempotency key), the call's idempotency prefix (push
    again with `idempotency_prefix=` it to resend safely), and how many times the call was reopened
    after the node was unavailable."""

    events_written: int
    late_events: int
    batches: int
    duplicates: int
    seconds: float
    idempotency_prefix: str
    retries: int = 0

    @property
    def events_per_second(self) -> float:
        return self.events_written / self.seconds if self.seconds > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class Writer:
    """Who writes a batch: a pipeline and its run (`WriterIdentity` on the wire). Passed as `writer=` to
    `Client.write`, `Client.write_parquet` and `Client.push`, it goes with every batch of the call; the
    node records, per group version, a write log of who wrote how many rows (or events) when, which
    `Client.lineage` returns (`LineageGraph.writers`).

    - `pipeline`: the pipeline's name, e.g. "nightly-orders".
    - `run_id`: its run, e.g. an orchestrator's run id.

    Each is a string of at most 256 bytes (UTF-8); None means "" (not set). Checked when constructed
    (InvalidArgument, naming the field). `Writer()` (both empty, falsy) is the same as no writer: the
    batches are recorded as written by an unnamed writer.
    """

    pipeline: str = ""
    run_id: str = ""

    MAX_BYTES: ClassVar[int] = 256
    KEYS: ClassVar[tuple[str, ...]] = ("pipeline", "run_id")

    def __post_init__(self):
        for key in self.KEYS:
            value = getattr(self, key)
            if value is None:
                object.__setattr__(self, key, "")
                continue
            if not isinstance(value, str):
                raise InvalidArgument(f"writer {key} must be a string, got {type(value).__name__} {value!r}")
            size = _utf8_size(value, f"writer {key}")
            if size > self.MAX_BYTES:
                raise InvalidArgument(f"writer {key} is {size} bytes; at most {self.MAX_BYTES} are allowed")

    def __bool__(self) -> bool:
        return bool(self.pipeline or self.run_id)

    def to_proto(self) -> fs.WriterIdentity:
        return fs.WriterIdentity(pipeline=self.pipeline, run_id=self.run_id)


# What `writer=` takes: a Writer, a dict with its keys, a string (the pipeline), or None (no writer).
WriterLike = Union[Writer, Mapping[str, Any], str, None]


def _as_writer(writer: WriterLike) -> Writer | None:
    """The `writer=` argument of `write`, `write_parquet` and `push` as a `Writer`; None when it names no
    writer (None, or both fields empty). Raises InvalidArgument before anything is sent."""
    if writer is None:
        return None
    if isinstance(writer, Writer):
        w = writer
    elif isinstance(writer, str):
        w = Writer(pipeline=writer)
    elif isinstance(writer, Mapping):
        _reject_unknown_keys(writer, Writer.KEYS, "writer key")
        w = Writer(**writer)
    else:
        raise InvalidArgument(f"writer must be a strata.Writer, a dict with keys {', '.join(Writer.KEYS)}, or a "
                              f"string (the pipeline), got {type(writer).__name__}")
    return w if w else None


def _group_kind(value: int) -> GroupKind:
    try:
        name = pb.GroupKind.Name(value).removeprefix("GROUP_KIND_")
    except ValueError:  # a kind this SDK does not know
        return GroupKind.ROWS
    return GroupKind(name) if name in GroupKind.__members__ else GroupKind.ROWS


def _group_status(value: int) -> GroupStatus:
    try:
        name = pb.GroupStatus.Name(value).removeprefix("GROUP_STATUS_")
    except ValueError:
        return GroupStatus.ACTIVE
    return GroupStatus(name) if name in GroupStatus.__members__ else GroupStatus.ACTIVE


@dataclasses.dataclass
class LineageNode:
    """One group version in a `LineageGraph`: its kind and status, the lineage its definition declares,
    `depth` (steps from the version asked about: 1 = directly derived from it, or it directly from this
    one) and `derived_from` (the versions of the graph it is directly derived from, as `NAME@VERSION`)."""

    name: str
    version: int
    kind: GroupKind
    status: GroupStatus
    lineage: Lineage
    depth: int
    derived_from: list[str] = dataclasses.field(default_factory=list)

    @property
    def qualified_name(self) -> str:
        return f"{self.name}@{self.version}"

    @staticmethod
    def from_proto(n: fs.LineageNode) -> "LineageNode":
        return LineageNode(n.group, n.version, _group_kind(n.kind), _group_status(n.status),
                           Lineage.from_proto(n.lineage), n.depth, list(n.derived_from))


@dataclasses.dataclass
class WriteRecord:
    """The batches one writer (pipeline and run) wrote to a group version through one node: `node_id`
    (empty on a single node), `pipeline` and `run_id` (both empty for batches that named no writer),
    `batches`, `rows` (rows or events acknowledged), `first_write` and `last_write` (when the first and
    the latest of them were acknowledged, by the node's clock; UTC datetimes) and `min_event_time`,
    `max_event_time` (the event time range of their rows; UTC datetimes, None when there are no rows)."""

    node_id: str
    pipeline: str
    run_id: str
    batches: int
    rows: int
    first_write: _dt.datetime
    last_write: _dt.datetime
    min_event_time: _dt.datetime | None
    max_event_time: _dt.datetime | None

    @property
    def writer(self) -> Writer:
        """The writer as a `Writer` (`Writer()`, falsy, for batches that named none)."""
        return Writer(self.pipeline, self.run_id)

    @staticmethod
    def from_proto(r: fs.WriteRecord) -> "WriteRecord":
        has_events = r.rows > 0
        return WriteRecord(r.node_id, r.pipeline, r.run_id, r.batches, r.rows, _utc0(r.first_write_micros),
                           _utc0(r.last_write_micros), _utc0(r.min_event_micros) if has_events else None,
                           _utc0(r.max_event_micros) if has_events else None)


@dataclasses.dataclass
class LineageGraph:
    """What `Client.lineage` returns: the group version asked about (`group`, a `RegisteredGroup`), the
    versions it is derived from (`upstream`: its lineage's upstream entries and an aggregate group's
    stream, transitively) and the versions derived from it (`downstream`, transitively), each list
    nearest first, then by name and version; who wrote it (`writers`: one `WriteRecord` per
    node, pipeline and run, the most recently written first); the model versions of any status that
    read it or a version derived from it (`models`, `Model`s) and the saved training sets that do
    (`training_sets`, `TrainingSet`s). `str(graph)` is a readable summary (models and training sets
    appear in it when there are some)."""

    group: RegisteredGroup
    upstream: list[LineageNode]
    downstream: list[LineageNode]
    writers: list[WriteRecord]
    models: list[Model] = dataclasses.field(default_factory=list)
    training_sets: list[TrainingSet] = dataclasses.field(default_factory=list)

    @staticmethod
    def from_proto(response: fs.GetLineageResponse) -> "LineageGraph":
        return LineageGraph(RegisteredGroup.from_proto(response.group),
                            [LineageNode.from_proto(n) for n in response.upstream],
                            [LineageNode.from_proto(n) for n in response.downstream],
                            [WriteRecord.from_proto(w) for w in response.writers],
                            [Model.from_proto(m) for m in response.models],
                            [TrainingSet.from_proto(t) for t in response.training_sets])

    def __str__(self) -> str:
        def at(t: _dt.datetime) -> str:
            return t.strftime("%Y-%m-%d %H:%M:%S")

        g = self.group
        lines = [f"{g.qualified_name}  {g.spec.kind.value} {g.status.value}"]
        for title, nodes in (("upstream (it is derived from)", self.upstream),
                             ("downstream (derived from it)", self.downstream)):
            lines.append(f"{title}:" + ("" if nodes else " none"))
            for n in nodes:
                lines.append(f"  {n.qualified_name}  {n.kind.value} {n.status.value}  depth {n.depth}"
                             + (f"  from {', '.join(n.derived_from)}" if n.derived_from else ""))
        lines.append("writers (most recent first; times UTC):" + ("" if self.writers else " none"))
        for w in self.writers:
            who = (w.pipeline or "(unnamed)") + (f" run {w.run_id}" if w.run_id else "") \
                + (f" on {w.node_id}" if w.node_id else "")
            events = f"; events {at(w.min_event_time)} .. {at(w.max_event_time)}" \
                if w.min_event_time is not None and w.max_event_time is not None else ""
            lines.append(f"  {who}: {w.batches} {'batch' if w.batches == 1 else 'batches'}, {w.rows} rows; "
                         f"written {at(w.first_write)} .. {at(w.last_write)}{events}")
        if self.models:
            lines.append("models (reading it or a version derived from it):")
            lines.extend(f"  {m}" for m in self.models)
        if self.training_sets:
            lines.append("training sets (reading it or a version derived from it; times UTC):")
            lines.extend(f"  {t}" for t in self.training_sets)
        return "\n".join(lines)


@dataclasses.dataclass
class GroupWriteStatus:
    group: str
    version: int
    last_write: _dt.datetime | None  # None = never written
    rows_total: int


@dataclasses.dataclass
class ClusterNode:
    node_id: str
    address: str
    ring_share: float
    reachable: bool
    rows_total: int
    error: str


@dataclasses.dataclass
class NodeLimits:
    """What a node accepts (`strata serve` flags); the SDK sizes its batches by them."""

    max_rows_per_batch: int
    max_request_bytes: int
    max_entities_per_lookup: int
    max_labels_per_message: int


@dataclasses.dataclass
class NodeStatus:
    """The answer of `GetStatus` (counters are since the node started)."""

    node_id: str
    version: str
    started_at: _dt.datetime
    storage_engine: str
    data_directory: str
    feature_groups: int
    rows_written: int
    late_rows: int
    online_lookups: int
    historical_rows: int
    groups: list[GroupWriteStatus]
    history_images: int
    history_image_bytes: int
    history_image_builds: int
    ring_epoch: int
    cluster_nodes: list[ClusterNode]
    online_rows: int = 0
    limits: "NodeLimits | None" = None
    # Cluster nodes: online lookups this node sent to other nodes on lookup lanes and over gRPC, and
    # lookups it answered on its own lane (since it started).
    internode_lookups_on_lanes: int = 0
    internode_lookups_over_grpc: int = 0
    lane_lookups_answered: int = 0
    # The aggregate row cache: rows held at most (0: off) and now, online lookups (entity x aggregate
    # group) answered from it and computed from storage, since the node started.
    aggregate_row_cache_capacity: int = 0
    aggregate_row_cache_rows: int = 0
    aggregate_row_cache_hits: int = 0
    aggregate_row_cache_misses: int = 0

    @property
    def is_cluster(self) -> bool:
        return bool(self.cluster_nodes)

    def __str__(self) -> str:
        lines = [
            f"node:           {self.node_id}  (strata {self.version})",
            f"started at:     {self.started_at.isoformat()}",
            f"storage:        {self.storage_engine}, {self.data_directory}",
            f"feature groups: {self.feature_groups}",
            f"since start:    {self.rows_written} rows written ({self.late_rows} late), {self.online_lookups} entities "
            f"looked up online, {self.historical_rows} label rows joined",
            f"history images: {self.history_images} held, {self.history_image_bytes >> 20} MiB, "
            f"{self.history_image_builds} built since start",
            f"aggregate rows: {self.aggregate_row_cache_rows} of {self.aggregate_row_cache_capacity} cached, "
            f"{self.aggregate_row_cache_hits} lookups answered from the cache and {self.aggregate_row_cache_misses} "
            f"computed since start" if self.aggregate_row_cache_capacity else
            "aggregate rows: cache off (--aggregate-row-cache 0)",
        ]
        if self.cluster_nodes:
            lines.append(f"internode:      {self.internode_lookups_on_lanes} lookups sent on lookup lanes, "
                         f"{self.internode_lookups_over_grpc} over gRPC; {self.lane_lookups_answered} answered "
                         f"on this node's lane")
            lines.append(f"cluster (ring epoch {self.ring_epoch}):")
            for n in self.cluster_nodes:
                state = "answers" if n.reachable else f"does not answer: {n.error}"
                lines.append(f"  {n.node_id}  {n.address}  {n.ring_share * 100:.1f}%  "
                             f"{n.rows_total if n.reachable else '-'} rows  {state}")
        for g in self.groups:
            lines.append(f"  {g.group}@{g.version}: {g.rows_total} rows, last write "
                         f"{g.last_write.isoformat() if g.last_write else 'never'}")
        return "\n".join(lines)


_CONSISTENCY = {"ONE": fs.CONSISTENCY_ONE, "QUORUM": fs.CONSISTENCY_QUORUM, "ALL": fs.CONSISTENCY_ALL}


def _parse_consistency(consistency: str | None) -> int:
    """None -> CONSISTENCY_DEFAULT (the node's default: QUORUM for writes, ONE for lookups);
    "ONE"/"QUORUM"/"ALL" -> the enum value."""
    if consistency is None:
        return fs.CONSISTENCY_DEFAULT
    level = _CONSISTENCY.get(consistency.upper()) if isinstance(consistency, str) else None
    if level is None:
        raise InvalidArgument(
            f"consistency must be 'ONE', 'QUORUM' or 'ALL' (or None for the default), got {consistency!r}")
    return level


def _parse_group_ref(group: str) -> tuple[str, int]:
    """`name` or `name@N` -> (name, N); N = 0 means the latest ACTIVE version."""
    if not isinstance(group, str):
        raise InvalidArgument(f"group must be a string (GROUP or GROUP@N), got {type(group).__name__}")
    if "@" not in group:
        return group, 0
    name, _, v = group.partition("@")
    if not v.isdigit() or int(v) < 1:
        raise InvalidArgument(f"'{group}' has an invalid version; write GROUP or GROUP@N with N >= 1")
    return name, int(v)


# The node's limits of a status change's note (SetFeatureGroupStatusRequest.reason and .changed_by).
_MAX_REASON_BYTES = 1024
_MAX_CHANGED_BY_BYTES = 256


def _os_user() -> str:
    """The default `changed_by` of a status change: the OS user name, "" when it cannot be found."""
    try:
        return getpass.getuser() or ""
    except Exception:  # noqa: BLE001 - no user name (OSError on 3.13+, KeyError before): send none
        return ""


def _check_note(field: str, value: Any, max_bytes: int) -> None:
    """InvalidArgument (the node's wording) unless `value` is text of at most `max_bytes` UTF-8 bytes."""
    if not isinstance(value, str):
        raise InvalidArgument(f"the status change's {field} must be a string, got {type(value).__name__} {value!r}")
    size = _utf8_size(value, f"the status change's {field}")
    if size > max_bytes:
        raise InvalidArgument(f"the status change's {field} is {size} bytes; at most {max_bytes} are allowed")


def _feature_list(features) -> list[str]:
    if isinstance(features, str):
        features = [features]
    refs = [str(f).strip() for f in features]
    if not refs:
        raise InvalidArgument("no features requested; pass at least one group:feature")
    return refs


class _Connection:
    """The channel and stubs of one node address."""

    def __init__(self, address: str, options: Sequence[tuple[str, Any]]):
        self.address = address
        self.channel = grpc.insecure_channel(address, options=[
            ("grpc.max_receive_message_length", _MAX_MESSAGE),
            ("grpc.max_send_message_length", _MAX_MESSAGE),
            # A node that restarts is reached again within about a second (gRPC's default backoff
            # grows to two minutes, and calls fail at once meanwhile). Not `min_reconnect_backoff_ms`:
            # gRPC core takes it as the minimum connect timeout too, and at 100 ms a connection that
            # takes longer (a node just started on a busy machine, a distant one) failed UNAVAILABLE.
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
            *options,
        ])
        self.stub = fs_grpc.FeatureStoreStub(self.channel)
        # The two bulk calls send messages the SDK serializes itself (strata._wire): raw bytes out.
        self.write_features = self.channel.stream_unary(
            "/strata.v1.FeatureStore/WriteFeatures", request_serializer=bytes,
            response_deserializer=fs.WriteFeaturesResponse.FromString)
        self.push_events = self.channel.stream_stream(
            "/strata.v1.FeatureStore/PushEvents", request_serializer=bytes,
            response_deserializer=fs.PushEventsResponse.FromString)
        self.historical_features = self.channel.stream_stream(
            "/strata.v1.FeatureStore/GetHistoricalFeatures", request_serializer=bytes,
            response_deserializer=fs.GetHistoricalFeaturesResponse.FromString)


def _parse_addresses(address: str | Sequence[str] | None) -> list[str]:
    if address is None:
        address = os.environ.get("STRATA_SERVER") or "127.0.0.1:7400"
    items = address.split(",") if isinstance(address, str) else list(address)
    addresses = [str(a).strip() for a in items if str(a).strip()]
    if not addresses:
        raise InvalidArgument("no node address given; pass host:port (or several, for failover)")
    for a in addresses:
        host, sep, port = a.rpartition(":")
        if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise InvalidArgument(f"address must look like host:port (e.g. 127.0.0.1:7400), got '{a}'")
    return addresses


class Client:
    """A connection to a Strata node, or to any of several nodes of a cluster.

    `Client("127.0.0.1:7400", timeout=10)`. Every node of a cluster serves the whole API, so any node's
    address works. `timeout` (seconds) is the deadline of each unary call (registry, online lookup,
    status); streaming writes and exports have no deadline unless one is passed to them. Use as a context
    manager or call `close()`.

    Failover: `Client(["n1:7401", "n2:7402", "n3:7403"])` (or `"n1:7401,n2:7402,n3:7403"`, also in
    `$STRATA_SERVER`). Calls go to one address (`client.address`, the first at the start). When a unary
    call (lookups, registry, status) finds no node there (UNAVAILABLE, and not because of another node
    behind it: `StrataError.node` is None), it is sent to the next address, once around the list, and
    later calls stay on the address that answered. A stream (`write`, `get_historical_features`) is not
    re-sent, since part of it may have been applied: it fails `Unavailable`, and the next call starts at
    the next address. Each attempt has the full `timeout`.
    """

    def __init__(self, address: str | Sequence[str] | None = None, *, timeout: float | None = 30.0,
                 options: Sequence[tuple[str, Any]] = (), cache: OnlineCache | None = None):
        if cache is not None and not isinstance(cache, OnlineCache):
            raise InvalidArgument(f"cache must be a strata.OnlineCache (or None), got {type(cache).__name__}")
        self.cache: OnlineCache | None = cache
        self.addresses = _parse_addresses(address)
        self.timeout = timeout
        self._options = tuple(options)
        self._connections: list[_Connection | None] = [None] * len(self.addresses)
        self._current = 0

    # -- plumbing -------------------------------------------------------------------------------------
    @property
    def address(self) -> str:
        """The node address calls go to now."""
        return self.addresses[self._current]

    def _connection(self) -> _Connection:
        c = self._connections[self._current]
        if c is None:
            c = self._connections[self._current] = _Connection(self.address, self._options)
        return c

    @property
    def _stub(self):
        return self._connection().stub

    @property
    def _write_features(self):
        return self._connection().write_features

    @property
    def _historical_features(self):
        return self._connection().historical_features

    def _next_address(self, failed: StrataError) -> None:
        """After `failed` on the current address: calls go to the next one when nothing answered there."""
        if len(self.addresses) > 1 and isinstance(failed, Unavailable) and failed.node is None:
            self._current = (self._current + 1) % len(self.addresses)

    def close(self) -> None:
        for c in self._connections:
            if c is not None:
                c.channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"strata.Client({self.address!r})" if len(self.addresses) == 1 else f"strata.Client({self.addresses!r})"

    def _unary(self, method: str, request, timeout):
        failures: list[StrataError] = []
        for _ in self.addresses:
            try:
                return getattr(self._stub, method)(request, timeout=self.timeout if timeout is None else timeout)
            except grpc.RpcError as e:
                error = from_rpc_error(e, self.address)
            failures.append(error)
            if len(self.addresses) == 1 or not isinstance(error, Unavailable) or error.node is not None:
                raise error from None
            self._next_address(error)
        raise Unavailable("no strata node answered at any of " + ", ".join(self.addresses) + ": "
                          + "; ".join(f.message for f in failures), server=self.address) from None

    # -- registry -------------------------------------------------------------------------------------
    def apply(self, definitions: str | os.PathLike | FeatureGroup | Iterable[FeatureGroup], *,
              timeout: float | None = None) -> list[ApplyResult]:
        """Registers feature groups: a YAML definition file (the format of `strata apply`, with `streams:` and
        `groups:`), a `FeatureGroup` (or `Stream`, `AggregateGroup`) or a list of them. All or nothing.
        Returns per group CREATED, NEW_VERSION or UNCHANGED."""
        if isinstance(definitions, (str, os.PathLike)):
            groups = load_definitions(definitions)
        elif isinstance(definitions, FeatureGroup):
            groups = [definitions]
        else:
            groups = list(definitions)
        if not groups:
            raise InvalidArgument("nothing to apply: no feature groups given")
        groups = self._resolve_aggregates(groups, timeout)
        request = fs.ApplyFeatureGroupsRequest(groups=[g.to_proto() for g in groups])
        response = self._unary("ApplyFeatureGroups", request, timeout)
        return [ApplyResult(r.group, r.version,
                            fs.ApplyFeatureGroupsResponse.Outcome.Name(r.outcome).removeprefix("OUTCOME_"))
                for r in response.results]

    def _resolve_aggregates(self, groups: list, timeout) -> list:
        """Aggregate groups with defaults get their aggregates' dtypes from their stream (applied in the same
        call, else registered), so that each default is sent with the type the node derives. Copies."""
        fields = {g.name: {f.name: f.dtype for f in g.features} for g in groups if isinstance(g, Stream)}
        out = []
        for g in groups:
            if isinstance(g, AggregateGroup) and any(f.default is not None for f in g.features):
                g = copy.deepcopy(g)
                if g.stream not in fields:
                    try:
                        registered = self.get_feature_group(g.stream, timeout=timeout)
                        fields[g.stream] = {f.name: f.dtype for f in registered.features}
                    except NotFound:
                        pass  # the node names the missing stream
                if g.stream in fields:
                    g.resolve(fields[g.stream])
            out.append(g)
        return out

    def list_feature_groups(self, *, timeout: float | None = None) -> list[RegisteredGroup]:
        """Every registered version of every group, ordered by name then version."""
        response = self._unary("ListFeatureGroups", fs.ListFeatureGroupsRequest(), timeout)
        return [RegisteredGroup.from_proto(g) for g in response.groups]

    def get_feature_group(self, name: str, version: int | None = None, *,
                          timeout: float | None = None) -> RegisteredGroup:
        """One version of a group (default: the latest ACTIVE one; `name@N` also works); `.versions` lists
        every version. NotFound if there is no such group or version."""
        if version is None:
            name, version = _parse_group_ref(name)
        response = self._unary("GetFeatureGroup", fs.GetFeatureGroupRequest(name=name, version=version or 0),
                               timeout)
        group = RegisteredGroup.from_proto(response.group)
        group.versions = [RegisteredGroup.from_proto(g) for g in response.versions]
        return group

    def set_feature_group_status(self, name: str, version: int, status: GroupStatus | str, *,
                                 reason: str | None = None, changed_by: str | None = None,
                                 timeout: float | None = None) -> RegisteredGroup:
        """Sets the status of one version and returns the version as changed (a `RegisteredGroup`).

        - ACTIVE: served everywhere; an unpinned reference (`group:feature`) reads the newest ACTIVE
          version.
        - DEPRECATED: on its way out. Online lookups, writes and pushes that pin it (`group@N`) still
          work, but unpinned references skip it, and a new training export that pins it
          (`get_historical_features`) is refused with FailedPrecondition unless it passes `force=True`.
        - RETIRED: reads and writes are refused (FailedPrecondition).

        `reason` (why, at most 1,024 bytes UTF-8) and `changed_by` (who asks, at most 256 bytes; default:
        the OS user name, `getpass.getuser()`, or "" if there is none) are recorded by the node with the
        change, in the version's `status_changes` (a `StatusChange` with the old and new status and the
        registry's time); None for `reason` sends none (""). They are notes the caller declares, not
        authenticated. Both are checked before anything is sent (InvalidArgument, with the node's
        wording). Setting the status a version already has changes and records nothing.
        """
        try:
            s = GroupStatus(str(status.value if isinstance(status, GroupStatus) else status).upper())
        except ValueError:
            raise InvalidArgument(f"unknown status '{status}'; use ACTIVE, DEPRECATED or RETIRED") from None
        if changed_by is None:
            changed_by = _os_user()
        _check_note("changed_by", changed_by, _MAX_CHANGED_BY_BYTES)
        _check_note("reason", "" if reason is None else reason, _MAX_REASON_BYTES)
        request = fs.SetFeatureGroupStatusRequest(name=name, version=version,
                                                  status=pb.GroupStatus.Value(f"GROUP_STATUS_{s.value}"),
                                                  reason=reason or "", changed_by=changed_by)
        return RegisteredGroup.from_proto(self._unary("SetFeatureGroupStatus", request, timeout).group)

    def lineage(self, group: str, version: int | None = None, *, timeout: float | None = None) -> LineageGraph:
        """Where one group version's values come from and where they go (`GetLineage`), as a `LineageGraph`:
        the version (`name` or `version=None`/0: the latest ACTIVE one; `name@N` or `version=N`: version
        N), `upstream`: the versions it is derived from (its lineage's upstream entries, and an aggregate
        group's stream), transitively; `downstream`: the versions derived from it, transitively (both
        nearest first, then by name and version; each `LineageNode` says its `depth` and which versions of
        the graph it is `derived_from`); `writers`: who wrote it, one `WriteRecord` per node, pipeline and
        run (`writer=` of `write` and `push`; batches without one are the unnamed writer, pipeline and
        run_id ""), the most recently written first. NotFound for an unknown group or version;
        FailedPrecondition for an unpinned name without an ACTIVE version."""
        name, pinned = _parse_group_ref(group)
        if version is not None:
            if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 0:
                raise InvalidArgument(f"version must be a whole number from 1 (or 0/None for the latest ACTIVE "
                                      f"version), got {version!r}")
            if pinned and pinned != version:
                raise InvalidArgument(f"'{group}' names version {pinned} but version={version} was passed; "
                                      "give the version once")
            pinned = int(version)
        if pinned >= 1 << 32:
            raise InvalidArgument(f"version {pinned} is out of range; versions are at most {(1 << 32) - 1}")
        response = self._unary("GetLineage", fs.GetLineageRequest(group=name, version=pinned), timeout)
        return LineageGraph.from_proto(response)

    # -- models and training sets ---------------------------------------------------------------------
    def register_model(self, name: str, features: str | Sequence[str] | None = None, *, version: int | None = None,
                       training_set: "str | TrainingSet | None" = None, description: str = "",
                       registered_by: str | None = None, force: bool = False,
                       timeout: float | None = None) -> Model:
        """Registers a version of a model: the feature columns it was trained on and is served with, and
        the saved training set it was trained on, if any (`RegisterModel`). Returns the `Model`, with
        `created` True when this call registered it and False when the same definition was already
        registered (nothing changed).

        - `name`: 1 to 128 ASCII letters, digits, '_', '-' or '.', starting with a letter or a digit.
        - `features`: references as for `get_online_features` (`group:feature`, `group@2:feature`,
          `group:*`); the node pins the unpinned ones to the versions they resolve to now. None (or
          empty): the training set's columns. With a training set, every feature must be one of its
          columns (InvalidArgument otherwise).
        - `version`: None registers the next one (1 for a new model; or returns the newest one when its
          definition is the same); a taken version with another definition is AlreadyExists.
        - `training_set`: a training set's name (or a `TrainingSet`).
        - `description` (at most 4,096 bytes) and `registered_by` (who registers it, at most 256 bytes;
          default: the OS user name) are recorded with it.
        - `force`: pin a DEPRECATED feature group version anyway (refused with FailedPrecondition
          otherwise); a RETIRED version is always refused.

        Names, sizes and forms are checked before anything is sent (InvalidArgument)."""
        check_name(name, "model")
        label = f"model '{name}'"
        if features is None:
            refs: list[str] = []
        elif isinstance(features, str):
            refs = [features.strip()]
        elif isinstance(features, Iterable):
            refs = [f.strip() if isinstance(f, str) else f for f in features]
        else:
            raise InvalidArgument(f"{label}: features must be a list of references (group:feature), got "
                                  f"{type(features).__name__} {features!r}")
        for f in refs:
            if not isinstance(f, str) or not f:
                raise InvalidArgument(f"{label}: each feature is a non-empty string (group:feature), got {f!r}")
        if isinstance(training_set, TrainingSet):
            training_set = training_set.name
        if training_set is not None:
            check_name(training_set, "training set")
        if not refs and not training_set:
            raise InvalidArgument(f"{label}: name its features (group@V:feature, group:*) or the training set it "
                                  "was trained on (its columns are then the model's)")
        if version is not None:
            version = check_version(version, f"{label}: version")
        description = check_text(description, label, "the description", MAX_DESCRIPTION_BYTES)
        if registered_by is None:
            registered_by = _os_user()
        registered_by = check_text(registered_by, label, "registered_by", MAX_BY_BYTES)
        if not isinstance(force, (bool, np.bool_)):
            raise InvalidArgument(f"force must be True or False, got {type(force).__name__} {force!r}")
        request = fs.RegisterModelRequest(name=name, version=version or 0, features=refs,
                                          training_set=training_set or "", description=description,
                                          registered_by=registered_by, force=bool(force))
        response = self._unary("RegisterModel", request, timeout)
        return Model.from_proto(response.model, created=response.created)

    def list_models(self, name: str | None = None, *, timeout: float | None = None) -> list[Model]:
        """Every version of every model (or of the model `name`), ordered by name then version, whatever
        their status. NotFound for a `name` that is not registered."""
        if name is not None:
            check_name(name, "model")
        response = self._unary("ListModels", fs.ListModelsRequest(name=name or ""), timeout)
        return [Model.from_proto(m) for m in response.models]

    def get_model(self, name: str, version: int | None = None, *, timeout: float | None = None) -> Model:
        """One model version: `"ranker"` (its newest ACTIVE version), `"ranker@3"` or `("ranker", 3)`.
        The returned `Model` also carries the manifest of its training set (`training_set_manifest`, a
        `TrainingSet`; None when it names none). NotFound for an unknown model or version;
        FailedPrecondition when no version is named and none is ACTIVE."""
        model, pinned = parse_model_ref(name, version)
        response = self._unary("GetModel", fs.GetModelRequest(name=model, version=pinned), timeout)
        return Model.from_proto(response.model,
                                training_set=response.training_set if response.HasField("training_set") else None)

    def set_model_status(self, name: str, version: int | None, status: ModelStatus | str, *,
                         reason: str | None = None, changed_by: str | None = None,
                         timeout: float | None = None) -> Model:
        """Sets the status of one model version (`"ranker", 3` or `"ranker@3", None`) and returns it:

        - ARCHIVED: no longer served (`get_online_features(model=...)` is refused with
          FailedPrecondition), and it holds no feature group version back from being RETIRED.
        - ACTIVE: served again; FailedPrecondition when one of its feature group versions was RETIRED
          meanwhile.

        `reason` (at most 1,024 bytes) and `changed_by` (at most 256 bytes; default: the OS user name)
        are recorded in the version's `status_changes`, as for `set_feature_group_status`. Setting the
        status a version has changes and records nothing."""
        model, pinned = parse_model_ref(name, version)
        if not pinned:
            raise InvalidArgument(f"name the model version whose status changes: '{model}@V' or version=V")
        s = ModelStatus.parse(status)
        if changed_by is None:
            changed_by = _os_user()
        _check_note("changed_by", changed_by, _MAX_CHANGED_BY_BYTES)
        _check_note("reason", "" if reason is None else reason, _MAX_REASON_BYTES)
        request = fs.SetModelStatusRequest(name=model, version=pinned, status=s.to_proto(), reason=reason or "",
                                           changed_by=changed_by)
        return Model.from_proto(self._unary("SetModelStatus", request, timeout).model)

    def archive_model(self, name: str, version: int | None = None, *, reason: str | None = None,
                      changed_by: str | None = None, timeout: float | None = None) -> Model:
        """`set_model_status(name, version, "ARCHIVED", ...)`: `archive_model("ranker@1", reason="replaced
        by ranker@2")`."""
        return self.set_model_status(name, version, ModelStatus.ARCHIVED, reason=reason, changed_by=changed_by,
                                     timeout=timeout)

    def list_training_sets(self, *, timeout: float | None = None) -> list[TrainingSet]:
        """Every saved training set (`get_historical_features(..., training_set=NAME)`), by name."""
        response = self._unary("ListTrainingSets", fs.ListTrainingSetsRequest(), timeout)
        return [TrainingSet.from_proto(t) for t in response.training_sets]

    def get_training_set(self, name: str, *, timeout: float | None = None) -> TrainingSet:
        """The manifest of one saved training set. NotFound when there is none of that name."""
        check_name(name, "training set")
        response = self._unary("ListTrainingSets", fs.ListTrainingSetsRequest(name=name), timeout)
        for t in response.training_sets:
            if t.name == name:
                return TrainingSet.from_proto(t)
        raise NotFound(f"training set '{name}' does not exist; `list_training_sets()` lists the saved ones",
                       server=self.address)

    # -- status ---------------------------------------------------------------------------------------
    def status(self, *, timeout: float | None = None) -> NodeStatus:
        s = self._unary("GetStatus", fs.GetStatusRequest(), timeout)
        return NodeStatus(
            node_id=s.node_id, version=s.version, started_at=_utc0(s.started_at_micros),
            storage_engine=s.storage_engine, data_directory=s.data_directory, feature_groups=s.feature_groups,
            rows_written=s.rows_written, late_rows=s.late_rows, online_lookups=s.online_lookups,
            historical_rows=s.historical_rows,
            groups=[GroupWriteStatus(g.group, g.version, _utc(g.last_write_micros), g.rows_total) for g in s.groups],
            history_images=s.history_images, history_image_bytes=s.history_image_bytes,
            history_image_builds=s.history_image_builds, ring_epoch=s.ring_epoch,
            cluster_nodes=[ClusterNode(n.node_id, n.address, n.ring_share, n.reachable, n.rows_total, n.error)
                           for n in s.cluster_nodes],
            online_rows=s.online_rows,
            internode_lookups_on_lanes=s.internode_lookups_on_lanes,
            internode_lookups_over_grpc=s.internode_lookups_over_grpc,
            lane_lookups_answered=s.lane_lookups_answered,
            aggregate_row_cache_capacity=s.aggregate_row_cache_capacity,
            aggregate_row_cache_rows=s.aggregate_row_cache_rows,
            aggregate_row_cache_hits=s.aggregate_row_cache_hits,
            aggregate_row_cache_misses=s.aggregate_row_cache_misses,
            limits=NodeLimits(s.limits.max_rows_per_batch, s.limits.max_request_bytes,
                              s.limits.max_entities_per_lookup, s.limits.max_labels_per_message)
            if s.HasField("limits") else None)

    # -- online ---------------------------------------------------------------------------------------
    def enable_cache(self, cache: OnlineCache | None = None, **options) -> OnlineCache:
        """Turns the online cache on (`cache`, or `OnlineCache(**options)`) and returns it; replaces the
        cache the client had, if any. `client.cache = None` turns it off."""
        if cache is not None and options:
            raise InvalidArgument("pass a cache or OnlineCache options, not both")
        if cache is not None and not isinstance(cache, OnlineCache):
            raise InvalidArgument(f"cache must be a strata.OnlineCache, got {type(cache).__name__}")
        self.cache = cache if cache is not None else OnlineCache(**options)
        return self.cache

    def get_online_features(self, features: str | Sequence[str] | None = None, entities: Iterable[Any] | None = None,
                            *, timeout: float | None = None, consistency: str | None = None,
                            use_cache: bool = True, with_freshness: bool = False,
                            model: str | None = None) -> OnlineResponse:
        """The latest value of each feature for each entity (ids are strings; integers are sent as their
        decimal text). `features`: `group:feature`, `group@2:feature`, `group:*`, from any groups.

        `consistency` on a cluster with replication: None or "ONE" (one replica per entity, the fastest;
        it may miss a write that replica has not received yet), "QUORUM" (a majority of the replicas,
        the greatest row wins: it sees every QUORUM write) or "ALL".

        With a cache (`Client(cache=strata.OnlineCache(...))` or `enable_cache`), a lookup at the default
        consistency or "ONE" with `use_cache` serves the cells it can from the cache and asks the node,
        in one request, for the others (the entities with a missing cell times the references with a
        missing cell); "QUORUM" and "ALL" lookups always go to the node and do not touch the cache. A
        cached lookup may make more than one call (the first lookup of a group version also reads its
        tier with GetFeatureGroup); `timeout` applies to each.

        `with_freshness`: the answer's `freshness` maps each group version read (`group@v`) to its
        freshness against its refresh interval: a dict with `state` (FRESH, LATE, ALERT, UNTRACKED),
        `tier` (BATCH, NEAR_REAL_TIME, STREAMING), `refresh_interval_seconds` (0: none) and
        `last_write` (a UTC datetime, None if never written; for an aggregate group, its stream's).
        Such a lookup goes to the node (it does not use the cache).

        `model`: serve by model instead of by features: `"ranker@2"`, or `"ranker"` for its newest
        ACTIVE version (`get_online_features(entities=["u1"], model="ranker")`). The columns are exactly
        the model's pinned features (`group@V:feature`), in its order, named as for those references;
        `features` must then be None or empty (InvalidArgument otherwise). The answer's `model` says
        which version was served. An ARCHIVED model is refused (FailedPrecondition). With a cache, the
        node's answer to a model lookup tells the client the model's columns, and later lookups of the
        same model serve cached cells and ask the node for the missing ones by those columns until the
        resolution's TTL (the smallest of its groups') passes; then the node is asked by model again
        (and refuses it if it was archived meanwhile)."""
        level = _parse_consistency(consistency)
        if model is not None:
            if features is not None and (isinstance(features, str) or len(list(features))):
                raise InvalidArgument(f"the lookup names model '{model}' and features; a lookup by model reads "
                                      "exactly the model's features: leave features empty (None)")
            name, pinned = parse_model_ref(model)
            model_ref = f"{name}@{pinned}" if pinned else name
            refs: list[str] = []
        else:
            if features is None:
                raise InvalidArgument("no features requested; pass at least one group:feature (or model=)")
            model_ref = None
            refs = _feature_list(features)
        if entities is None:
            raise InvalidArgument("no entities given; pass at least one entity id")
        if isinstance(entities, (str, bytes)):
            entities = [entities]
        ids = []
        for e in entities:
            if isinstance(e, (int, np.integer)) and not isinstance(e, bool):
                ids.append(str(int(e)))
            elif isinstance(e, str):
                ids.append(e)
            else:
                raise InvalidArgument(f"entity ids must be strings (or integers), got {e!r}")
        if not ids:
            raise InvalidArgument("no entities given; pass at least one entity id")
        cache = self.cache
        if cache is not None and use_cache and not with_freshness and level in (fs.CONSISTENCY_DEFAULT, fs.CONSISTENCY_ONE):
            if model_ref is not None:
                return self._cached_model_online(cache, model_ref, ids, level, timeout)
            return self._cached_online(cache, refs, ids, level, timeout)
        request = fs.GetOnlineFeaturesRequest(entity_ids=ids, features=refs, consistency=level,
                                              with_freshness=with_freshness, model=model_ref or "")
        return OnlineResponse(self._unary("GetOnlineFeatures", request, timeout))

    # -- the online cache -----------------------------------------------------------------------------
    def _cached_model_online(self, cache: OnlineCache, model: str, ids: list[str], level: int,
                             timeout) -> OnlineResponse:
        """A lookup by model through the cache. While the node's last answer for `model` is fresher than
        the smallest TTL of its groups, the model is its pinned columns: a cached lookup of those
        references. Otherwise the node is asked by model (which also checks that it is ACTIVE), and its
        answer fills the cache and tells the model's columns again."""
        resolution = cache._model_resolution(model, monotonic())
        if resolution is not None:
            served, columns = resolution
            answer = self._cached_online(cache, [_pinned_ref(c) for c in columns], ids, level, timeout)
            answer.model = served
            return answer
        sent_at = monotonic()
        response = self._unary("GetOnlineFeatures", fs.GetOnlineFeaturesRequest(
            entity_ids=ids, model=model, consistency=level), timeout)
        pinned = [_pinned_ref(c) for c in response.columns]
        if response.model and len(set(pinned)) == len(pinned):
            absorbed = self._absorb(cache, response, pinned, sent_at, timeout)
            if absorbed is not None:
                columns = tuple(c for cs in absorbed[0].values() for c in cs)
                ttl = min((cache._group(c.group, c.version).ttl for c in columns), default=0.0)
                cache._confirm_model(model, response.model, columns, ttl, sent_at)
        cache._count(0, len(response.columns) * len(ids))
        return OnlineResponse(response)

    def _cached_online(self, cache: OnlineCache, refs: list[str], ids: list[str], level: int,
                       timeout) -> OnlineResponse:
        now = monotonic()
        resolved = [cache._resolution(r, now) for r in refs]
        # Cached entries of the references whose resolution is fresh: found[j][ci][i] (None = miss).
        found: list = [None] * len(refs)
        keys = []
        for j, columns in enumerate(resolved):
            if columns is not None:
                keys.extend((c.group, c.version, c.feature, e) for c in columns for e in ids)
        entries = cache._get(keys, now) if keys else []
        n = len(ids)
        miss_refs: dict[str, None] = {}
        miss_entities: dict[str, None] = {}
        pos = 0
        for j, columns in enumerate(resolved):
            if columns is None:
                miss_refs[refs[j]] = None
                for e in ids:
                    miss_entities[e] = None
                continue
            per_column = []
            for _ in columns:
                cells = entries[pos:pos + n]
                pos += n
                per_column.append(cells)
                for i, entry in enumerate(cells):
                    if entry is None:
                        miss_refs[refs[j]] = None
                        miss_entities[ids[i]] = None
            found[j] = per_column
        if not miss_refs:
            return self._assemble(refs, ids, resolved, found, None, None)
        req_refs = list(miss_refs)
        req_ids = list(miss_entities)
        sent_at = monotonic()
        response = self._unary("GetOnlineFeatures", fs.GetOnlineFeaturesRequest(
            entity_ids=req_ids, features=req_refs, consistency=level), timeout)
        absorbed = self._absorb(cache, response, req_refs, sent_at, timeout)
        if absorbed is not None:
            fresh, fetched = absorbed
            # A reference whose cached resolution was used for some cells must still resolve the same
            # way (an unpinned one may now name a newer ACTIVE version): else ask for everything.
            # So must every unpinned reference to a group the node has just resolved (all columns of
            # one group in an answer are of one version, as the node's would be).
            newest = {cs[0].group: cs[0].version for r, cs in fresh.items() if _unpinned(r)}
            if all(resolved[j] is None or resolved[j] == fresh[refs[j]] for j in range(len(refs))
                   if refs[j] in miss_refs) and \
                    all(resolved[j][0].version == newest.get(resolved[j][0].group, resolved[j][0].version)
                        for j in range(len(refs)) if refs[j] not in miss_refs and _unpinned(refs[j])):
                index = {e: r for r, e in enumerate(req_ids)}
                return self._assemble(refs, ids, [fresh.get(r, resolved[j]) if r in miss_refs else resolved[j]
                                                  for j, r in enumerate(refs)],
                                      found, fetched, (miss_refs, index))
        # Inconsistent or changed resolution: one plain lookup of everything (stored too).
        sent_at = monotonic()
        response = self._unary("GetOnlineFeatures", fs.GetOnlineFeaturesRequest(
            entity_ids=ids, features=refs, consistency=level), timeout)
        self._absorb(cache, response, refs, sent_at, timeout)
        cache._count(0, len(response.columns) * n)
        return OnlineResponse(response)

    def _learn_groups(self, cache: OnlineCache, name: str, version: int, timeout) -> None:
        """The tier of a group version (and of all its versions) from the registry, once per version."""
        g = self.get_feature_group(name, version, timeout=timeout)
        for v in g.versions or [g]:
            cache._learn_group(v.name, v.version, int(v.spec.refresh_interval or 0), v.spec.kind,
                               tuple(f.name for f in v.features))
        if cache._group(name, version) is None:  # a registry without the versions list
            cache._learn_group(g.name, g.version, int(g.spec.refresh_interval or 0), g.spec.kind,
                               tuple(f.name for f in g.features))

    def _absorb(self, cache: OnlineCache, response, req_refs: list[str], sent_at: float, timeout):
        """Stores the cells of a node's answer to (req_refs x its entities), values stamped with the time
        the request was sent, and records how each reference resolved. Returns (ref -> columns, one list
        of entries per answered column), or None if the answer's columns cannot be matched with the
        references (then nothing is stored)."""
        columns = [_Column(c.ref, c.group, c.version, c.feature, c.dtype, c.embedding_dim) for c in response.columns]
        for g, v in dict.fromkeys((c.group, c.version) for c in columns):
            if cache._group(g, v) is None:
                try:
                    self._learn_groups(cache, g, v, timeout)
                except NotFound:
                    return None
        per_ref: dict[str, tuple] = {}
        p = 0
        for r in req_refs:
            if p >= len(columns):
                return None
            first = columns[p]
            wildcard = r.partition(":")[2].strip() == "*"
            count = len(cache._group(first.group, first.version).features) if wildcard else 1
            cs = tuple(columns[p:p + count])
            if len(cs) != count or any((c.group, c.version) != (first.group, first.version) for c in cs):
                return None
            per_ref[r] = cs
            p += count
        if p != len(columns):
            return None
        answer = OnlineResponse(response)
        data = [answer._data[name] for name in answer.columns] if len(set(answer.columns)) == len(columns) \
            else [cols.online_column([v.results[k] for v in response.vectors],
                                     DType.from_proto(c.dtype, c.embedding_dim)) for k, c in enumerate(columns)]
        ids = [v.entity_id for v in response.vectors]
        fetched = []
        store = []
        for c, d in zip(columns, data):
            ttl = cache._group(c.group, c.version).ttl
            expires = sent_at + ttl
            cells = _entries(d, expires)
            fetched.append(cells)
            if ttl > 0:
                store.extend(((c.group, c.version, c.feature, e), cell) for e, cell in zip(ids, cells))
        cache._put(store)
        for r, cs in per_ref.items():
            cache._confirm(r, cs, cache._group(cs[0].group, cs[0].version).ttl, sent_at)
        # Per reference, the entries of its columns (the answer's columns are the references' in order).
        out: dict[str, list] = {}
        p = 0
        for r in req_refs:
            k = len(per_ref[r])
            out[r] = fetched[p:p + k]
            p += k
        return per_ref, out

    def _assemble(self, refs, ids, resolved, found, fetched, fetched_index) -> OnlineResponse:
        """The answer in request order: a cell comes from the node's answer when its reference and entity
        were asked for, else from the cache."""
        columns = []
        data = []
        hits = misses = 0
        for j, r in enumerate(refs):
            from_node = fetched is not None and r in fetched_index[0]
            for ci, c in enumerate(resolved[j]):
                cells = []
                for i, e in enumerate(ids):
                    if from_node and e in fetched_index[1]:
                        cells.append(fetched[r][ci][fetched_index[1][e]])
                        misses += 1
                    else:
                        cells.append(found[j][ci][i])
                        hits += 1
                columns.append(c)
                data.append(_column_data(c, cells))
        self.cache._count(hits, misses)
        return OnlineResponse._from_columns(ids, columns, data)

    # -- writes ---------------------------------------------------------------------------------------
    def write(self, group: str, data, *, batch_size: int = 5000, progress: bool | None = None,
              timeout: float | None = None, consistency: str | None = None,
              writer: WriterLike = None) -> WriteResult:
        """Writes the rows of a pandas DataFrame or pyarrow Table (or RecordBatch) to a group (`name` for the
        latest ACTIVE version, `name@N` for a pinned one).

        Columns: `entity_id` (strings, or integers sent as text), `event_timestamp` (datetimes; naive ones
        are UTC), optionally `created_timestamp` (null = the node's clock), and any features of the group
        (a feature without a column is null; a column that is no feature is an error). Rows are streamed in
        batches of at most `batch_size` rows (and about 4 MiB); each batch is committed atomically. A bad
        value stops the write at its batch: earlier batches stay committed, and the error says how many.

        `consistency` ("ONE", "QUORUM" or "ALL"; None = the node's default, QUORUM): how many replicas of
        each row must have stored it before the write is acknowledged, on a cluster with replication. The
        result's `replicas_acknowledged` is the fewest replicas that had stored any row when it was
        acknowledged, `replication_factor` the cluster's (both 1 on a single node).

        `writer`: who writes, recorded in the group version's write log (`Client.lineage`): a
        `strata.Writer(pipeline, run_id)`, a dict with those keys, or a string (the pipeline). Each field
        is at most 256 bytes (UTF-8), checked before anything is sent. Every batch of the call carries
        it; None (or an empty Writer) sends none, and the node records the batches as written by an
        unnamed writer.
        """
        return self._write(group, TableSource(data, "write"), batch_size, progress, timeout, consistency, writer)

    def write_parquet(self, group: str, path: str | os.PathLike, *, batch_size: int = 5000,
                      progress: bool | None = None, timeout: float | None = None,
                      consistency: str | None = None, writer: WriterLike = None) -> WriteResult:
        """Writes a Parquet file (e.g. from Spark or dbt) to a group, reading it batch by batch (never the
        whole file). The same columns, `consistency` and `writer` as `write`."""
        return self._write(group, TableSource(path, f"write_parquet('{os.fspath(path)}')"), batch_size, progress,
                           timeout, consistency, writer)

    def _write(self, group: str, source: TableSource, batch_size: int, progress, timeout,
               consistency: str | None = None, writer: WriterLike = None) -> WriteResult:
        if batch_size < 1:
            raise InvalidArgument("batch_size must be at least 1")
        level = _parse_consistency(consistency)
        identity = _as_writer(writer)
        name, version = _parse_group_ref(group)
        g = self.get_feature_group(name, version or None)
        batch_size, max_bytes = self._batch_limits(batch_size, timeout)
        plan = _WritePlan(g, source.schema, level, identity)
        started = time.perf_counter()
        sent = {"rows": 0, "batches": 0}
        failure: list[BaseException] = []
        call_ready = threading.Event()
        holder: dict = {}
        bar = Progress(source.num_rows, f"write {g.qualified_name}", progress)

        def requests():
            call_ready.wait()
            try:
                for batch in source.batches(batch_size, columns=plan.input_columns):
                    for part in _split_by_bytes(batch, max_bytes):
                        message = plan.message(part, first_row=sent["rows"])
                        yield message
                        sent["rows"] += part.num_rows
                        sent["batches"] += 1
                        bar.update(part.num_rows)
            except Exception as e:  # noqa: BLE001 - re-raised in the calling thread
                failure.append(e)
                if "call" in holder:
                    holder["call"].cancel()

        try:
            call = self._write_features.future(requests(), timeout=timeout)
            holder["call"] = call
            call_ready.set()
            try:
                response = call.result()
            except grpc.FutureCancelledError:
                response = None
            except grpc.RpcError as e:
                if failure:
                    response = None
                else:
                    error = from_rpc_error(e, self.address)
                    self._next_address(error)
                    raise error from None
            if failure:
                error = failure[0]
                if sent["batches"] and isinstance(error, StrataError):
                    error = type(error)(
                        f"{error.message}\nstopped: rows before this point were sent in {sent['batches']} batches "
                        f"({sent['rows']} rows); batches the node acknowledged are committed", error.code)
                raise error from None
            if response is None:
                raise from_rpc_error(_Cancelled(), self.address)
        finally:
            call_ready.set()
            bar.close()
        return WriteResult(response.rows_written, response.late_rows, response.batches,
                           time.perf_counter() - started, response.replicas_acknowledged,
                           response.replication_factor)

    # -- streams --------------------------------------------------------------------------------------
    def push(self, stream: str, data, *, consistency: str | None = None, batch_rows: int = 5000,
             idempotency_prefix: str | None = None, progress: bool | None = None, timeout: float | None = None,
             retries: int = 3, writer: WriterLike = None) -> PushResult:
        """Pushes events to a stream (`name`, or `name@N` for a pinned version) over one `PushEvents` call.
        An unpinned name costs one `GetFeatureGroup` call per push (the latest ACTIVE version may change);
        a pinned version is looked up once per client, which matters for producers of small batches. A
        producer that pushes small batches often is better served by `push_session` (one call for all).

        `data`: a pandas DataFrame, a pyarrow Table or RecordBatch, or the path of a Parquet file, with the
        columns of `write`: `entity_id`, `event_timestamp`, optionally `created_timestamp`, and fields of
        the stream (a field without a column is null). Events are sent in batches of at most `batch_rows`
        (and about 4 MiB, within the node's limits); the node stores each batch atomically and answers it
        once it is durable at `consistency` ("ONE", "QUORUM" or "ALL"; None = the node's default, QUORUM).

        Batch i carries the idempotency key `<idempotency_prefix>:<i>` (default prefix: a random uuid per
        call). A node answers a key it has already applied (with the same events) as a duplicate without
        storing anything again; keys are kept per node, so a resend must go to the same node. If the call
        breaks because the node is unavailable, the unacknowledged batches are resent with the same keys
        to the same address, up to `retries` times; pushing the same data again with the same prefix and
        `batch_rows` is safe too. A rejected batch (bad value, unknown field, not a stream) stores
        nothing and stops the push: earlier acknowledged batches stay, and the error says how many.

        `writer`: who pushes, as for `write` (a `strata.Writer`, a dict with its keys, or a string: the
        pipeline); every batch carries it, resent batches included.
        """
        if batch_rows < 1:
            raise InvalidArgument("batch_rows must be at least 1")
        if retries < 0:
            raise InvalidArgument("retries must be at least 0")
        prefix = _idempotency_prefix(idempotency_prefix)
        level = _parse_consistency(consistency)
        identity = _as_writer(writer)
        source = TableSource(data, "push")
        g = self._push_target(stream, timeout)
        batch_rows, max_bytes = self._batch_limits(batch_rows, timeout)
        plan = _WritePlan(g, source.schema, level, identity)
        started = time.perf_counter()
        address = self._current
        connection = self._connection()
        bar = Progress(source.num_rows, f"push {g.qualified_name}", progress)
        lock = threading.Condition()
        pending: collections.deque = collections.deque()  # (key, message, rows) sent and not yet answered
        failure: list[BaseException] = []
        done = {"events": 0, "late": 0, "batches": 0, "duplicates": 0, "rows": 0, "retries": 0}
        state = {"exhausted": False, "next": 0}

        def messages():
            for part in _push_parts(source, plan, batch_rows, max_bytes):
                key = f"{prefix}:{state['next']}"
                message = plan.push_message(key, part, first_row=state["rows_encoded"])
                state["rows_encoded"] += part.num_rows
                state["next"] += 1
                yield key, message, part.num_rows

        state["rows_encoded"] = 0
        source_messages = messages()

        def requests(call_box: dict):
            # First the batches a broken call left unanswered (same keys), then new ones; at most
            # _PUSH_IN_FLIGHT batches wait for their answer.
            with lock:
                resend = list(pending)
            for _, message, _ in resend:
                yield message
            while True:
                with lock:
                    while len(pending) >= _PUSH_IN_FLIGHT and not call_box.get("over"):
                        lock.wait(0.5)
                    if call_box.get("over") or state["exhausted"]:
                        return
                    try:
                        item = next(source_messages, None)
                    except Exception as e:  # noqa: BLE001 - re-raised in the calling thread
                        # The call ends normally, so the batches sent before are answered (and counted)
                        # before the error is raised.
                        failure.append(e)
                        state["exhausted"] = True
                        return
                    if item is None:
                        state["exhausted"] = True
                        return
                    pending.append(item)
                yield item[1]

        try:
            while True:
                call_box: dict = {}
                call = connection.push_events(requests(call_box), timeout=timeout)
                call_box["call"] = call
                try:
                    for response in call:
                        with lock:
                            key, _, rows = pending.popleft()
                            lock.notify_all()
                        if response.idempotency_key != key:
                            raise Internal(f"push: the node answered batch '{response.idempotency_key}' where "
                                           f"'{key}' was expected")
                        done["events"] += response.events_written
                        done["late"] += response.late_events
                        done["batches"] += 1
                        done["duplicates"] += int(response.duplicate)
                        done["rows"] += rows
                        bar.update(rows)
                    with lock:
                        call_box["over"] = True
                        lock.notify_all()
                    if failure:
                        raise failure[0]
                    if pending or not state["exhausted"]:
                        raise Internal(f"push: the node ended the call with {len(pending)} batches unanswered")
                    break
                except grpc.RpcError as e:
                    with lock:
                        call_box["over"] = True
                        lock.notify_all()
                    if failure:
                        raise failure[0] from None
                    error = from_rpc_error(e, self.addresses[address])
                    if isinstance(error, Unavailable) and error.node is None and done["retries"] < retries:
                        done["retries"] += 1
                        time.sleep(min(2.0, 0.2 * 2 ** done["retries"]))
                        continue
                    if isinstance(error, Unavailable) and error.node is None:
                        self._next_address(error)
                    raise error from None
        except StrataError as error:
            if done["batches"]:
                raise type(error)(
                    f"{error.message}\nstopped: {done['batches']} batches ({done['rows']} events) were acknowledged "
                    f"and are stored; to resume, push the same data with idempotency_prefix='{prefix}' and "
                    f"batch_rows={batch_rows} to {self.addresses[address]} (acknowledged batches answer as "
                    "duplicates)", error.code, server=error.server, node=error.node, reason=error.reason) from None
            raise
        finally:
            with lock:
                state["exhausted"] = True
                lock.notify_all()
            bar.close()
        return PushResult(done["events"], done["late"], done["batches"], done["duplicates"],
                          time.perf_counter() - started, prefix, done["retries"])

    def push_session(self, stream: str, *, consistency: str | None = None, writer: WriterLike = None,
                     idempotency_prefix: str | None = None, batch_rows: int = 5000,
                     timeout: float | None = None) -> "PushSession":
        """A `PushSession`: one `PushEvents` call kept open for many pushes to one stream, for producers that
        push small batches often (each `Client.push` opens a new call, and for an unpinned stream name looks
        the stream up first).

        Opening it resolves `stream` (`name`: the latest ACTIVE version now; `name@N`: that version, looked
        up once per client) and the node's batch limits (once per client), then opens the call to the
        client's current address. Every later push of the session goes to that version on that node.

            with client.push_session("purchases", writer="orders-ingest") as session:
                for events in source:            # DataFrames, Arrow tables, ...
                    session.push(events)         # -> PushResult once every batch is acknowledged

        `session.push(data)` takes what `push` takes, checks the data whole (InvalidArgument before
        anything is sent; the session stays open), sends it in batches of at most `batch_rows` events
        (and about 4 MiB, within the node's limits), and returns once the node acknowledged them all,
        each durable at `consistency` (as for `push`). Batches carry the idempotency keys
        `<idempotency_prefix>:<i>` (default prefix: a new uuid per session), i counting the batches of the
        whole session, so that no key repeats within it. `writer` goes with every batch, as for `push`.
        `session.send(data)` sends without waiting (a `PendingPush`; `.result()` waits), `flush()` waits for
        everything sent, `close()` (or leaving the `with` block) ends the call once every batch sent is
        answered.

        A batch the node refuses stores nothing and ends the call: the push that sent it raises the error
        (the class `push` would raise), the batches acknowledged before it stay stored, and the session is
        closed: its later calls raise FailedPrecondition saying it ended because of that error. A node that
        goes away ends it too (Unavailable; the batches it had not answered may or may not be stored). A
        session does not resend: open a new one. `timeout` (seconds) bounds the lookups made when opening
        and each wait for acknowledgements (`push`, `flush`, `close`; a wait that runs out ends the session
        with DeadlineExceeded); None: the lookups use the client's timeout and the waits have none.

        A session is used by one thread at a time; it shows no progress bar.
        """
        from .session import PushSession
        return PushSession(self, stream, consistency=consistency, writer=writer,
                           idempotency_prefix=idempotency_prefix, batch_rows=batch_rows, timeout=timeout)

    def _push_target(self, stream: str, timeout) -> RegisteredGroup:
        """The stream version `stream` (`name` or `name@N`) names for a push (`_push_definition`)."""
        name, version = _parse_group_ref(stream)
        return self._push_definition(name, version or None, timeout)

    def _push_definition(self, name: str, version: int | None, timeout) -> RegisteredGroup:
        """The stream version a push writes to. A pinned version (`name@N`) is asked for once per client:
        a version's fields never change (a changed definition is version N+1), and the node checks the
        version's status on every push. An unpinned name is resolved on every push, since a newer
        version may have been applied since."""
        if version is None:
            return self.get_feature_group(name, None, timeout=timeout)
        pinned = self.__dict__.setdefault("_pinned_streams", {})
        g = pinned.get((name, version))
        if g is None:
            g = pinned[(name, version)] = self.get_feature_group(name, version, timeout=timeout)
        return g

    def _batch_limits(self, batch_size: int, timeout) -> tuple[int, int]:
        """Batches within what the node accepts (older nodes do not say: then the defaults apply). Asked
        once per client: a node's limits are fixed while it runs, and GetStatus through a cluster node
        asks every node."""
        if not hasattr(self, "_limits"):
            self._limits = self.status(timeout=timeout).limits
        limits = self._limits
        max_bytes = _MAX_WRITE_MESSAGE_BYTES
        if limits is not None:
            if limits.max_rows_per_batch > 0:
                batch_size = min(batch_size, limits.max_rows_per_batch)
            if limits.max_request_bytes > 0:
                max_bytes = min(max_bytes, limits.max_request_bytes // 2)
        return batch_size, max_bytes

    # -- historical -----------------------------------------------------------------------------------
    def get_historical_features(self, labels, features: str | Sequence[str], *, with_status: bool = False,
                                with_event_timestamps: bool = False, chunk_size: int = 25_000,
                                progress: bool | None = None, timeout: float | None = None,
                                force: bool = False, training_set: str | None = None,
                                created_by: str | None = None,
                                training_set_description: str | None = None) -> RetrievalJob:
        """A point-in-time join (training data): for each label row (entity_id, label_timestamp) the value of
        each feature as of that time. Returns a `RetrievalJob`: `.to_df()`, `.to_arrow()`,
        `.to_parquet(path)`; the export runs when one of them is called.

        `labels`: a pandas DataFrame, a pyarrow Table, or the path of a Parquet file, with `entity_id` and
        `label_timestamp` (or `event_timestamp`, or `timestamp`) columns, an optional `known_at` column
        (rows created after it are ignored), and any other columns, which are passed through. Output rows
        are in input order. Feature columns are named `group:feature` (`group@v:feature` when two versions
        of one feature are requested); `with_status` adds `<column>__status`, `with_event_timestamps`
        `<column>__event_timestamp` (the event time of the row each value came from).

        `force`: a reference that pins a DEPRECATED version (`group@1:feature`) is refused by the node
        (FailedPrecondition naming the version and its group's newest ACTIVE version, raised when the
        export runs): new training data should not be built on a version on its way out. `force=True`
        exports it anyway (e.g. to reproduce an old training set). Unpinned references never read a
        DEPRECATED version, and online lookups are not affected.

        `training_set`: save the export as a named training set (1 to 128 ASCII letters, digits, '_', '-'
        or '.', starting with a letter or a digit; a name is never reused: AlreadyExists, raised when the
        export runs, before any row). The node records its manifest once every row was sent: the resolved
        and pinned columns, the label rows' count, checksum and time range, whether `known_at` was used,
        when, `created_by` (who, at most 256 bytes; default: the OS user name) and
        `training_set_description` (at most 4,096 bytes). After the export ran, `job.training_set` is that
        manifest (a `TrainingSet`); `Client.register_model(..., training_set=)` ties a model to it. The
        whole export is one call, however many chunks the labels take; such a job runs once (see
        `RetrievalJob`). Names and sizes are checked here (InvalidArgument).
        """
        if chunk_size < 1:
            raise InvalidArgument("chunk_size must be at least 1")
        if not isinstance(force, (bool, np.bool_)):
            raise InvalidArgument(f"force must be True or False, got {type(force).__name__} {force!r}")
        if training_set is None:
            if created_by is not None or training_set_description is not None:
                raise InvalidArgument("created_by and training_set_description describe a training set: name it "
                                      "(training_set=) or leave them out")
        else:
            check_name(training_set, "training set")
            label = f"training set '{training_set}'"
            created_by = check_text(_os_user() if created_by is None else created_by, label, "created_by",
                                    MAX_BY_BYTES)
            training_set_description = check_text(training_set_description, label, "the description",
                                                  MAX_DESCRIPTION_BYTES)
        source = TableSource(labels, "get_historical_features")
        return RetrievalJob(self, source, _feature_list(features), with_status=with_status,
                            with_event_timestamps=with_event_timestamps, chunk_size=chunk_size, progress=progress,
                            timeout=timeout, force=bool(force), training_set=training_set,
                            created_by=created_by or "", training_set_description=training_set_description or "")


class _Cancelled(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.CANCELLED

    def details(self):
        return "the call was cancelled"


def _split_by_bytes(batch: pa.RecordBatch, max_bytes: int = _MAX_WRITE_MESSAGE_BYTES) -> Iterable[pa.RecordBatch]:
    """Cuts a record batch so that each write message stays around `max_bytes`."""
    n = batch.num_rows
    estimate = batch.nbytes + n * (16 + 4 * batch.num_columns)
    if estimate <= max_bytes or n <= 1:
        yield batch
        return
    rows = max(1, int(n * max_bytes / estimate))
    for start in range(0, n, rows):
        yield batch.slice(start, rows)


def _push_parts(source: TableSource, plan: "_WritePlan", batch_rows: int, max_bytes: int) -> Iterable[pa.RecordBatch]:
    """The push batches of `source`, in order: at most `batch_rows` events each, cut to about `max_bytes`."""
    for batch in source.batches(batch_rows, columns=plan.input_columns):
        yield from _split_by_bytes(batch, max_bytes)


def _idempotency_prefix(idempotency_prefix: str | None) -> str:
    """The prefix of a push's (or a push session's) idempotency keys `<prefix>:<batch>`: the one given, or a
    new uuid. InvalidArgument when the keys could exceed the node's 128 bytes."""
    prefix = str(uuid.uuid4()) if idempotency_prefix is None else str(idempotency_prefix)
    if len(f"{prefix}:0".encode()) > 100:
        raise InvalidArgument("idempotency_prefix is too long: keys are at most 128 bytes ('<prefix>:<batch>')")
    return prefix


class _WritePlan:
    """How an input table's columns map onto a group's write messages; checked before anything is sent."""

    def __init__(self, group: RegisteredGroup, schema: pa.Schema, consistency: int = 0, writer: Writer | None = None):
        self.group = group
        names = list(schema.names)
        features: list[str] = []
        for n in names:
            if n in ("entity_id", "event_timestamp", "created_timestamp"):
                continue
            if group.feature(n) is None:
                known = ", ".join(f.name for f in group.features)
                raise InvalidArgument(
                    f"column '{n}' is not a feature of {group.qualified_name} (features: {known}); the other allowed "
                    "columns are entity_id, event_timestamp, created_timestamp")
            features.append(n)
        if "entity_id" not in names:
            raise InvalidArgument("the data has no 'entity_id' column")
        if "event_timestamp" not in names:
            raise InvalidArgument("the data has no 'event_timestamp' column")
        if not features:
            raise InvalidArgument(f"the data has no column named after a feature of {group.qualified_name} "
                                  f"(features: {', '.join(f.name for f in group.features)})")
        cols.check_entity_type(schema.field("entity_id").type, "entity_id")
        cols.check_timestamp_type(schema.field("event_timestamp").type, "event_timestamp")
        self.created = "created_timestamp" in names
        if self.created:
            cols.check_timestamp_type(schema.field("created_timestamp").type, "created_timestamp")
        self.features = features
        self.dtypes = [group.feature(n).dtype for n in features]
        for n, dt in zip(features, self.dtypes):
            cols.check_feature_type(schema.field(n).type, dt, n, group.qualified_name)
        # The node reads the consistency from the first message of a call; every message carries it. The
        # writer (when one is named) is recorded per batch: every message carries it too.
        self.writer_field = {"writer": writer.to_proto()} if writer else {}
        self.consistency = consistency
        self.header = fs.WriteFeaturesRequest(group=group.name, version=group.version, features=features,
                                              consistency=consistency, **self.writer_field).SerializeToString()
        self.input_columns = ["entity_id", "event_timestamp"] + (["created_timestamp"] if self.created else []) \
            + features

    def message(self, batch: pa.RecordBatch, first_row: int) -> bytes:
        """One serialized WriteFeaturesRequest with the rows of `batch`."""
        return self.header + self.rows(batch, first_row)

    def push_message(self, key: str, batch: pa.RecordBatch, first_row: int) -> bytes:
        """One serialized PushEventsRequest: the stream version, its columns, the idempotency key `key`, the
        consistency, the writer, and the events of `batch` (its first row is row `first_row` of the data)."""
        header = fs.PushEventsRequest(stream=self.group.name, version=self.group.version, fields=self.features,
                                      idempotency_key=key, consistency=self.consistency,
                                      **self.writer_field).SerializeToString()
        return header + self.rows(batch, first_row)

    def rows(self, batch: pa.RecordBatch, first_row: int) -> bytes:
        """Field 4 (`rows` of WriteFeaturesRequest, `events` of PushEventsRequest) with the rows of `batch`."""
        ids = batch.column("entity_id")
        entity = _wire.string_buffers(ids)
        null_ids = cols.null_mask(ids)
        bad = null_ids | (entity[2] == 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise InvalidArgument(f"row {first_row + i}: entity_id is {'null' if null_ids[i] else 'empty'}")
        events, null_events = cols.micros(batch.column("event_timestamp"), "event_timestamp")
        if null_events.any():
            raise InvalidArgument(f"row {first_row + int(np.argmax(null_events))}: event_timestamp is null")
        created = created_mask = None
        if self.created:
            created, null_created = cols.micros(batch.column("created_timestamp"), "created_timestamp")
            created_mask = ~null_created
        n = batch.num_rows
        values = []
        for name, dt in zip(self.features, self.dtypes):
            v, has = cols.feature_values(batch.column(name), dt, name, first_row)
            values.append(_wire.value_segments(dt.kind, dt.dim, v, has, n))
        return _wire.write_rows(entity, events, created, created_mask, values)


def _pinned_ref(c) -> str:
    """`group@V:feature` of a resolved column (FeatureColumn or cache `_Column`)."""
    return f"{c.group}@{c.version}:{c.feature}"


def _unpinned(ref: str) -> bool:
    """`group:feature` or `group:*` (the newest ACTIVE version), not `group@N:...`."""
    return "@" not in ref.partition(":")[0]


def _entries(d: ColumnData, expires: float) -> list:
    """Cache entries (expires_at, status, has_value, value, event_micros) of one decoded column."""
    statuses = d.statuses.tolist()
    has = d.has_value.tolist()
    ev = d.event_micros.tolist() if d.event_micros is not None else [0] * len(has)
    if d.dtype.kind == "EMBEDDING":
        values = []
        for i, h in enumerate(has):
            if h:
                row = np.array(d.values[i], dtype=np.float32)
                row.flags.writeable = False
                values.append(row)
            else:
                values.append(None)
    else:
        values = d.values.tolist()
    return [(expires, s, h, v, t) for s, h, v, t in zip(statuses, has, values, ev)]


def _column_data(c: _Column, cells: list) -> ColumnData:
    """One column of an assembled answer from cache entries."""
    dtype = DType.from_proto(c.dtype, c.embedding_dim)
    n = len(cells)
    statuses = np.fromiter((e[1] for e in cells), dtype=np.uint8, count=n)
    has = np.fromiter((e[2] for e in cells), dtype=bool, count=n)
    ev = np.fromiter((e[4] for e in cells), dtype=np.int64, count=n)
    k = dtype.kind
    if k == "FLOAT":
        values = np.fromiter((e[3] for e in cells), dtype=np.float64, count=n)
    elif k == "INT":
        values = np.fromiter((e[3] for e in cells), dtype=np.int64, count=n)
    elif k == "STRING":
        values = np.empty(n, dtype=object)
        values[:] = [e[3] for e in cells]
    else:
        values = np.zeros((n, dtype.dim), dtype=np.float32)
        for i, e in enumerate(cells):
            if e[2]:
                values[i] = e[3]
    return ColumnData(dtype, values, has, statuses, ev)
