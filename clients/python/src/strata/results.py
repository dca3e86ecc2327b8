"""Results: `OnlineResponse` (online lookups) and `RetrievalJob` (point-in-time exports)."""
from __future__ import annotations

import collections
import dataclasses
import datetime
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

import grpc
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import _columns as cols
from . import _wire
from ._columns import ColumnData, Status
from ._progress import Progress
from ._proto import feature_store_pb2 as fs
from .definitions import DType
from .errors import FailedPrecondition, InvalidArgument, StrataError, Unimplemented, from_rpc_error
from .models import TrainingSet

if TYPE_CHECKING:  # pragma: no cover
    from ._sources import TableSource
    from .client import Client


def _frame(columns: dict[str, Any], n: int) -> pd.DataFrame:
    return pd.DataFrame(columns, index=pd.RangeIndex(n)) if columns else pd.DataFrame(index=pd.RangeIndex(n))


def _add_feature_columns(out: dict, names: list[str], data: list[ColumnData], with_status: bool,
                         with_event_timestamps: bool, arrow: bool) -> None:
    for name, c in zip(names, data):
        out[name] = c.to_arrow() if arrow else c.to_pandas()
    if with_status:
        for name, c in zip(names, data):
            out[f"{name}__status"] = c.status_arrow() if arrow else c.status_pandas()
    if with_event_timestamps:
        for name, c in zip(names, data):
            out[f"{name}__event_timestamp"] = c.event_arrow() if arrow else c.event_pandas()


class OnlineResponse:
    """The answer of `get_online_features`: one row per requested entity (in request order), one column per
    resolved feature, named `group:feature` (`group@v:feature` where two versions of one feature were
    requested).

    - `values`: dict column -> list of Python values (float, int, str, float32 numpy array, or None)
    - `statuses`: dict column -> list of `Status` (PRESENT, DEFAULTED, MISSING, EXPIRED)
    - `event_timestamps`: dict column -> list of the event time (UTC datetime) of the row each value came
      from, None where no row was found
    - `freshness`: dict `group@v` -> freshness of each group version read (only with
      `get_online_features(..., with_freshness=True)`, else empty)
    - `model`: the model version served (`"NAME@V"`) by a lookup by model (`get_online_features(...,
      model=)`), else None
    - `to_dict()`, `to_df()`
    """

    def __init__(self, response: fs.GetOnlineFeaturesResponse):
        self.model: str | None = response.model or None
        self.freshness: dict[str, dict] = {
            f"{f.group}@{f.version}": {
                "state": fs.FreshnessState.Name(f.freshness).removeprefix("FRESHNESS_STATE_"),
                "tier": fs.FreshnessTier.Name(f.tier).removeprefix("FRESHNESS_TIER_"),
                "refresh_interval_seconds": f.refresh_interval_seconds,
                "last_write": (datetime.datetime.fromtimestamp(f.last_write_micros / 1e6, tz=datetime.timezone.utc)
                               if f.last_write_micros else None),
            } for f in response.freshness}
        self.entity_ids: list[str] = [v.entity_id for v in response.vectors]
        self.columns: list[str] = cols.column_names(response.columns)
        self.refs: list[str] = [c.ref for c in response.columns]
        self.dtypes: dict[str, DType] = {
            n: DType.from_proto(c.dtype, c.embedding_dim) for n, c in zip(self.columns, response.columns)}
        self._data: dict[str, ColumnData] = {}
        for k, name in enumerate(self.columns):
            results = [v.results[k] for v in response.vectors]
            self._data[name] = cols.online_column(results, self.dtypes[name])

    @classmethod
    def _from_columns(cls, entity_ids: list[str], columns: list, data: list[ColumnData]) -> "OnlineResponse":
        """A response assembled by the client (the online cache): `columns` are FeatureColumn-like objects
        (ref, group, version, feature, dtype, embedding_dim), `data` one ColumnData per column."""
        self = cls.__new__(cls)
        self.model = None
        self.freshness = {}
        self.entity_ids = list(entity_ids)
        self.columns = cols.column_names(columns)
        self.refs = [c.ref for c in columns]
        self.dtypes = {n: DType.from_proto(c.dtype, c.embedding_dim) for n, c in zip(self.columns, columns)}
        self._data = dict(zip(self.columns, data))
        return self

    def __len__(self) -> int:
        return len(self.entity_ids)

    def __repr__(self) -> str:
        served = f" of model {self.model}" if self.model else ""
        return f"<OnlineResponse {len(self.entity_ids)} entities x {len(self.columns)} features{served}>"

    @property
    def values(self) -> dict[str, list]:
        out = {}
        for name, c in self._data.items():
            if c.dtype.kind == "EMBEDDING":
                out[name] = [c.values[i] if c.has_value[i] else None for i in range(len(c))]
            else:
                out[name] = [v if h else None for v, h in zip(c.values.tolist(), c.has_value.tolist())]
        return out

    @property
    def statuses(self) -> dict[str, list[Status]]:
        return {name: [Status(int(s)) for s in c.statuses] for name, c in self._data.items()}

    @property
    def event_timestamps(self) -> dict[str, list]:
        out = {}
        for name, c in self._data.items():
            ev = c.event_pandas()
            out[name] = [None if pd.isna(t) else t.to_pydatetime() for t in ev]
        return out

    def to_dict(self, with_status: bool = False) -> dict[str, list]:
        """{"entity_id": [...], "group:feature": [...], ...}; `with_status` adds `<column>__status` lists of
        status names."""
        out: dict[str, list] = {"entity_id": list(self.entity_ids)}
        out.update(self.values)
        if with_status:
            for name, c in self._data.items():
                out[f"{name}__status"] = [cols.STATUS_NAMES[min(int(s), 4)] for s in c.statuses]
        return out

    def to_df(self, with_status: bool = False, with_event_timestamps: bool = False) -> pd.DataFrame:
        """A DataFrame with `entity_id` and one typed column per feature (see `RetrievalJob.to_df`)."""
        out: dict[str, Any] = {"entity_id": pd.array(self.entity_ids, dtype=_string_dtype())}
        _add_feature_columns(out, list(self._data), list(self._data.values()), with_status, with_event_timestamps, False)
        return _frame(out, len(self.entity_ids))

    def to_arrow(self, with_status: bool = False, with_event_timestamps: bool = False) -> pa.Table:
        out: dict[str, Any] = {"entity_id": pa.array(self.entity_ids, type=pa.string())}
        _add_feature_columns(out, list(self._data), list(self._data.values()), with_status, with_event_timestamps, True)
        return pa.table(out)


def _string_dtype():
    return "str" if int(pd.__version__.split(".")[0]) >= 3 else pd.StringDtype()


@dataclasses.dataclass
class ExportSummary:
    """What an export produced: rows, seconds, and per feature column the count of each status."""

    rows: int
    seconds: float
    columns: list[str]
    status_counts: dict[str, dict[str, int]]

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


_TIME_COLUMNS = ("label_timestamp", "event_timestamp", "timestamp")


class RetrievalJob:
    """A point-in-time export, run when `to_df()`, `to_arrow()` or `to_parquet(path)` is called (the
    collected result is kept, so calling `to_df()` and then `to_arrow()` runs the export once).

    Labels are streamed to the node in chunks of `chunk_size` rows while the joined rows stream back in
    the columnar form; at most four chunks are in flight. `to_parquet` writes the joined rows as they
    arrive, so with Parquet labels its memory is bounded by the chunk size, not the export size.

    `force` (see `Client.get_historical_features`): export references that pin a DEPRECATED version
    instead of failing with FailedPrecondition; sent in the call's first message.

    `training_set_name` (with `created_by` and `training_set_description`): the export is saved as a
    named training set. Its manifest (`training_set`, a `TrainingSet`) is set once the export ran: the
    node sends it in its last answer. Such a job runs its export once (the name is then taken): the
    joined rows are kept with their labels, so `to_df()` then `to_arrow()` reuse them; after
    `to_parquet`, which keeps nothing, running it again raises FailedPrecondition.
    """

    def __init__(self, client: "Client", source: "TableSource", features: list[str], *, with_status: bool,
                 with_event_timestamps: bool, chunk_size: int, progress: bool | None, timeout: float | None,
                 force: bool = False, training_set: str | None = None, created_by: str = "",
                 training_set_description: str = ""):
        self._client = client
        self._source = source
        self.features = features
        self.force = force
        self.training_set_name = training_set
        self.created_by = created_by
        self.training_set_description = training_set_description
        # The saved manifest, once the export ran (only when it names a training set).
        self.training_set: TrainingSet | None = None
        self.with_status = with_status
        self.with_event_timestamps = with_event_timestamps
        self.chunk_size = chunk_size
        self.progress = progress
        self.timeout = timeout
        names = source.names
        if "entity_id" not in names:
            raise InvalidArgument("labels: the table has no 'entity_id' column")
        self.time_column = next((c for c in _TIME_COLUMNS if c in names), None)
        if self.time_column is None:
            raise InvalidArgument("labels: the table has no 'label_timestamp' (or 'event_timestamp', 'timestamp') "
                                  "column")
        self.known_at_column = "known_at" if "known_at" in names else None
        cols.check_entity_type(source.schema.field("entity_id").type, "entity_id")
        cols.check_timestamp_type(source.schema.field(self.time_column).type, self.time_column)
        if self.known_at_column:
            cols.check_timestamp_type(source.schema.field("known_at").type, "known_at")
        self.columns: list[str] | None = None  # feature column names, known once the node answered
        self.refs: list[str] | None = None
        self.dtypes: list[DType] | None = None
        self.summary: ExportSummary | None = None
        self._collected: list[ColumnData] | None = None
        self._collected_labels: list[pa.RecordBatch] | None = None

    def __repr__(self) -> str:
        saved = f", training set '{self.training_set_name}'" if self.training_set_name else ""
        return f"<RetrievalJob {len(self.features)} feature refs, {self._source.num_rows} labels{saved}>"

    # -- public ---------------------------------------------------------------------------------------
    def to_df(self) -> pd.DataFrame:
        """The label columns (unchanged, in input order) followed by one column per feature: INT -> nullable
        `Int64`, FLOAT -> `float64` (NaN where null), STRING -> pandas' string dtype, EMBEDDING -> numpy
        float32 arrays (None where null); `__status` columns are categoricals of status names,
        `__event_timestamp` columns `datetime64[us, UTC]` (NaT where no row was found)."""
        data = self._collect(need_labels=self._source.pandas is None)
        n = len(data[0]) if data else self._source.num_rows
        if self._source.pandas is not None:
            frame = self._source.pandas.reset_index(drop=True)
            out = {c: frame[c] for c in frame.columns}
        else:
            table = pa.Table.from_batches(self._collected_labels, schema=self._label_schema())
            frame = table.to_pandas()
            out = {c: frame[c] for c in frame.columns}
        features: dict[str, Any] = {}
        _add_feature_columns(features, self.columns, data, self.with_status, self.with_event_timestamps, False)
        clash = sorted(set(features) & set(out))
        if clash:
            raise InvalidArgument(f"labels: column '{clash[0]}' has the name of a joined feature column; rename it")
        out.update(features)
        return _frame(out, n)

    def to_arrow(self) -> pa.Table:
        """The same as `to_df()` as a pyarrow Table: INT -> int64, FLOAT -> double, STRING -> string,
        EMBEDDING -> fixed_size_list<float>[dim], statuses dictionary<string>, event times timestamp[us, UTC]
        (nulls where there is no value)."""
        data = self._collect(need_labels=True)
        table = pa.Table.from_batches(self._collected_labels, schema=self._label_schema())
        features: dict[str, Any] = {}
        _add_feature_columns(features, self.columns, data, self.with_status, self.with_event_timestamps, True)
        for name, arr in features.items():
            if name in table.column_names:
                raise InvalidArgument(f"labels: column '{name}' has the name of a joined feature column; rename it")
            table = table.append_column(name, arr)
        return table

    def to_parquet(self, path, **writer_options) -> ExportSummary:
        """Writes the joined rows (label columns + feature columns, as `to_arrow()`) to a Parquet file as they
        arrive. Returns the export summary."""
        if self._collected is not None:
            pq.write_table(self.to_arrow(), path, **writer_options)
            return self.summary
        writer: list[pq.ParquetWriter] = []

        def sink(labels: pa.RecordBatch, data: list[ColumnData]) -> None:
            features: dict[str, Any] = {}
            _add_feature_columns(features, self.columns, data, self.with_status, self.with_event_timestamps, True)
            arrays = list(labels.columns) + list(features.values())
            names = list(labels.schema.names) + list(features)
            batch = pa.RecordBatch.from_arrays(arrays, names=names)
            if not writer:
                clash = sorted(set(features) & set(labels.schema.names))
                if clash:
                    raise InvalidArgument(f"labels: column '{clash[0]}' has the name of a joined feature column; "
                                          "rename it")
                writer.append(pq.ParquetWriter(path, batch.schema, **writer_options))
            writer[0].write_batch(batch)

        try:
            self._run(sink, need_labels=True)
            if not writer:  # no label rows: an empty file with the right schema
                empty = self._empty_schema()
                pq.ParquetWriter(path, empty, **writer_options).close()
        finally:
            if writer:
                writer[0].close()
        return self.summary

    # -- internals ------------------------------------------------------------------------------------
    def _label_schema(self) -> pa.Schema:
        if self._source.pandas is not None:
            return self._source.schema.remove_metadata()
        return self._source.schema

    def _empty_schema(self) -> pa.Schema:
        fields = list(self._label_schema())
        data = [ColumnData.empty(d) for d in self.dtypes]
        features: dict[str, Any] = {}
        _add_feature_columns(features, self.columns, data, self.with_status, self.with_event_timestamps, True)
        return pa.schema(fields + [pa.field(n, a.type) for n, a in features.items()])

    def _collect(self, need_labels: bool) -> list[ColumnData]:
        # A job that saves a training set runs once: keep the labels for every later form.
        need_labels = need_labels or self.training_set_name is not None
        if self._collected is not None and (not need_labels or self._collected_labels is not None):
            return self._collected
        parts: list[list[ColumnData]] = []
        labels: list[pa.RecordBatch] = []

        def sink(batch: pa.RecordBatch | None, data: list[ColumnData]) -> None:
            parts.append(data)
            if batch is not None:
                labels.append(batch)

        self._run(sink, need_labels)
        self._collected = [ColumnData.concat([p[k] for p in parts], d) for k, d in enumerate(self.dtypes)]
        self._collected_labels = labels if need_labels else None
        return self._collected

    def _label_chunks(self, need_labels: bool):
        """(label record batch or None, row count, serialized LabelRows) per chunk of `chunk_size` labels."""
        source = self._source
        key_columns = ["entity_id", self.time_column] + ([self.known_at_column] if self.known_at_column else [])
        first = 0
        for batch in source.batches(self.chunk_size, columns=None if need_labels or source.pandas is None
                                    else key_columns):
            if source.pandas is not None and need_labels:
                batch = batch.replace_schema_metadata(None)
            ids = batch.column("entity_id")
            entity = _wire.string_buffers(ids)
            null_ids = ids.is_null().to_numpy(zero_copy_only=False)
            bad = null_ids | (entity[2] == 0)
            if bad.any():
                i = int(np.argmax(bad))
                raise InvalidArgument(f"labels row {first + i}: entity_id is {'null' if null_ids[i] else 'empty'}")
            times, null_times = cols.micros(batch.column(self.time_column), self.time_column)
            if null_times.any():
                raise InvalidArgument(f"labels row {first + int(np.argmax(null_times))}: {self.time_column} is null")
            if self.known_at_column:
                known, null_known = cols.micros(batch.column(self.known_at_column), self.known_at_column)
                encoded = _wire.label_rows(entity, times, known, ~null_known)
            else:
                encoded = _wire.label_rows(entity, times)
            yield (batch if need_labels else None), batch.num_rows, encoded
            first += batch.num_rows

    def _run(self, sink: Callable[[pa.RecordBatch | None, list[ColumnData]], None], need_labels: bool) -> None:
        if self.training_set is not None:
            raise FailedPrecondition(
                f"this export already ran and saved training set '{self.training_set.name}' (to_parquet keeps no "
                "rows); it is not run twice: read the Parquet file it wrote, or call to_df()/to_arrow() first next "
                "time")
        started = time.perf_counter()
        lock = threading.Condition()
        state = {"sent": 0, "received": 0, "done": False}
        pending: collections.deque = collections.deque()  # (label batch or None, rows not yet answered)
        failure: list[BaseException] = []
        call_ready = threading.Event()
        holder: dict = {}
        window = 4 * self.chunk_size

        def requests():
            call_ready.wait()
            try:
                # The node reads the features and the options (force included) from the first message
                # only; the later ones carry labels alone.
                first = fs.GetHistoricalFeaturesRequest(
                    features=self.features, columnar=True, with_event_timestamps=self.with_event_timestamps,
                    force=self.force, training_set=self.training_set_name or "",
                    created_by=self.created_by if self.training_set_name else "",
                    training_set_description=self.training_set_description if self.training_set_name else "",
                ).SerializeToString()
                sent_first = False
                for batch, count, encoded in self._label_chunks(need_labels):
                    with lock:
                        while state["sent"] - state["received"] > window and not state["done"]:
                            lock.wait(0.5)
                        if state["done"]:
                            return
                        pending.append([batch, count])
                        state["sent"] += count
                    yield encoded if sent_first else first + encoded
                    sent_first = True
                if not sent_first:
                    yield first
            except Exception as e:  # noqa: BLE001 - re-raised in the calling thread
                failure.append(e)
                if "call" in holder:
                    holder["call"].cancel()

        bar = Progress(self._source.num_rows, "export", self.progress)
        counts: list[np.ndarray] = []
        received = 0
        call = None
        manifest = None
        try:
            call = self._client._historical_features(requests(), timeout=self.timeout)
            holder["call"] = call
            call_ready.set()
            for message in call:
                if len(message.columns):
                    self.refs = [c.ref for c in message.columns]
                    self.columns = cols.column_names(message.columns)
                    self.dtypes = [DType.from_proto(c.dtype, c.embedding_dim) for c in message.columns]
                    counts = [np.zeros(5, dtype=np.int64) for _ in self.columns]
                if message.HasField("training_set"):
                    manifest = message.training_set
                if not message.HasField("batch"):
                    continue
                if self.dtypes is None:
                    raise InvalidArgument("the node sent joined rows before the columns (a bug)")
                b = message.batch
                n = b.row_count
                if len(b.columns) != len(self.dtypes):
                    raise InvalidArgument("the node sent a batch with the wrong number of columns (a bug)")
                data = [cols.joined_column(c, d, n, self.with_event_timestamps) for c, d in zip(b.columns, self.dtypes)]
                for k, c in enumerate(data):
                    counts[k] += np.bincount(np.minimum(c.statuses, 4), minlength=5)
                # Match the answered rows with the label rows they belong to (in order).
                offset = 0
                while offset < n:
                    with lock:
                        if not pending:
                            raise InvalidArgument("the node returned more rows than were sent (a bug)")
                        entry = pending[0]
                        batch, left = entry
                        take = min(left, n - offset)
                        if batch is not None:
                            start = batch.num_rows - left
                            part = batch.slice(start, take)
                        else:
                            part = None
                        entry[1] -= take
                        if entry[1] == 0:
                            pending.popleft()
                        state["received"] += take
                        lock.notify_all()
                    sink(part, [c.slice(offset, offset + take) for c in data] if take != n else data)
                    offset += take
                received += n
                bar.update(n)
            if failure:
                raise failure[0]
            if state["received"] != state["sent"]:
                raise InvalidArgument(f"the node answered {state['received']} of {state['sent']} label rows (a bug)")
            if self.training_set_name and manifest is None:
                raise Unimplemented(f"the node at {self._client.address} answered the export without saving training "
                                    f"set '{self.training_set_name}' (a node without training sets?)",
                                    server=self._client.address)
            if manifest is not None:
                self.training_set = TrainingSet.from_proto(manifest)
        except grpc.RpcError as e:
            if failure:
                raise failure[0] from None
            error = from_rpc_error(e, self._client.address)
            self._client._next_address(error)  # the next call starts at the next address, if there is one
            raise error from None
        finally:
            with lock:
                state["done"] = True
                lock.notify_all()
            call_ready.set()
            if call is not None and call.is_active():
                call.cancel()
            bar.close()
        self.summary = ExportSummary(
            rows=received, seconds=time.perf_counter() - started, columns=list(self.columns or []),
            status_counts={name: {cols.STATUS_NAMES[s]: int(c[s]) for s in range(1, 5)}
                           for name, c in zip(self.columns or [], counts)})
