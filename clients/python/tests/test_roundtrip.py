"""Round trips of every dtype through writes, online lookups and point-in-time exports, with nulls,
defaults, max age, corrections (created time), pinned versions and as-of-known-time."""
from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import strata
from oracle import as_list

UTC = dt.timezone.utc


def ts(t: dt.datetime) -> pd.Timestamp:
    return pd.Timestamp(t)


@pytest.fixture
def now():
    return dt.datetime.now(UTC).replace(microsecond=0)


def all_dtypes_group(name: str) -> strata.FeatureGroup:
    return strata.FeatureGroup(name, [
        strata.Feature("f", strata.FLOAT),
        strata.Feature("i", strata.INT),
        strata.Feature("s", strata.STRING),
        strata.Feature("e", strata.Embedding(3)),
        strata.Feature("fd", "FLOAT", default=2.5),
        strata.Feature("id", "INT", default=-7),
        strata.Feature("sd", "STRING", default="none"),
        strata.Feature("ed", "EMBEDDING(2)", default=[1.0, 2.0]),
    ], entity_type="ITEM", max_age=dt.timedelta(days=2), description="every dtype", owner="tests")


def test_every_dtype_online_and_historical(client, unique, now):
    g = unique("dtypes")
    assert [r.outcome for r in client.apply(all_dtypes_group(g))] == ["CREATED"]
    t1 = now - dt.timedelta(hours=5)
    t0 = now - dt.timedelta(days=1)
    old = now - dt.timedelta(days=10)
    big, small = 2**63 - 1, -2**63
    df = pd.DataFrame({
        "entity_id": ["a", "a", "b", "c", "a"],
        "event_timestamp": [t0, t1, t1, old, t1],
        # The last row corrects a's row at t1 (same event time, later created time).
        "created_timestamp": [t0, t1, t1, old, t1 + dt.timedelta(seconds=1)],
        "f": [1e300, 0.5, None, 3.0, -0.0],
        "i": pd.array([big, 1, None, 3, small], dtype="Int64"),
        "s": ["Zürich ✓", "x", None, "old", "naïve, \"quoted\"\n"],
        "e": [np.array([0.1, 0.2, 0.3], dtype=np.float32), [1, 2, 3], None, [7.0, 8.0, 9.0],
              np.array([-1.5, 0.0, 1e-30])],
        "fd": [1.0, None, None, None, None],
        "id": pd.array([1, None, 5, None, None], dtype="Int64"),
        "sd": [None, None, "b-sd", None, None],
        "ed": [None, None, [3.0, 4.0], None, None],
    })
    res = client.write(g, df, progress=False)
    assert (res.rows_written, res.late_rows) == (5, 0)

    online = client.get_online_features([f"{g}:*"], ["a", "b", "c", "zz"])
    assert online.entity_ids == ["a", "b", "c", "zz"]
    assert online.columns == [f"{g}:{n}" for n in ("f", "i", "s", "e", "fd", "id", "sd", "ed")]
    v, st = online.values, online.statuses
    col = lambda n: f"{g}:{n}"  # noqa: E731
    # a: the correction at t1 wins (its nulls included: a row is the whole feature vector).
    assert v[col("f")] == [-0.0, None, None, None]
    assert np.signbit(v[col("f")][0])
    assert v[col("i")] == [small, None, None, None]
    assert v[col("s")] == ["naïve, \"quoted\"\n", None, None, None]
    assert v[col("e")][0].dtype == np.float32
    np.testing.assert_array_equal(v[col("e")][0], np.array([-1.5, 0.0, 1e-30], dtype=np.float32))
    assert v[col("e")][1:] == [None, None, None]
    assert v[col("fd")] == [2.5, 2.5, 2.5, 2.5]
    assert v[col("id")] == [-7, 5, -7, -7]
    assert v[col("sd")] == ["none", "b-sd", "none", "none"]
    assert [x.tolist() for x in v[col("ed")]] == [[1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [1.0, 2.0]]
    P, D, M, E = strata.PRESENT, strata.DEFAULTED, strata.MISSING, strata.EXPIRED
    assert st[col("f")] == [P, M, E, M]
    assert st[col("id")] == [D, P, E, D]
    assert st[col("ed")] == [D, P, E, D]
    ev = online.event_timestamps[col("f")]
    assert ev[0] == t1 and ev[1] == t1 and ev[2] == old and ev[3] is None

    frame = online.to_df(with_status=True, with_event_timestamps=True)
    assert str(frame[col("i")].dtype) == "Int64" and frame[col("i")].isna().tolist() == [False, True, True, True]
    assert frame[col("f")].dtype == np.float64
    assert str(frame[col("f") + "__event_timestamp"].dtype) == "datetime64[us, UTC]"
    assert frame[col("id") + "__status"].tolist() == ["DEFAULTED", "PRESENT", "EXPIRED", "DEFAULTED"]

    # Historical: labels between the rows, exactly on them, before everything, and unknown entities.
    labels = pd.DataFrame({
        "entity_id": ["a", "a", "a", "a", "b", "c", "c", "zz"],
        "label_timestamp": [t0 - dt.timedelta(microseconds=1), t0, t1 - dt.timedelta(microseconds=1), t1, now,
                            old + dt.timedelta(days=2), old + dt.timedelta(days=2, microseconds=1), now],
        "y": [0, 1, 2, 3, 4, 5, 6, 7],
    })
    job = client.get_historical_features(labels, [f"{g}:*"], with_status=True, with_event_timestamps=True,
                                         progress=False)
    out = job.to_df()
    assert out["y"].tolist() == list(range(8))
    assert out[col("f")].tolist()[1] == 1e300
    assert np.isnan(out[col("f")].tolist()[0])
    assert out[col("i")].tolist() == [pd.NA, big, big, small, pd.NA, 3, pd.NA, pd.NA]
    assert str(out[col("i")].dtype) == "Int64"
    assert out[col("s")].tolist()[1:4] == ["Zürich ✓", "Zürich ✓", "naïve, \"quoted\"\n"]
    assert out[col("s") + "__status"].tolist() == ["MISSING", "PRESENT", "PRESENT", "PRESENT", "MISSING",
                                                   "PRESENT", "EXPIRED", "MISSING"]
    # Max age boundary: T - max_age itself is still valid, one microsecond later it is expired.
    assert out[col("id") + "__status"].tolist()[5:7] == ["DEFAULTED", "EXPIRED"]
    e = out[col("e")].tolist()
    assert e[0] is None and e[1].dtype == np.float32
    np.testing.assert_array_equal(e[1], np.array([0.1, 0.2, 0.3], dtype=np.float32))
    np.testing.assert_array_equal(e[5], np.array([7, 8, 9], dtype=np.float32))
    assert out[col("f") + "__event_timestamp"].tolist()[1] == pd.Timestamp(t0)
    assert pd.isna(out[col("f") + "__event_timestamp"].tolist()[0])

    # Arrow form: the same values, typed.
    table = job.to_arrow()
    assert table.schema.field(col("i")).type == pa.int64()
    assert table.schema.field(col("e")).type == pa.list_(pa.float32(), 3)
    assert table.column(col("i")).to_pylist() == [None, big, big, small, None, 3, None, None]
    assert table.column(col("ed")).to_pylist()[4] == [3.0, 4.0]


def test_write_from_arrow_and_integer_entity_ids(client, unique, now):
    g = unique("arrow")
    client.apply(strata.FeatureGroup(g, [strata.Feature("x", "INT"), strata.Feature("v", "EMBEDDING(2)")]))
    table = pa.table({
        "entity_id": pa.array([1001, 1002], type=pa.int64()),
        "event_timestamp": pa.array([now - dt.timedelta(hours=1)] * 2, type=pa.timestamp("ns", tz="UTC")),
        "x": pa.array([5, None], type=pa.int32()),
        "v": pa.array([[1.0, 2.0], [3.0, 4.0]], type=pa.list_(pa.float32(), 2)),
    })
    assert client.write(g, table, progress=False).rows_written == 2
    r = client.get_online_features([f"{g}:x", f"{g}:v"], [1001, "1002"]).to_dict()
    assert r["entity_id"] == ["1001", "1002"]
    assert r[f"{g}:x"] == [5, None]
    assert [a.tolist() for a in r[f"{g}:v"]] == [[1.0, 2.0], [3.0, 4.0]]


def test_naive_timestamps_are_utc_and_known_at(client, unique):
    g = unique("known")
    client.apply(strata.FeatureGroup(g, [strata.Feature("x", "INT")]))
    event = pd.Timestamp("2024-05-01 12:00:00")  # naive = UTC
    df = pd.DataFrame({"entity_id": ["k", "k"], "event_timestamp": [event, event],
                       "created_timestamp": [pd.Timestamp("2024-05-01 13:00"), pd.Timestamp("2024-05-03 00:00")],
                       "x": [1, 2]})
    client.write(g, df, progress=False)
    labels = pd.DataFrame({
        "entity_id": ["k", "k", "k"],
        "label_timestamp": pd.to_datetime(["2024-05-01T12:00:00Z", "2024-05-10T00:00:00Z", "2024-05-10T00:00:00Z"]),
        # Row 2 was known only before the correction was created: it must see the first value.
        "known_at": pd.to_datetime([None, "2024-05-02T00:00:00Z", None], utc=True),
    })
    out = client.get_historical_features(labels, [f"{g}:x"], with_event_timestamps=True, progress=False).to_df()
    assert out[f"{g}:x"].tolist() == [2, 1, 2]
    assert out[f"{g}:x__event_timestamp"].tolist() == [pd.Timestamp("2024-05-01 12:00", tz="UTC")] * 3


def test_versions_pinned_columns_and_input_order(client, unique, now):
    g = unique("versions")
    v1 = strata.FeatureGroup(g, [strata.Feature("x", "INT")])
    v2 = strata.FeatureGroup(g, [strata.Feature("x", "INT"), strata.Feature("y", "STRING")])
    assert client.apply(v1)[0].outcome == "CREATED"
    assert client.apply(v1)[0].outcome == "UNCHANGED"
    r = client.apply(v2)[0]
    assert (r.outcome, r.version) == ("NEW_VERSION", 2)
    t = now - dt.timedelta(minutes=5)
    client.write(f"{g}@1", pd.DataFrame({"entity_id": ["p"], "event_timestamp": [t], "x": [1]}), progress=False)
    client.write(g, pd.DataFrame({"entity_id": ["p"], "event_timestamp": [t], "x": [2], "y": ["two"]}),
                 progress=False)
    info = client.get_feature_group(g)
    assert info.version == 2 and [v.version for v in info.versions] == [1, 2]
    assert client.get_feature_group(g, 1).spec.features[0].name == "x"
    assert client.get_feature_group(f"{g}@1").version == 1
    assert [x.qualified_name for x in client.list_feature_groups() if x.name == g] == [f"{g}@1", f"{g}@2"]
    online = client.get_online_features([f"{g}@1:x", f"{g}:x", f"{g}:y"], ["p"])
    assert online.columns == [f"{g}@1:x", f"{g}@2:x", f"{g}:y"]
    assert online.to_dict()[f"{g}@1:x"] == [1] and online.to_dict()[f"{g}@2:x"] == [2]

    # 3000 labels in a shuffled order, several chunks and answer messages: order is kept.
    rng = np.random.default_rng(3)
    n = 3000
    label_times = [t + dt.timedelta(seconds=int(s)) for s in rng.integers(-100, 100, n)]
    labels = pd.DataFrame({"entity_id": ["p"] * n, "timestamp": label_times, "row": np.arange(n)})
    out = client.get_historical_features(labels, [f"{g}:y", f"{g}@1:x"], chunk_size=700, progress=False).to_df()
    assert out["row"].tolist() == list(range(n))
    expected = [1 if lt >= t else None for lt in label_times]
    assert as_list(out[f"{g}:x"]) == expected
    assert as_list(out[f"{g}:y"]) == ["two" if lt >= t else None for lt in label_times]
    assert None in expected and 1 in expected


def test_empty_labels_give_typed_empty_frame(client, unique, now):
    g = unique("empty")
    client.apply(strata.FeatureGroup(g, [strata.Feature("x", "INT"), strata.Feature("e", "EMBEDDING(2)")]))
    labels = pd.DataFrame({"entity_id": pd.Series([], dtype=object),
                           "label_timestamp": pd.Series([], dtype="datetime64[us, UTC]")})
    job = client.get_historical_features(labels, [f"{g}:*"], progress=False)
    out = job.to_df()
    assert len(out) == 0 and list(out.columns) == ["entity_id", "label_timestamp", f"{g}:x", f"{g}:e"]
    assert str(out[f"{g}:x"].dtype) == "Int64"
    assert job.to_arrow().schema.field(f"{g}:e").type == pa.list_(pa.float32(), 2)


def test_late_rows_are_counted_and_history_keeps_them(client, unique, now):
    g = unique("late")
    client.apply(strata.FeatureGroup(g, [strata.Feature("x", "INT")]))
    t = now - dt.timedelta(hours=2)
    client.write(g, pd.DataFrame({"entity_id": ["l"], "event_timestamp": [t], "x": [2]}), progress=False)
    res = client.write(g, pd.DataFrame({"entity_id": ["l"], "event_timestamp": [t - dt.timedelta(hours=1)],
                                        "x": [1]}), progress=False)
    assert res.late_rows == 1
    assert client.get_online_features(f"{g}:x", ["l"]).to_dict()[f"{g}:x"] == [2]
    labels = pd.DataFrame({"entity_id": ["l"], "label_timestamp": [t - dt.timedelta(minutes=30)]})
    assert client.get_historical_features(labels, f"{g}:x", progress=False).to_df()[f"{g}:x"].tolist() == [1]


def test_status_reports_groups_and_counters(client, unique, now):
    g = unique("status")
    client.apply(strata.FeatureGroup(g, [strata.Feature("x", "INT")]))
    before = client.status()
    client.write(g, pd.DataFrame({"entity_id": ["s1", "s2"], "event_timestamp": [now] * 2, "x": [1, 2]}),
                 progress=False)
    s = client.status()
    assert s.storage_engine == "rocksdb" and not s.is_cluster
    assert s.rows_written == before.rows_written + 2
    mine = [x for x in s.groups if x.group == g]
    assert len(mine) == 1 and mine[0].rows_total == 2 and mine[0].last_write is not None
    assert mine[0].last_write.tzinfo is not None
    assert g in str(s)


def test_large_messages_are_cut_under_the_node_limit(client, unique, now):
    """5000 rows of EMBEDDING(1024) are 20 MiB of floats, over the node's 16 MiB message limit: the SDK
    cuts the batch into messages of about 4 MiB."""
    g = unique("wide")
    client.apply(strata.FeatureGroup(g, [strata.Feature("v", "EMBEDDING(1024)")]))
    n = 5000
    matrix = np.arange(n * 1024, dtype=np.float32).reshape(n, 1024) / 7
    table = pa.table({"entity_id": [f"w{i}" for i in range(n)], "event_timestamp": pa.array([now] * n),
                      "v": pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), 1024)})
    res = client.write(g, table, progress=False)
    assert res.rows_written == n and res.batches >= 5
    got = client.get_online_features(f"{g}:v", ["w0", f"w{n - 1}"]).values[f"{g}:v"]
    np.testing.assert_array_equal(got[0], matrix[0])
    np.testing.assert_array_equal(got[1], matrix[-1])
