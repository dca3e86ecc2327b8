"""`Client.push_session` against real nodes: many pushes over one `PushEvents` call, acknowledgements in
order, idempotency keys that never repeat within a session, errors (refused before sending, refused by
the node, a node that goes away, no answer in time), closing, a pinned stream version, a cluster."""
from __future__ import annotations

import copy
import datetime as dt
import math
import signal
import time
from concurrent import futures

import grpc
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import strata
from strata._proto import feature_store_pb2 as fs


@pytest.fixture(scope="module")
def stream(node):
    """A stream with amount/qty/tag and an aggregate group counting its events and summing qty."""
    suffix = str(int(time.time() * 1000) % 10**9)
    name, group = f"sess_{suffix}", f"sess_agg_{suffix}"
    with strata.Client(node.address, timeout=30) as client:
        client.apply([strata.Stream(name, [strata.Field("amount", "FLOAT"), strata.Field("qty", "INT"),
                                           strata.Field("tag", "STRING")]),
                      strata.AggregateGroup(group, name, [strata.Aggregate("n_1d", "amount", "count", "1d"),
                                                          strata.Aggregate("qty_1d", "qty", "sum", "1d")])])
    return {"stream": name, "group": group}


def events(entities, qty=1, ago: str = "1m") -> pd.DataFrame:
    """One event per entry of `entities` (an entity may repeat), `ago` before now."""
    n = len(entities)
    t = pd.Timestamp.now(tz="UTC") - pd.Timedelta(ago)
    return pd.DataFrame({"entity_id": list(entities), "event_timestamp": [t] * n,
                         "amount": np.arange(n, dtype=float), "qty": [qty] * n, "tag": [f"t{i}" for i in range(n)]})


def counts(client, stream, entities) -> list[tuple[int, int]]:
    g = stream["group"]
    v = client.get_online_features([f"{g}:n_1d", f"{g}:qty_1d"], list(entities)).values
    return list(zip(v[f"{g}:n_1d"], v[f"{g}:qty_1d"]))


def record_push_calls(client) -> list[list[fs.PushEventsRequest]]:
    """Every PushEvents call the client opens from now on, as the list of the messages it sent."""
    connection = client._connection()
    original = connection.push_events
    calls: list[list[fs.PushEventsRequest]] = []

    def opened(requests, timeout=None):
        sent: list[fs.PushEventsRequest] = []
        calls.append(sent)

        def tap():
            for message in requests:
                sent.append(fs.PushEventsRequest.FromString(message))
                yield message
        return original(tap(), timeout=timeout)

    connection.push_events = opened
    return calls


def count_unary(client) -> list[str]:
    asked: list[str] = []
    unary = client._unary

    def counting(method, request, timeout):
        asked.append(method)
        return unary(method, request, timeout)

    client._unary = counting
    return asked


# --------------------------------------------------------------------------------------------------
# Many small pushes, one call
# --------------------------------------------------------------------------------------------------

def test_many_small_pushes_share_one_call_and_are_all_stored(node, stream, unique):
    entities = [unique("many") for _ in range(4)]
    with strata.Client(node.address, timeout=30) as client:
        asked = count_unary(client)
        calls = record_push_calls(client)
        with client.push_session(stream["stream"]) as session:
            results = [session.push(events([entities[k % 4]] * 5, qty=k)) for k in range(60)]
        # One stream lookup (unpinned: when the session opened), at most one GetStatus (the limits, once per
        # client), one PushEvents call for the 60 pushes.
        assert asked.count("GetFeatureGroup") == 1 and asked.count("GetStatus") <= 1
        assert set(asked) <= {"GetFeatureGroup", "GetStatus"}
        assert len(calls) == 1
        for r in results:
            assert (r.events_written, r.batches, r.duplicates, r.retries, r.late_events) == (5, 1, 0, 0, 0)
            assert r.idempotency_prefix == session.idempotency_prefix
        assert (session.batches, session.events_written, session.duplicates) == (60, 300, 0)
        assert counts(client, stream, entities) == [(75, 5 * sum(range(e, 60, 4))) for e in range(4)]


def test_acks_come_in_order_with_their_counts(client, stream, unique):
    a, b, c = unique("ord"), unique("ord"), unique("ord")
    with client.push_session(stream["stream"], batch_rows=3) as session:
        # Split like push: 10 events in batches of at most 3.
        r = session.push(events([a] * 10, qty=2))
        assert (r.batches, r.events_written, r.duplicates) == (4, 10, 0)
        # More batches than may wait for an answer at once (8).
        r = session.push(events([c] * 50, qty=1))
        assert (r.batches, r.events_written) == (17, 50)
        # A late event (older than the entity's latest) is counted as late.
        r = session.push(events([a], ago="2h"))
        assert (r.batches, r.events_written, r.late_events) == (1, 1, 1)
        # send: answered in the order sent, each with its own counts.
        pending = [session.send(events([b] * k, qty=1)) for k in range(1, 13)]
        session.flush()
        assert all(p.done() for p in pending)
        got = [p.result() for p in pending]
        assert [(g.events_written, g.batches) for g in got] == [(k, math.ceil(k / 3)) for k in range(1, 13)]
        assert session.batches == 4 + 17 + 1 + sum(math.ceil(k / 3) for k in range(1, 13))
    assert counts(client, stream, [a, b, c]) == [(11, 21), (78, 78), (50, 50)]


def test_keys_never_repeat_within_a_session(client, stream, unique):
    entity = unique("keys")
    prefix = unique("prefix")
    calls = record_push_calls(client)
    same = events([entity] * 4)
    with client.push_session(stream["stream"], idempotency_prefix=prefix, batch_rows=2) as session:
        first = session.push(same)
        again = session.push(same)  # the same events again: new keys, stored again
        third = session.push(events([entity] * 3))
    assert (first.events_written, first.duplicates, again.events_written, again.duplicates) == (4, 0, 4, 0)
    assert (third.batches, third.events_written) == (2, 3)
    assert counts(client, stream, [entity]) == [(11, 11)]
    (sent,) = calls
    # The batches carry <prefix>:0, 1, 2, ... in order. A key sent again is a byte-identical copy of a batch
    # sent before it (what the session sends to release the node's answer to its last batch, answered as
    # a duplicate and stored once).
    first_seen: dict[str, bytes] = {}
    order = []
    for m in sent:
        if m.idempotency_key in first_seen:
            assert m.SerializeToString() == first_seen[m.idempotency_key]
        else:
            first_seen[m.idempotency_key] = m.SerializeToString()
            order.append(m.idempotency_key)
    assert order == [f"{prefix}:{i}" for i in range(6)]

    # Another session with the same prefix starts again at <prefix>:0: the same data answers as duplicates.
    with client.push_session(stream["stream"], idempotency_prefix=prefix, batch_rows=2) as session:
        r = session.push(same)
        assert (r.batches, r.duplicates, r.events_written) == (2, 2, 4)
    assert counts(client, stream, [entity]) == [(11, 11)]


def test_copies_leave_no_trace_in_the_write_log(client, unique):
    name = unique("wlog")
    client.apply(strata.Stream(name, [strata.Field("v", "INT")]))
    with client.push_session(name, writer=strata.Writer("sessions", "run-1")) as session:
        for k in range(7):
            session.push(pd.DataFrame({"entity_id": ["e1", "e2"], "event_timestamp": [pd.Timestamp.now(tz="UTC")] * 2,
                                       "v": [k, k]}))
    (w,) = client.lineage(name).writers
    assert (w.pipeline, w.run_id, w.batches, w.rows) == ("sessions", "run-1", 7, 14)


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------

def test_bad_data_is_refused_before_sending_and_the_session_stays_open(client, stream, unique):
    good, bad = unique("ok"), unique("bad")
    with client.push_session(stream["stream"], batch_rows=2) as session:
        session.push(events([good] * 3))
        with pytest.raises(strata.InvalidArgument, match="'bogus' is not a feature"):
            session.push(events([bad] * 2).assign(bogus=1.0))
        with pytest.raises(strata.InvalidArgument, match="qty"):
            session.push(events([bad] * 2).assign(qty=["1", "2"]))
        # A bad value in the third batch: the data is checked whole, so nothing of it is sent.
        table = pa.table({"entity_id": [bad] * 6,
                          "event_timestamp": pa.array([pd.Timestamp.now(tz="UTC")] * 6, pa.timestamp("us", "UTC")),
                          "amount": pa.array([1.0, 2.0, 3.0, 4.0, float("nan"), 6.0])})
        with pytest.raises(strata.InvalidArgument, match="NaN"):
            session.push(table)
        assert not session.closed and session.error is None
        r = session.push(events([good] * 2))
        assert (r.events_written, r.batches) == (2, 1)
        assert session.batches == 3
    assert counts(client, stream, [good, bad]) == [(5, 5), (0, 0)]


def test_a_batch_the_node_refuses_ends_the_session(client, stream, unique):
    before, b1, b2, b3, b4 = (unique(f"rf{k}") for k in range(5))
    prefix = unique("refused")
    with client.push_session(stream["stream"], batch_rows=2, idempotency_prefix=prefix) as session:
        session.push(events([before] * 3))  # batches 0 and 1
        # Batch 3 of this push has an event far in the future: only the node checks that.
        df = events([b1, b1, b2, b2, b3, b3, b4, b4])
        df.loc[5, "event_timestamp"] = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=2)
        with pytest.raises(strata.InvalidArgument) as e:
            session.push(df)
        message = e.value.message
        assert "ahead of the server clock" in message
        assert (f"push session ended: the node refused batch 3 of the 4 batches of this push (key '{prefix}:4'): "
                "it and the batches sent after it stored nothing; the 2 before it (4 events) were acknowledged and "
                "are stored; open a new session (Client.push_session) to push again") in message
        assert "earlier batches of this call" not in message  # the node's count includes the session's copies
        assert session.closed and isinstance(session.error, strata.InvalidArgument)
        ended = r"ended because of an earlier error: INVALID_ARGUMENT: .*ahead of the server clock"
        for call in (lambda: session.push(events([before])), lambda: session.send(events([before])), session.flush):
            with pytest.raises(strata.FailedPrecondition, match=ended):
                call()
    session.close()  # again: nothing more to say
    assert counts(client, stream, [before, b1, b2, b3, b4]) == [(3, 3), (2, 2), (2, 2), (0, 0), (0, 0)]


@pytest.mark.parametrize("change, column, value, error, match", [
    ("type", "qty", ["1", "2"], strata.InvalidArgument, r"feature 'qty' is INT but the value is STRING"),
    ("unknown", "bogus", [1.0, 2.0], strata.NotFound, r"has no feature 'bogus'"),
])
def test_a_value_of_the_wrong_type_or_an_unknown_column_refused_by_the_node_ends_the_session(
        client, stream, unique, change, column, value, error, match):
    before, entity = unique("stale"), unique("stale")
    with client.push_session(stream["stream"]) as session:
        session.push(events([before] * 2))
        # The session's copy of the definition goes stale (as if the stream had other fields than the node's),
        # so that the SDK sends what the node refuses: a value of the wrong type, a column it does not know.
        stale = copy.deepcopy(session.stream)
        if change == "type":
            stale.spec.features = [strata.Field("qty", "STRING") if f.name == "qty" else f for f in stale.features]
        else:
            stale.spec.features.append(strata.Field("bogus", "FLOAT"))
        session.stream = stale
        with pytest.raises(error, match=match) as e:
            session.push(events([entity] * 2).assign(**{column: value}))
        assert "push session ended: the node refused the batch of this push" in e.value.message
        assert session.closed and isinstance(session.error, error)
        with pytest.raises(strata.FailedPrecondition, match="ended because of an earlier error"):
            session.push(events([before]))
    assert counts(client, stream, [before, entity]) == [(2, 2), (0, 0)]


def test_a_retired_stream_ends_the_session_with_failed_precondition(client, unique):
    name = unique("retire")
    client.apply(strata.Stream(name, [strata.Field("v", "INT")]))
    df = pd.DataFrame({"entity_id": ["e"], "event_timestamp": [pd.Timestamp.now(tz="UTC")], "v": [1]})
    session = client.push_session(name)
    assert session.push(df).events_written == 1
    client.set_feature_group_status(name, 1, "RETIRED")
    with pytest.raises(strata.FailedPrecondition, match=r"is RETIRED and accepts no writes(.|\n)*push session ended"):
        session.push(df)
    with pytest.raises(strata.FailedPrecondition, match="ended because of an earlier error: FAILED_PRECONDITION"):
        session.push(df)
    session.close()
    session.close()


def test_a_reused_key_with_other_events_ends_the_session(client, stream, unique):
    entity = unique("reuse")
    prefix = unique("reused")
    with client.push_session(stream["stream"], idempotency_prefix=prefix) as session:
        session.push(events([entity] * 2))
    with client.push_session(stream["stream"], idempotency_prefix=prefix) as session:
        with pytest.raises(strata.FailedPrecondition, match=f"idempotency key '{prefix}:0' was used"):
            session.push(events([entity] * 3))
    assert counts(client, stream, [entity]) == [(2, 2)]


def test_a_call_that_ends_between_pushes_fails_the_next_push(client, stream):
    session = client.push_session(stream["stream"])
    session.push(events(["idle"]))
    session._call.cancel()  # the call ends between two pushes
    with pytest.raises(strata.Cancelled, match="push session ended"):
        session.push(events(["idle"]))
    with pytest.raises(strata.FailedPrecondition, match="ended because of an earlier error: CANCELLED"):
        session.push(events(["idle"]))
    session.close()


def test_a_node_that_goes_away_is_unavailable(strata_bin, tmp_path):
    from conftest import NodeProcess
    p = NodeProcess(strata_bin, ["--port", "0", "--data-dir", str(tmp_path / "data")], str(tmp_path / "node.log"),
                    "gone")
    try:
        p.wait_ready()
        with strata.Client(p.address, timeout=10) as client:
            client.apply(strata.Stream("gone", [strata.Field("v", "INT")]))
            df = pd.DataFrame({"entity_id": ["e"], "event_timestamp": [pd.Timestamp.now(tz="UTC")], "v": [1]})
            session = client.push_session("gone")
            assert session.push(df).events_written == 1
            p.proc.send_signal(signal.SIGKILL)
            p.proc.wait()
            with pytest.raises(strata.Unavailable, match="push session ended"):
                session.push(df)
            with pytest.raises(strata.FailedPrecondition, match="ended because of an earlier error: UNAVAILABLE"):
                session.push(df)
            session.close()
    finally:
        p.stop()


class _SilentProxy(grpc.GenericRpcHandler):
    """Forwards unary calls to the node; takes the batches of a PushEvents call and never answers them."""

    def __init__(self, upstream: str):
        super().__init__()
        self.channel = grpc.insecure_channel(upstream)
        self.batches = 0

    def service(self, details):
        if details.method.endswith("/PushEvents"):
            return grpc.stream_stream_rpc_method_handler(self._push)
        call = self.channel.unary_unary(details.method)
        return grpc.unary_unary_rpc_method_handler(lambda request, context: call(request, timeout=30))

    def _push(self, requests, context):
        for _ in requests:
            self.batches += 1
        yield from ()


def test_no_answer_within_the_timeout_ends_the_session(node, stream):
    proxy = _SilentProxy(node.address)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[proxy])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with strata.Client(f"127.0.0.1:{port}", timeout=30) as client:
            session = client.push_session(stream["stream"], timeout=1.0, batch_rows=2)
            started = time.monotonic()
            with pytest.raises(strata.DeadlineExceeded) as e:
                session.push(events(["silent"] * 3))
            assert 1.0 <= time.monotonic() - started < 10
            assert "did not acknowledge the batches of the push session within 1 s" in e.value.message
            assert "2 of the 2 batches of this push were not acknowledged: 2 of them were sent and may or may not be " \
                   "stored" in e.value.message
            with pytest.raises(strata.FailedPrecondition, match="DEADLINE_EXCEEDED"):
                session.push(events(["silent"]))
            session.close()
    finally:
        server.stop(0)
        proxy.channel.close()


def test_bad_arguments(client, stream):
    with pytest.raises(strata.NotFound):
        client.push_session("no_such_stream")
    with pytest.raises(strata.InvalidArgument, match="consistency"):
        client.push_session(stream["stream"], consistency="MOST")
    with pytest.raises(strata.InvalidArgument, match="batch_rows"):
        client.push_session(stream["stream"], batch_rows=0)
    with pytest.raises(strata.InvalidArgument, match="too long"):
        client.push_session(stream["stream"], idempotency_prefix="k" * 120)
    with pytest.raises(strata.InvalidArgument, match="timeout"):
        client.push_session(stream["stream"], timeout=0)
    with pytest.raises(strata.InvalidArgument, match="writer"):
        client.push_session(stream["stream"], writer=42)


# --------------------------------------------------------------------------------------------------
# Closing
# --------------------------------------------------------------------------------------------------

def test_close_is_idempotent_and_the_context_manager_closes(client, stream, unique):
    entity = unique("close")
    with client.push_session(stream["stream"]) as session:
        pending = session.send(events([entity] * 2))  # answered by close at the latest
    assert session.closed and session.error is None and pending.result().events_written == 2
    assert session._call.done()
    with pytest.raises(strata.FailedPrecondition, match="is closed"):
        session.push(events([entity]))
    session.close()
    session.close()

    with pytest.raises(RuntimeError, match="boom"):
        with client.push_session(stream["stream"]) as other:
            other.push(events([entity]))
            raise RuntimeError("boom")
    assert other.closed and other._call.done()
    assert counts(client, stream, [entity]) == [(3, 3)]


# --------------------------------------------------------------------------------------------------
# Versions, a cluster
# --------------------------------------------------------------------------------------------------

def test_a_session_pushes_to_the_version_resolved_when_it_opened(client, unique):
    name = unique("ver")
    client.apply(strata.Stream(name, [strata.Field("v", "INT")]))
    df = pd.DataFrame({"entity_id": ["e"], "event_timestamp": [pd.Timestamp.now(tz="UTC")], "v": [7]})
    with client.push_session(name) as session:
        assert session.stream.qualified_name == f"{name}@1"
        client.apply(strata.Stream(name, [strata.Field("v", "INT"), strata.Field("w", "FLOAT")]))  # version 2
        session.push(df)
    r = client.get_online_features([f"{name}@1:v", f"{name}@2:v"], ["e"])
    assert r.values == {f"{name}@1:v": [7], f"{name}@2:v": [None]}
    asked = count_unary(client)
    with client.push_session(f"{name}@2") as s1, client.push_session(f"{name}@2") as s2:
        s1.push(df.assign(w=1.5))
        s2.push(df.assign(w=2.5))
    assert asked.count("GetFeatureGroup") == 1  # a pinned version is looked up once per client


def test_a_session_through_a_cluster_node(cluster, unique):
    from conftest import apply_with_retry
    n1, n2, n3 = cluster.addresses
    name, group = unique("csess"), unique("csess_agg")
    apply_with_retry(n1, [strata.Stream(name, [strata.Field("qty", "INT")]),
                          strata.AggregateGroup(group, name, [strata.Aggregate("n_1d", "qty", "count", "1d"),
                                                              strata.Aggregate("qty_1d", "qty", "sum", "1d")])])
    entities = [f"c{k}" for k in range(30)]  # every node owns some
    t = pd.Timestamp.now(tz="UTC") - pd.Timedelta("1m")
    with strata.Client(n1, timeout=30) as via_n1:
        with via_n1.push_session(name, consistency="ALL", batch_rows=7) as session:
            for k in range(10):
                r = session.push(pd.DataFrame({"entity_id": entities, "event_timestamp": [t] * 30, "qty": [k] * 30}))
                assert (r.events_written, r.batches, r.duplicates) == (30, 5, 0)
    for address in (n2, n3):
        with strata.Client(address, timeout=30) as reader:
            v = reader.get_online_features([f"{group}:n_1d", f"{group}:qty_1d"], entities).values
            assert v == {f"{group}:n_1d": [10] * 30, f"{group}:qty_1d": [45] * 30}


def test_a_stopping_node_cancels_an_open_session_after_its_shutdown_grace(strata_bin, tmp_path):
    """An open session does not keep a node from stopping: after SIGTERM, open calls get
    `--shutdown-grace` seconds, then they are cancelled; the node stops cleanly and the session ends with
    an error saying the batch it was pushing was not acknowledged."""
    from conftest import NodeProcess
    p = NodeProcess(strata_bin, ["--port", "0", "--data-dir", str(tmp_path / "data"), "--shutdown-grace", "1"],
                    str(tmp_path / "node.log"), "grace")
    try:
        p.wait_ready()
        with strata.Client(p.address, timeout=30) as client:
            client.apply(strata.Stream("ev", [strata.Field("v", "INT")]))
            session = client.push_session("ev")
            now = dt.datetime.now(dt.timezone.utc)
            first = session.push(pd.DataFrame({"entity_id": ["a"], "event_timestamp": [now], "v": [1]}))
            assert first.events_written == 1
            started = time.monotonic()
            p.proc.send_signal(signal.SIGTERM)
            p.proc.wait(15)
            took = time.monotonic() - started
            assert 0.8 <= took < 10, took
            assert p.proc.returncode == 0
            with pytest.raises(strata.StrataError):
                session.push(pd.DataFrame({"entity_id": ["a"], "event_timestamp": [now], "v": [2]}))
        with open(tmp_path / "node.log") as f:
            assert "strata node stopped" in f.read()
    finally:
        p.stop()
