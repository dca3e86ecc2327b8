"""Writers (`writer=` on write, write_parquet and push: `WriterIdentity` in every batch) and the lineage graph
(`Client.lineage`, `GetLineage`).

The tests without a node replace the RPC layer with canned answers: `Client._unary` for the unary calls,
and the connection's bulk calls (`WriteFeatures`, `PushEvents`), which decode every message the SDK sends.
The tests named `test_node_*` run against a real node (the `client` fixture)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import grpc
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import strata
from canned import FakeRpcError
from strata._proto import feature_store_pb2 as fs
from strata._proto import feature_store_pb2_grpc as fs_grpc
from strata._proto import types_pb2 as pb

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


def micros(t: dt.datetime) -> int:
    return (t - EPOCH) // dt.timedelta(microseconds=1)


# -- Writer ---------------------------------------------------------------------------------------------

def test_writer_object():
    for name in ("Writer", "LineageGraph", "LineageNode", "WriteRecord"):
        assert name in strata.__all__ and getattr(strata, name) is getattr(strata.client, name)
    w = strata.Writer("nightly", "run-1")
    assert (w.pipeline, w.run_id) == ("nightly", "run-1")
    assert w == strata.Writer(pipeline="nightly", run_id="run-1") and isinstance(hash(w), int)
    assert repr(w) == "Writer(pipeline='nightly', run_id='run-1')"
    assert strata.Writer() == strata.Writer(None, None) == strata.Writer("", "")
    assert not strata.Writer() and strata.Writer("p") and strata.Writer(run_id="r")
    assert w.to_proto() == fs.WriterIdentity(pipeline="nightly", run_id="run-1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        w.pipeline = "other"  # type: ignore[misc]


@pytest.mark.parametrize("writer, expected", [
    (None, None),
    ("", None),
    (strata.Writer(), None),
    ({}, None),
    ({"pipeline": None, "run_id": ""}, None),
    ("nightly", strata.Writer("nightly")),
    ({"pipeline": "nightly"}, strata.Writer("nightly")),
    ({"run_id": "r1"}, strata.Writer(run_id="r1")),
    ({"pipeline": "p", "run_id": "r"}, strata.Writer("p", "r")),
    (strata.Writer("p", "r"), strata.Writer("p", "r")),
    ("p" * 256, strata.Writer("p" * 256)),
    ({"run_id": "é" * 128}, strata.Writer(run_id="é" * 128)),  # 256 bytes
])
def test_writer_forms(writer, expected):
    assert strata.client._as_writer(writer) == expected


BAD_WRITERS = [
    (5, "writer must be a strata.Writer, a dict with keys pipeline, run_id, or a string (the pipeline), got int"),
    (("nightly", "r1"), "writer must be a strata.Writer, a dict with keys pipeline, run_id, or a string (the "
                        "pipeline), got tuple"),
    (b"nightly", "writer must be a strata.Writer, a dict with keys pipeline, run_id, or a string (the pipeline), "
                 "got bytes"),
    ({"pipelin": "x"}, "unknown writer key 'pipelin'; did you mean 'pipeline'? Allowed keys: pipeline, run_id"),
    ({"run": "x"}, "unknown writer key 'run'. Allowed keys: pipeline, run_id"),
    ({"pipeline": "p", "host": "h1"}, "unknown writer key 'host'. Allowed keys: pipeline, run_id"),
    ({1: "x"}, "unknown writer key 1. Allowed keys: pipeline, run_id"),
    ({"pipeline": 3}, "writer pipeline must be a string, got int 3"),
    ({"run_id": 20240601}, "writer run_id must be a string, got int 20240601"),
    ({"pipeline": ["a"]}, "writer pipeline must be a string, got list ['a']"),
    ("p" * 257, "writer pipeline is 257 bytes; at most 256 are allowed"),
    ({"run_id": "é" * 129}, "writer run_id is 258 bytes; at most 256 are allowed"),
    ({"run_id": "r" * 1000}, "writer run_id is 1000 bytes; at most 256 are allowed"),
    ("\udc80", "writer pipeline is not valid Unicode text (character 1 is a lone surrogate); it must encode as UTF-8"),
]


@pytest.mark.parametrize("writer, message", BAD_WRITERS)
def test_writer_errors(writer, message):
    with pytest.raises(strata.InvalidArgument) as e:
        strata.client._as_writer(writer)
    assert e.value.message == message


def test_writer_constructor_checks():
    with pytest.raises(strata.InvalidArgument, match=r"^INVALID_ARGUMENT: writer pipeline is 257 bytes; at most 256"):
        strata.Writer("x" * 257)
    with pytest.raises(strata.InvalidArgument, match="writer run_id must be a string, got int 7"):
        strata.Writer("p", 7)  # type: ignore[arg-type]
    with pytest.raises(ValueError):  # InvalidArgument is a ValueError
        strata.Writer(run_id="\ud800")


# -- canned node --------------------------------------------------------------------------------------

ROWS = strata.FeatureGroup("user_orders", [strata.Feature("n", "INT")])
STREAM = strata.Stream("orders", [strata.Field("amount", "FLOAT")])



class FakeNode:
    """Answers `Client._unary` (GetFeatureGroup, GetStatus, GetLineage) and the connection's bulk calls,
    recording every message decoded. `break_push_after`: the first PushEvents call breaks (UNAVAILABLE)
    when that message (0-based) arrives, before answering it."""

    def __init__(self, *groups: strata.FeatureGroup, lineage: fs.GetLineageResponse | None = None):
        self.specs = {g.name: g.to_proto() for g in groups}
        self.lineage_response = lineage
        self.unary: list = []
        self.writes: list[fs.WriteFeaturesRequest] = []
        self.pushes: list[tuple[int, fs.PushEventsRequest]] = []  # (call, message)
        self.push_calls = 0
        self.break_push_after: int | None = None
        # The connection the client uses: the bulk calls of _Connection.
        self.write_features = self
        self.push_events = self._push_events

    def install(self, client: strata.Client, monkeypatch) -> "FakeNode":
        monkeypatch.setattr(client, "_unary", self)
        monkeypatch.setattr(client, "_connection", lambda: self)
        return self

    def __call__(self, method, request, timeout):
        self.unary.append((method, request))
        if method == "GetFeatureGroup":
            if request.name not in self.specs:
                raise strata.NotFound(f"feature group '{request.name}' does not exist")
            g = pb.FeatureGroup(spec=self.specs[request.name], version=1, status=pb.GROUP_STATUS_ACTIVE)
            return fs.GetFeatureGroupResponse(group=g, versions=[g])
        if method == "GetStatus":
            return fs.GetStatusResponse(node_id="fake")
        if method == "GetLineage":
            return self.lineage_response
        raise AssertionError(method)

    # WriteFeatures: `future(requests)`; the messages are read when the result is asked for (the SDK's
    # request generator waits until the call object exists).
    def future(self, requests, timeout=None):
        node = self

        class Call:
            def result(self):
                rows = batches = 0
                for message in requests:
                    request = fs.WriteFeaturesRequest.FromString(message)
                    node.writes.append(request)
                    rows += len(request.rows)
                    batches += 1
                return fs.WriteFeaturesResponse(rows_written=rows, batches=batches, replicas_acknowledged=1,
                                                replication_factor=1)

            def cancel(self):
                pass
        return Call()

    def _push_events(self, requests, timeout=None):
        self.push_calls += 1
        call = self.push_calls

        def answers():
            for i, message in enumerate(requests):
                request = fs.PushEventsRequest.FromString(message)
                self.pushes.append((call, request))
                if call == 1 and i == self.break_push_after:
                    raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection reset")
                yield fs.PushEventsResponse(idempotency_key=request.idempotency_key, events_written=len(request.events))
        return answers()


def frame(n: int, feature: str = "n") -> pd.DataFrame:
    start = dt.datetime(2024, 6, 1, tzinfo=UTC)
    return pd.DataFrame({"entity_id": [f"u{i}" for i in range(n)],
                         "event_timestamp": [start + dt.timedelta(minutes=i) for i in range(n)],
                         feature: [i for i in range(n)] if feature == "n" else [float(i) for i in range(n)]})


@pytest.fixture
def offline():
    with strata.Client("127.0.0.1:1", timeout=1) as c:
        yield c


# -- the writer in every batch ----------------------------------------------------------------------------

def test_every_write_batch_carries_the_writer(offline, monkeypatch):
    node = FakeNode(ROWS).install(offline, monkeypatch)
    result = offline.write("user_orders", frame(5), batch_size=2, writer=strata.Writer("nightly", "run-1"),
                           progress=False)
    assert (result.rows_written, result.batches) == (5, 3)
    assert len(node.writes) == 3
    for request in node.writes:
        assert request.HasField("writer")
        assert (request.writer.pipeline, request.writer.run_id) == ("nightly", "run-1")
        assert request.group == "user_orders" and request.version == 1 and list(request.features) == ["n"]
    # The rows are intact behind the header.
    assert [r.entity_id for m in node.writes for r in m.rows] == [f"u{i}" for i in range(5)]
    assert [r.values[0].int_value for m in node.writes for r in m.rows] == list(range(5))


@pytest.mark.parametrize("writer, expected", [
    ("etl", ("etl", "")),
    ({"pipeline": "etl", "run_id": "r9"}, ("etl", "r9")),
    ({"run_id": "r9"}, ("", "r9")),
    (None, None),
    ("", None),
    (strata.Writer(), None),
])
def test_write_writer_forms_on_the_wire(offline, monkeypatch, writer, expected):
    node = FakeNode(ROWS).install(offline, monkeypatch)
    offline.write("user_orders", frame(3), writer=writer, consistency="ALL", progress=False)
    (request,) = node.writes
    assert request.consistency == fs.CONSISTENCY_ALL
    if expected is None:
        assert not request.HasField("writer")  # no writer: the field is not sent at all
    else:
        assert (request.writer.pipeline, request.writer.run_id) == expected


def test_write_parquet_carries_the_writer(offline, monkeypatch, tmp_path):
    node = FakeNode(ROWS).install(offline, monkeypatch)
    path = tmp_path / "part-0000.parquet"
    pq.write_table(pa.Table.from_pandas(frame(6), preserve_index=False), path)
    result = offline.write_parquet("user_orders", path, batch_size=4, writer={"pipeline": "backfill", "run_id": "b-17"},
                                   progress=False)
    assert result.batches == 2
    assert [(m.writer.pipeline, m.writer.run_id, len(m.rows)) for m in node.writes] == [
        ("backfill", "b-17", 4), ("backfill", "b-17", 2)]


def test_every_push_batch_carries_the_writer(offline, monkeypatch):
    node = FakeNode(STREAM).install(offline, monkeypatch)
    result = offline.push("orders", frame(5, "amount"), batch_rows=2, writer="ingest", idempotency_prefix="k",
                          progress=False)
    assert (result.events_written, result.batches) == (5, 3)
    assert [(r.idempotency_key, r.writer.pipeline, r.writer.run_id, r.HasField("writer")) for _, r in node.pushes] == [
        ("k:0", "ingest", "", True), ("k:1", "ingest", "", True), ("k:2", "ingest", "", True)]
    assert [r.events[0].entity_id for _, r in node.pushes] == ["u0", "u2", "u4"]


def test_push_without_a_writer_sends_none(offline, monkeypatch):
    node = FakeNode(STREAM).install(offline, monkeypatch)
    offline.push("orders", frame(2, "amount"), progress=False)
    offline.push("orders", frame(2, "amount"), writer=strata.Writer(), progress=False)
    assert len(node.pushes) == 2 and not any(r.HasField("writer") for _, r in node.pushes)


def test_resent_push_batches_carry_the_writer(offline, monkeypatch):
    """A push that breaks (UNAVAILABLE) resends its unanswered batch with the same key, and the writer."""
    node = FakeNode(STREAM).install(offline, monkeypatch)
    node.break_push_after = 1
    result = offline.push("orders", frame(5, "amount"), batch_rows=2, idempotency_prefix="k",
                          writer=strata.Writer("ingest", "run-3"), progress=False)
    assert (result.batches, result.retries, result.events_written) == (3, 1, 5)
    assert [(call, r.idempotency_key) for call, r in node.pushes] == [(1, "k:0"), (1, "k:1"), (2, "k:1"), (2, "k:2")]
    assert all((r.writer.pipeline, r.writer.run_id) == ("ingest", "run-3") for _, r in node.pushes)


@pytest.mark.parametrize("writer, message", BAD_WRITERS[:4] + BAD_WRITERS[10:12])
def test_bad_writers_are_refused_before_anything_is_sent(offline, monkeypatch, tmp_path, writer, message):
    node = FakeNode(ROWS, STREAM).install(offline, monkeypatch)
    path = tmp_path / "part.parquet"
    pq.write_table(pa.Table.from_pandas(frame(2), preserve_index=False), path)
    for call in (lambda: offline.write("user_orders", frame(2), writer=writer, progress=False),
                 lambda: offline.write_parquet("user_orders", path, writer=writer, progress=False),
                 lambda: offline.push("orders", frame(2, "amount"), writer=writer, progress=False)):
        with pytest.raises(strata.InvalidArgument) as e:
            call()
        assert e.value.message == message
    assert node.unary == [] and node.writes == [] and node.pushes == []


# -- lineage(): the request and the answer ----------------------------------------------------------------

WRITTEN = dt.datetime(2024, 6, 2, 1, 0, 3, 120_000, tzinfo=UTC)


def canned_lineage() -> fs.GetLineageResponse:
    group = strata.FeatureGroup("user_orders", [strata.Feature("orders_30d", "INT", default=0)],
                                lineage={"upstream": ["orders"], "pipeline": "nightly-orders"})
    return fs.GetLineageResponse(
        group=pb.FeatureGroup(spec=group.to_proto(), version=2, status=pb.GROUP_STATUS_ACTIVE,
                              created_at_micros=micros(WRITTEN)),
        upstream=[
            fs.LineageNode(group="orders", version=1, kind=pb.GROUP_KIND_STREAM, status=pb.GROUP_STATUS_ACTIVE,
                           lineage=pb.Lineage(source="kafka://broker/orders", upstream=["orders_raw@3"]), depth=1,
                           derived_from=["orders_raw@3"]),
            fs.LineageNode(group="orders_raw", version=3, kind=pb.GROUP_KIND_ROWS, status=pb.GROUP_STATUS_DEPRECATED,
                           depth=2),
        ],
        downstream=[
            fs.LineageNode(group="user_spend", version=4, kind=pb.GROUP_KIND_AGGREGATES, status=pb.GROUP_STATUS_RETIRED,
                           depth=1, derived_from=["user_orders@2"]),
            # Enum values this SDK does not know (a newer node): the defaults, not an error.
            fs.LineageNode(group="future", version=1, kind=99, status=98, depth=2,
                           derived_from=["user_spend@4", "user_orders@2"]),
        ],
        writers=[
            fs.WriteRecord(node_id="n2", pipeline="nightly", run_id="run-1", batches=3, rows=1200,
                           first_write_micros=micros(WRITTEN), last_write_micros=micros(WRITTEN) + 2_500_000,
                           min_event_micros=micros(dt.datetime(2024, 6, 1, tzinfo=UTC)),
                           max_event_micros=micros(dt.datetime(2024, 6, 1, 23, 59, 59, 999_999, tzinfo=UTC))),
            fs.WriteRecord(node_id="n1", batches=1, rows=7, first_write_micros=micros(WRITTEN) - 60_000_000,
                           last_write_micros=micros(WRITTEN) - 60_000_000, min_event_micros=-1, max_event_micros=0),
            fs.WriteRecord(node_id="n3", pipeline="empty", batches=1, rows=0, first_write_micros=1,
                           last_write_micros=1),
        ])


def test_lineage_answer_is_converted(offline, monkeypatch):
    FakeNode(lineage=canned_lineage()).install(offline, monkeypatch)
    graph = offline.lineage("user_orders")
    assert isinstance(graph, strata.LineageGraph)
    assert isinstance(graph.group, strata.RegisteredGroup) and graph.group.qualified_name == "user_orders@2"
    assert graph.group.lineage == strata.Lineage(upstream=["orders"], pipeline="nightly-orders")
    assert graph.group.created_at == WRITTEN

    orders, raw = graph.upstream
    assert orders == strata.LineageNode("orders", 1, strata.GroupKind.STREAM, strata.GroupStatus.ACTIVE,
                                        strata.Lineage(source="kafka://broker/orders", upstream=["orders_raw@3"]), 1,
                                        ["orders_raw@3"])
    assert orders.qualified_name == "orders@1"
    assert (raw.qualified_name, raw.kind, raw.status, raw.depth, raw.derived_from) == (
        "orders_raw@3", strata.GroupKind.ROWS, strata.GroupStatus.DEPRECATED, 2, [])
    assert raw.lineage == strata.Lineage() and not raw.lineage
    spend, future = graph.downstream
    assert (spend.qualified_name, spend.kind, spend.status, spend.depth, spend.derived_from) == (
        "user_spend@4", strata.GroupKind.AGGREGATES, strata.GroupStatus.RETIRED, 1, ["user_orders@2"])
    assert (future.kind, future.status, future.derived_from) == (
        strata.GroupKind.ROWS, strata.GroupStatus.ACTIVE, ["user_spend@4", "user_orders@2"])

    nightly, unnamed, empty = graph.writers
    assert nightly == strata.WriteRecord(
        node_id="n2", pipeline="nightly", run_id="run-1", batches=3, rows=1200, first_write=WRITTEN,
        last_write=WRITTEN + dt.timedelta(seconds=2.5), min_event_time=dt.datetime(2024, 6, 1, tzinfo=UTC),
        max_event_time=dt.datetime(2024, 6, 1, 23, 59, 59, 999_999, tzinfo=UTC))
    assert nightly.writer == strata.Writer("nightly", "run-1")
    for t in (nightly.first_write, nightly.last_write, nightly.min_event_time, nightly.max_event_time):
        assert t.tzinfo is not None and t.utcoffset() == dt.timedelta(0)
    # The unnamed writer; event times at and before the epoch are times, not "none".
    assert (unnamed.pipeline, unnamed.run_id, unnamed.writer, bool(unnamed.writer)) == ("", "", strata.Writer(), False)
    assert unnamed.min_event_time == EPOCH - dt.timedelta(microseconds=1) and unnamed.max_event_time == EPOCH
    # No rows: no event time range.
    assert (empty.rows, empty.min_event_time, empty.max_event_time) == (0, None, None)
    assert empty.first_write == EPOCH + dt.timedelta(microseconds=1)


def test_lineage_of_an_isolated_group(offline, monkeypatch):
    response = fs.GetLineageResponse(group=pb.FeatureGroup(spec=STREAM.to_proto(), version=1,
                                                           status=pb.GROUP_STATUS_ACTIVE))
    FakeNode(lineage=response).install(offline, monkeypatch)
    graph = offline.lineage("orders")
    assert (graph.upstream, graph.downstream, graph.writers) == ([], [], [])
    assert isinstance(graph.group.spec, strata.Stream)
    assert str(graph) == ("orders@1  STREAM ACTIVE\nupstream (it is derived from): none\n"
                          "downstream (derived from it): none\nwriters (most recent first; times UTC): none")


@pytest.mark.parametrize("args, sent", [
    (("user_orders",), ("user_orders", 0)),
    (("user_orders@2",), ("user_orders", 2)),
    (("user_orders", 2), ("user_orders", 2)),
    (("user_orders", 0), ("user_orders", 0)),
    (("user_orders@2", 2), ("user_orders", 2)),
    (("user_orders", 4294967295), ("user_orders", 4294967295)),
])
def test_lineage_request(offline, monkeypatch, args, sent):
    node = FakeNode(lineage=canned_lineage()).install(offline, monkeypatch)
    offline.lineage(*args, timeout=3)
    (method, request), = node.unary
    assert method == "GetLineage" and isinstance(request, fs.GetLineageRequest)
    assert (request.group, request.version) == sent


@pytest.mark.parametrize("args, message", [
    (("user_orders@2", 3), "'user_orders@2' names version 2 but version=3 was passed; give the version once"),
    (("user_orders", -1), "version must be a whole number from 1 (or 0/None for the latest ACTIVE version), got -1"),
    (("user_orders", "2"), "version must be a whole number from 1 (or 0/None for the latest ACTIVE version), got '2'"),
    (("user_orders", True), "version must be a whole number from 1 (or 0/None for the latest ACTIVE version), got "
                            "True"),
    (("user_orders@0",), "'user_orders@0' has an invalid version; write GROUP or GROUP@N with N >= 1"),
    (("user_orders@x",), "'user_orders@x' has an invalid version"),
    (("user_orders", 2**32), "version 4294967296 is out of range; versions are at most 4294967295"),
    (("user_orders@4294967296",), "version 4294967296 is out of range"),
    ((42,), "group must be a string (GROUP or GROUP@N), got int"),
])
def test_lineage_refuses_bad_references(offline, monkeypatch, args, message):
    node = FakeNode(lineage=canned_lineage()).install(offline, monkeypatch)
    with pytest.raises(strata.InvalidArgument) as e:
        offline.lineage(*args)
    assert e.value.message.startswith(message)
    assert node.unary == []


def test_lineage_errors_are_typed(offline, monkeypatch):
    """The real `_unary` path: the generated stub has GetLineage, and NOT_FOUND becomes strata.NotFound."""
    assert hasattr(fs_grpc.FeatureStoreStub(offline._connection().channel), "GetLineage")
    seen = []

    class Stub:
        def GetLineage(self, request, timeout=None):  # noqa: N802 (the stub's name)
            seen.append((request, timeout))
            raise FakeRpcError(grpc.StatusCode.NOT_FOUND, "feature group 'nosuch' does not exist")

    class Connection:
        stub = Stub()

    monkeypatch.setattr(offline, "_connection", lambda: Connection())
    with pytest.raises(strata.NotFound, match="feature group 'nosuch' does not exist"):
        offline.lineage("nosuch@3", timeout=2)
    assert seen == [(fs.GetLineageRequest(group="nosuch", version=3), 2)]


def test_lineage_str(offline, monkeypatch):
    FakeNode(lineage=canned_lineage()).install(offline, monkeypatch)
    assert str(offline.lineage("user_orders")) == """\
user_orders@2  ROWS ACTIVE
upstream (it is derived from):
  orders@1  STREAM ACTIVE  depth 1  from orders_raw@3
  orders_raw@3  ROWS DEPRECATED  depth 2
downstream (derived from it):
  user_spend@4  AGGREGATES RETIRED  depth 1  from user_orders@2
  future@1  ROWS ACTIVE  depth 2  from user_spend@4, user_orders@2
writers (most recent first; times UTC):
  nightly run run-1 on n2: 3 batches, 1200 rows; written 2024-06-02 01:00:03 .. 2024-06-02 01:00:05; \
events 2024-06-01 00:00:00 .. 2024-06-01 23:59:59
  (unnamed) on n1: 1 batch, 7 rows; written 2024-06-02 00:59:03 .. 2024-06-02 00:59:03; \
events 1969-12-31 23:59:59 .. 1970-01-01 00:00:00
  empty on n3: 1 batch, 0 rows; written 1970-01-01 00:00:00 .. 1970-01-01 00:00:00"""


def test_readme_output(offline, monkeypatch):
    """The README's `print(graph)` output is what `str(LineageGraph)` prints for such a graph."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = re.search(r"#### Writers and the lineage graph\n(.*?)\n##", text, re.S).group(1)
    shown = re.search(r"```text\n(.*?)\n```", section, re.S).group(1)
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert 'writer=strata.Writer(pipeline="nightly-orders", run_id="2024-06-01")' in code
    assert "client.lineage(\"user_orders\")" in code

    def t(text: str) -> int:
        return micros(dt.datetime.fromisoformat(text).replace(tzinfo=UTC))

    user_orders = strata.FeatureGroup("user_orders", [strata.Feature("orders_30d", "INT", default=0)],
                                      lineage={"upstream": ["orders@1"]})
    response = fs.GetLineageResponse(
        group=pb.FeatureGroup(spec=user_orders.to_proto(), version=1, status=pb.GROUP_STATUS_ACTIVE),
        upstream=[fs.LineageNode(group="orders", version=1, kind=pb.GROUP_KIND_STREAM, status=pb.GROUP_STATUS_ACTIVE,
                                 depth=1)],
        downstream=[fs.LineageNode(group="user_orders_weekly", version=1, kind=pb.GROUP_KIND_ROWS,
                                   status=pb.GROUP_STATUS_ACTIVE, depth=1, derived_from=["user_orders@1"])],
        writers=[
            fs.WriteRecord(pipeline="backfill", run_id="b-17", batches=4, rows=20000,
                           first_write_micros=t("2024-06-02 09:12:40.5"), last_write_micros=t("2024-06-02 09:12:44.9"),
                           min_event_micros=t("2024-05-01 00:00:00"), max_event_micros=t("2024-05-31 23:00:00")),
            fs.WriteRecord(pipeline="nightly-orders", run_id="2024-06-01", batches=3, rows=15000,
                           first_write_micros=t("2024-06-02 01:00:03.1"), last_write_micros=t("2024-06-02 01:00:05"),
                           min_event_micros=t("2024-06-01 00:00:00"), max_event_micros=t("2024-06-01 23:00:00")),
        ])
    FakeNode(lineage=response).install(offline, monkeypatch)
    assert str(offline.lineage("user_orders")) == shown


# ------------------------------------------------------------------------------------------------------
# Against a node: the node records the writers and answers the lineage graph.
# ------------------------------------------------------------------------------------------------------

def _rows(start: dt.datetime, n: int, first: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"entity_id": [f"e{first + i}" for i in range(n)],
                         "event_timestamp": [start + dt.timedelta(minutes=7 * i) for i in range(n)],
                         "n": list(range(first, first + n))})


def test_node_records_writers_and_answers_the_lineage_graph(client, unique):
    s, a, g = unique("wl_stream"), unique("wl_agg"), unique("wl_rows")
    client.apply([
        strata.Stream(s, [strata.Field("amount", "FLOAT")], entity="USER"),
        strata.AggregateGroup(a, s, [strata.Aggregate("spend_1h", "amount", "sum", "1h")], entity="USER"),
        strata.FeatureGroup(g, [strata.Feature("n", "INT")], entity="USER", lineage={"upstream": [s]}),
    ])
    before = dt.datetime.now(UTC) - dt.timedelta(seconds=5)
    start = (dt.datetime.now(UTC) - dt.timedelta(hours=3)).replace(microsecond=123_456)

    # Three batches named nightly/run-1, then one batch without a writer.
    named = _rows(start, 6)
    result = client.write(g, named, batch_size=2, writer=strata.Writer("nightly", "run-1"), progress=False)
    assert (result.rows_written, result.batches) == (6, 3)
    unnamed = _rows(start + dt.timedelta(minutes=1), 2, first=100)
    assert client.write(g, unnamed, progress=False).batches == 1
    events = pd.DataFrame({"entity_id": ["u1", "u2", "u1"],
                           "event_timestamp": [start, start + dt.timedelta(minutes=30), start + dt.timedelta(hours=1)],
                           "amount": [1.5, 2.0, 3.25]})
    assert client.push(s, events, writer="ingest", progress=False).batches == 1
    after = dt.datetime.now(UTC) + dt.timedelta(seconds=5)

    graph = client.lineage(g)
    assert graph.group.qualified_name == f"{g}@1" and graph.group.lineage == strata.Lineage(upstream=[s])
    assert [(n.qualified_name, n.kind, n.status, n.depth, n.derived_from) for n in graph.upstream] == [
        (f"{s}@1", strata.GroupKind.STREAM, strata.GroupStatus.ACTIVE, 1, [])]
    assert graph.downstream == []

    # Exactly two writers, the most recently written first: the unnamed batch, then nightly/run-1.
    assert [(w.pipeline, w.run_id) for w in graph.writers] == [("", ""), ("nightly", "run-1")]
    last, nightly = graph.writers
    assert (nightly.node_id, nightly.batches, nightly.rows) == ("", 3, 6)
    assert nightly.min_event_time == named["event_timestamp"].min().to_pydatetime() == start
    assert nightly.max_event_time == named["event_timestamp"].max().to_pydatetime()
    assert (last.node_id, last.batches, last.rows) == ("", 1, 2)
    assert last.writer == strata.Writer() and not last.writer
    assert last.min_event_time == unnamed["event_timestamp"].min().to_pydatetime()
    assert last.max_event_time == unnamed["event_timestamp"].max().to_pydatetime()
    for w in graph.writers:
        assert w.first_write.utcoffset() == dt.timedelta(0)
        assert before <= w.first_write <= w.last_write <= after
    assert nightly.last_write <= last.first_write

    # The same version, asked for in every way.
    for same in (client.lineage(f"{g}@1"), client.lineage(g, 1), client.lineage(g, 0)):
        assert same == graph

    # The stream: both the aggregate group and the row group are derived from it, directly.
    stream_graph = client.lineage(s)
    assert stream_graph.group.qualified_name == f"{s}@1" and stream_graph.upstream == []
    downstream = {n.qualified_name: n for n in stream_graph.downstream}
    assert set(downstream) == {f"{a}@1", f"{g}@1"}
    assert [n.qualified_name for n in stream_graph.downstream] == sorted(downstream)  # same depth: by name
    for name, kind in ((f"{a}@1", strata.GroupKind.AGGREGATES), (f"{g}@1", strata.GroupKind.ROWS)):
        assert (downstream[name].kind, downstream[name].depth, downstream[name].derived_from) == (kind, 1, [f"{s}@1"])
    assert downstream[f"{g}@1"].lineage == strata.Lineage(upstream=[s])
    (ingest,) = stream_graph.writers
    assert (ingest.pipeline, ingest.run_id, ingest.batches, ingest.rows) == ("ingest", "", 1, 3)
    assert (ingest.min_event_time, ingest.max_event_time) == (start, start + dt.timedelta(hours=1))

    # The aggregate group: derived from its stream, written by nobody.
    agg_graph = client.lineage(a)
    assert [(n.qualified_name, n.depth) for n in agg_graph.upstream] == [(f"{s}@1", 1)]
    assert (agg_graph.downstream, agg_graph.writers) == ([], [])


def test_node_lineage_of_an_unknown_group_or_version(client, unique):
    with pytest.raises(strata.NotFound):
        client.lineage(unique("nosuch"))
    g = unique("wl_one")
    client.apply(strata.FeatureGroup(g, [strata.Feature("n", "INT")]))
    assert client.lineage(g).writers == []
    with pytest.raises(strata.NotFound):
        client.lineage(f"{g}@2")


def test_node_accepts_writers_at_the_limits(client, unique):
    """Writers at the limits (256 bytes of UTF-8 each) are accepted and recorded as sent."""
    g = unique("wl_limits")
    client.apply(strata.FeatureGroup(g, [strata.Feature("n", "INT")]))
    writer = strata.Writer("é" * 128, "r" * 256)
    client.write(g, _rows(dt.datetime.now(UTC) - dt.timedelta(hours=1), 1), writer=writer, progress=False)
    assert [w.writer for w in client.lineage(g).writers] == [writer]
