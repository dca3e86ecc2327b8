"""Parquet in and out: write_parquet reads a file batch by batch, labels can come from a Parquet file,
and to_parquet streams the joined rows to a file."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import strata

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def spark_like_file(path, rows: int) -> pa.Table:
    """What a Spark or dbt job writes: several row groups, millisecond timestamps, dictionary strings."""
    rng = np.random.default_rng(5)
    table = pa.table({
        "entity_id": pa.array([f"p{i % 997}" for i in range(rows)]),
        "event_timestamp": pa.array([NOW - dt.timedelta(minutes=int(m)) for m in rng.integers(1, 10_000, rows)],
                                    type=pa.timestamp("ms", tz="UTC")),
        "score": pa.array(rng.random(rows)),
        "clicks": pa.array(rng.integers(0, 100, rows), type=pa.int32()),
        "tag": pa.array(rng.choice(["a", "b", "c"], rows)).dictionary_encode(),
        "vec": pa.array([[float(i), float(-i)] for i in range(rows)], type=pa.list_(pa.float32())),
    })
    pq.write_table(table, path, row_group_size=1000)
    return table


def test_write_parquet_streams_batches(client, unique, tmp_path, monkeypatch):
    g = unique("parquet")
    client.apply(strata.FeatureGroup(g, [strata.Feature("score", "FLOAT"), strata.Feature("clicks", "INT"),
                                         strata.Feature("tag", "STRING"), strata.Feature("vec", "EMBEDDING(2)")]))
    path = tmp_path / "features.parquet"
    table = spark_like_file(path, 10_000)
    assert pq.ParquetFile(path).metadata.num_row_groups == 10

    # The file is never read whole.
    def forbidden(*a, **k):
        raise AssertionError("write_parquet read the whole file")
    monkeypatch.setattr(pq.ParquetFile, "read", forbidden)
    monkeypatch.setattr(pq, "read_table", forbidden)
    result = client.write_parquet(g, path, batch_size=3000, progress=False)
    monkeypatch.undo()
    assert (result.rows_written, result.batches) == (10_000, 4)

    # Read back the last row of each entity through an export at the latest event time + 1 day.
    df = table.to_pandas()
    df["seq"] = np.arange(len(df))
    last = df.sort_values(["event_timestamp", "seq"]).groupby("entity_id").tail(1).set_index("entity_id")
    ids = sorted(last.index)
    online = client.get_online_features([f"{g}:*"], ids).to_dict()
    assert online[f"{g}:score"] == last.loc[ids, "score"].tolist()
    assert online[f"{g}:clicks"] == last.loc[ids, "clicks"].tolist()
    assert online[f"{g}:tag"] == last.loc[ids, "tag"].astype(str).tolist()
    assert [v.tolist() for v in online[f"{g}:vec"]] == [list(v) for v in last.loc[ids, "vec"]]


def test_labels_from_parquet_and_to_parquet(client, unique, tmp_path, monkeypatch):
    g = unique("pq_export")
    client.apply(strata.FeatureGroup(g, [strata.Feature("x", "INT"), strata.Feature("e", "EMBEDDING(2)")]))
    t = NOW - dt.timedelta(hours=1)
    client.write(g, pd.DataFrame({"entity_id": ["a", "b"], "event_timestamp": [t, t], "x": [1, 2],
                                  "e": [[1.0, 2.0], [3.0, 4.0]]}), progress=False)
    n = 5000
    labels = pa.table({"entity_id": pa.array(["a", "b", "c", "a"] * (n // 4)),
                       "label_timestamp": pa.array([t, t, t, t - dt.timedelta(seconds=1)] * (n // 4),
                                                   type=pa.timestamp("us", tz="UTC")),
                       "label": pa.array(np.arange(n))})
    labels_path = tmp_path / "labels.parquet"
    pq.write_table(labels, labels_path, row_group_size=700)

    job = client.get_historical_features(labels_path, [f"{g}:x", f"{g}:e"], with_status=True, chunk_size=999,
                                         progress=False)
    out_path = tmp_path / "train.parquet"

    def forbidden(*a, **k):
        raise AssertionError("the labels file was read whole")
    monkeypatch.setattr(pq.ParquetFile, "read", forbidden)
    summary = job.to_parquet(out_path)
    monkeypatch.undo()
    assert summary.rows == n
    assert summary.status_counts[f"{g}:x"] == {"PRESENT": n // 2, "DEFAULTED": 0, "MISSING": n // 2, "EXPIRED": 0}
    written = pq.read_table(out_path)
    assert written.column("label").to_pylist() == list(range(n))
    assert written.column(f"{g}:x").to_pylist()[:4] == [1, 2, None, None]
    assert written.column(f"{g}:e").to_pylist()[:4] == [[1.0, 2.0], [3.0, 4.0], None, None]
    assert written.column(f"{g}:x__status").to_pylist()[:4] == ["PRESENT", "PRESENT", "MISSING", "MISSING"]
    # The same rows as the in-memory forms.
    again = client.get_historical_features(labels, [f"{g}:x", f"{g}:e"], with_status=True, progress=False)
    assert written.equals(again.to_arrow().cast(written.schema))
    frame = again.to_df()
    assert frame["label"].tolist() == list(range(n))
    assert str(frame[f"{g}:x"].dtype) == "Int64"


def test_write_parquet_missing_file(client):
    with pytest.raises(strata.InvalidArgument, match="does not exist"):
        client.write_parquet("whatever", "/nonexistent/file.parquet")
