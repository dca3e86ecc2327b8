"""Error mapping: server statuses become typed exceptions carrying the server's message and the gRPC code;
input the SDK can check is rejected before anything is sent (and nothing is written)."""
from __future__ import annotations

import datetime as dt
import socket

import grpc
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import strata

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@pytest.fixture
def group(client, unique):
    g = unique("err")
    client.apply(strata.FeatureGroup(g, [strata.Feature("x", "INT"), strata.Feature("f", "FLOAT"),
                                         strata.Feature("e", "EMBEDDING(2)")]))
    return g


def rows_of(client, g) -> int:
    return sum(x.rows_total for x in client.status().groups if x.group == g)


def frame(**columns):
    n = len(next(iter(columns.values())))
    base = {"entity_id": [f"r{i}" for i in range(n)], "event_timestamp": [NOW] * n}
    base.update(columns)
    return pd.DataFrame(base)


def test_unknown_group_is_not_found(client):
    with pytest.raises(strata.NotFound) as e:
        client.get_online_features(["no_such_group:x"], ["a"])
    assert e.value.code == grpc.StatusCode.NOT_FOUND
    assert "no_such_group" in e.value.message and "does not exist" in e.value.message
    assert isinstance(e.value, strata.StrataError) and isinstance(e.value, LookupError)
    with pytest.raises(strata.NotFound):
        client.get_historical_features(pd.DataFrame({"entity_id": ["a"], "label_timestamp": [NOW]}),
                                       ["no_such_group:x"], progress=False).to_df()
    with pytest.raises(strata.NotFound):
        client.write("no_such_group", frame(x=[1]))
    with pytest.raises(strata.NotFound):
        client.get_feature_group("no_such_group")


def test_unknown_feature_and_version_are_not_found(client, group):
    with pytest.raises(strata.NotFound, match="nope"):
        client.get_online_features([f"{group}:nope"], ["a"])
    with pytest.raises(strata.NotFound, match="no version 9"):
        client.get_feature_group(group, 9)


def test_bad_reference_and_bad_input_are_invalid_argument(client, group):
    with pytest.raises(strata.InvalidArgument) as e:
        client.get_online_features(["not a reference"], ["a"])
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(strata.InvalidArgument, match="no features requested"):
        client.get_online_features([], ["a"])
    # Empty entity id: the node rejects it.
    with pytest.raises(strata.InvalidArgument):
        client.get_online_features([f"{group}:x"], [""])
    # An invalid definition is refused by the node when sent as a raw spec; the SDK checks it first.
    with pytest.raises(strata.InvalidArgument, match="group name 'Bad-Name' is invalid"):
        client.apply(strata.FeatureGroup("Bad-Name", [strata.Feature("x", "INT")]))


def test_server_side_invalid_write_changes_nothing(client, group):
    future = NOW + dt.timedelta(days=3)  # beyond the node's allowed clock skew
    with pytest.raises(strata.InvalidArgument) as e:
        client.write(group, pd.DataFrame({"entity_id": ["a"], "event_timestamp": [future], "x": [1]}))
    assert "ahead of the server clock" in e.value.message, e.value.message
    assert rows_of(client, group) == 0


def test_rejected_batch_reports_committed_batches(client, group):
    n = 25
    times = [NOW] * n
    times[-1] = NOW + dt.timedelta(days=3)
    df = pd.DataFrame({"entity_id": [f"b{i}" for i in range(n)], "event_timestamp": times, "x": range(n)})
    with pytest.raises(strata.InvalidArgument) as e:
        client.write(group, df, batch_size=10, progress=False)
    assert "2 earlier batches" in e.value.message and "20 rows" in e.value.message, e.value.message
    assert rows_of(client, group) == 20


@pytest.mark.parametrize("bad, match", [
    (lambda: pd.DataFrame({"event_timestamp": [NOW], "x": [1]}), "no 'entity_id' column"),
    (lambda: pd.DataFrame({"entity_id": ["a"], "x": [1]}), "no 'event_timestamp' column"),
    (lambda: frame(x=[1], typo=[2]), "column 'typo' is not a feature of"),
    (lambda: pd.DataFrame({"entity_id": ["a"], "event_timestamp": [NOW]}), "no column named after a feature"),
    (lambda: frame(x=[1.5]), "type double, which cannot be written to feature 'x'.*astype\\('Int64'\\)"),
    (lambda: frame(x=[True]), "no BOOL dtype"),
    (lambda: frame(f=["1.5"]), "cannot be written to feature 'f'"),
    (lambda: frame(e=[1.0]), "EMBEDDING features take a column of lists"),
    (lambda: pd.DataFrame({"entity_id": ["a"], "event_timestamp": ["2024-01-01"], "x": [1]}),
     "timestamps must be datetimes.*to_datetime"),
    (lambda: pd.DataFrame({"entity_id": ["a"], "event_timestamp": [1714560000], "x": [1]}),
     "timestamps must be datetimes.*unit='s'"),
    (lambda: pd.DataFrame({"entity_id": [1.5], "event_timestamp": [NOW], "x": [1]}), "entity ids must be strings"),
    (lambda: frame(x=[1], e=[[1.0, 2.0, 3.0]]), "the embedding has 3 elements; the feature is EMBEDDING\\(2\\)"),
    (lambda: pa.table({"entity_id": ["a"], "event_timestamp": pa.array([NOW]), "f": [float("nan")]}),
     "not a finite number"),
    (lambda: frame(x=[1, 2], entity_id=["a", None]), "row 1: entity_id is null"),
    (lambda: pd.DataFrame({"entity_id": ["a"], "event_timestamp": pd.Series([None], dtype="datetime64[us, UTC]"),
                           "x": [1]}), "row 0: event_timestamp is null"),
    (lambda: 42, "expected a pandas or polars DataFrame"),
])
def test_client_side_checks_send_nothing(client, group, bad, match):
    before = client.status().rows_written
    with pytest.raises(strata.InvalidArgument, match=match):
        client.write(group, bad(), progress=False)
    assert client.status().rows_written == before


def test_retired_version_is_failed_precondition(client, unique):
    g = unique("retired")
    client.apply(strata.FeatureGroup(g, [strata.Feature("x", "INT")]))
    assert client.set_feature_group_status(g, 1, "RETIRED").status == strata.GroupStatus.RETIRED
    with pytest.raises(strata.FailedPrecondition) as e:
        client.get_online_features([f"{g}@1:x"], ["a"])
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION and "RETIRED" in e.value.message
    with pytest.raises(strata.FailedPrecondition, match="no ACTIVE version"):
        client.get_online_features([f"{g}:x"], ["a"])
    with pytest.raises(strata.FailedPrecondition):
        client.write(f"{g}@1", frame(x=[1]), progress=False)
    client.set_feature_group_status(g, 1, strata.GroupStatus.ACTIVE)
    assert client.get_online_features([f"{g}:x"], ["a"]).statuses[f"{g}:x"] == [strata.MISSING]


def test_too_many_entities_is_resource_exhausted(client, group):
    with pytest.raises(strata.ResourceExhausted) as e:
        client.get_online_features([f"{group}:x"], [f"id{i}" for i in range(5000)])
    assert e.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_unreachable_node_is_unavailable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with strata.Client(f"127.0.0.1:{port}", timeout=5) as c:
        with pytest.raises(strata.Unavailable) as e:
            c.status()
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
    assert f"127.0.0.1:{port}" in e.value.message
    assert isinstance(e.value, ConnectionError)
    assert e.value.node is None and e.value.reason is None  # the node called, not one behind it


def test_deadline_exceeded(client, group):
    labels = pd.DataFrame({"entity_id": [f"d{i}" for i in range(200_000)], "label_timestamp": [NOW] * 200_000})
    with pytest.raises(strata.DeadlineExceeded) as e:
        client.get_historical_features(labels, [f"{group}:x"], timeout=0.01, progress=False).to_df()
    assert e.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_bad_address_and_arguments():
    with pytest.raises(strata.InvalidArgument, match="host:port"):
        strata.Client("localhost")
    with pytest.raises(strata.InvalidArgument, match="invalid version"):
        strata.Client("127.0.0.1:1").write("g@x", pd.DataFrame())


def test_errors_render_code_and_message(client):
    with pytest.raises(strata.NotFound) as e:
        client.get_feature_group("no_such_group")
    assert str(e.value).startswith("NOT_FOUND: feature group 'no_such_group' does not exist")


def test_unreachable_cluster_node_is_unavailable(strata_bin, tmp_path):
    """A 2-node cluster whose second node never starts: requests for its entities fail with Unavailable
    naming the node, requests for the first node's entities still work."""
    from conftest import NodeProcess, _free_ports, apply_with_retry
    ports = _free_ports(4)
    config = tmp_path / "two.yaml"
    # One copy per entity, so that n2's entities have no other replica.
    config.write_text(f"epoch: 1\nreplication_factor: 1\nnodes:\n  - id: n1\n    address: 127.0.0.1:{ports[0]}\n    internode_port: {ports[2]}\n"
                      f"  - id: n2\n    address: 127.0.0.1:{ports[1]}\n    internode_port: {ports[3]}\n")
    p = NodeProcess(strata_bin, ["--cluster", str(config), "--node", "n1", "--data-dir", str(tmp_path / "d1")],
                    str(tmp_path / "n1.log"), "n1")
    try:
        p.wait_ready()
        apply_with_retry(p.address, strata.FeatureGroup("lonely", [strata.Feature("x", "INT")]))
        with strata.Client(p.address, timeout=20) as c:
            ids = [f"id{i}" for i in range(50)]
            with pytest.raises(strata.Unavailable) as e:
                c.write("lonely", pd.DataFrame({"entity_id": ids, "event_timestamp": [NOW] * 50, "x": range(50)}),
                        progress=False)
            assert "n2" in e.value.message and e.value.code == grpc.StatusCode.UNAVAILABLE
            # Machine-readable: the error's details name the node that failed.
            assert (e.value.node, e.value.reason) == ("n2", "NODE_UNAVAILABLE"), e.value
            with pytest.raises(strata.Unavailable) as e:
                c.get_online_features(["lonely:x"], ids)
            assert (e.value.node, e.value.reason) == ("n2", "NODE_UNAVAILABLE"), e.value
            assert "cannot reach a strata node" not in e.value.message
        # A client with a second address stays on n1: n1 answered, the node behind it did not.
        with strata.Client([p.address, f"127.0.0.1:{ports[1]}"], timeout=20) as c:
            with pytest.raises(strata.Unavailable) as e:
                c.get_online_features(["lonely:x"], ids)
            assert e.value.node == "n2" and c.address == p.address
    finally:
        p.stop()
