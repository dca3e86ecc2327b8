"""A 100k-row write and a 100k-label export through the SDK, every value and status checked against the
pandas oracle of the point-in-time rule; the measured times are printed (pytest -s shows them)."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

import strata
from oracle import point_in_time

US = 1_000_000
DAY = 86_400 * US
ROWS = 100_000
LABELS = 100_000


def make_history(seed: int, rows: int, entities: int, now_us: int):
    rng = np.random.default_rng(seed)
    ids = np.array([f"e{i}" for i in range(entities)], dtype=object)
    entity = ids[rng.integers(0, entities, rows)]
    # Whole hours over 20 days, ending a day ago: equal event times are frequent.
    event = now_us - DAY - rng.integers(0, 20 * 24, rows) * 3600 * US
    # Created times with ties (then write order decides), sometimes before the event.
    created = event + rng.integers(-2, 3, rows) * 60 * US
    count = rng.integers(-1000, 1000, rows).astype(object)
    count[rng.random(rows) < 0.1] = None
    amount = np.round(rng.normal(0, 100, rows), 3).astype(object)
    amount[rng.random(rows) < 0.1] = None
    city = rng.choice(np.array(["Zürich", "Oslo", "São Paulo", "", "x,y"], dtype=object), rows)
    city[rng.random(rows) < 0.1] = None
    return pd.DataFrame({"entity_id": entity, "event_us": event, "created_us": created, "seq": np.arange(rows),
                         "count": count, "amount": amount, "city": city})


def to_write_frame(h: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "entity_id": h["entity_id"],
        "event_timestamp": pd.to_datetime(h["event_us"], unit="us", utc=True),
        "created_timestamp": pd.to_datetime(h["created_us"], unit="us", utc=True),
        "count": pd.array(h["count"].tolist(), dtype="Int64"),
        "amount": pd.array(h["amount"].tolist(), dtype="Float64"),
        "city": h["city"],
    })


def make_labels(seed: int, n: int, entities: int, now_us: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = np.array([f"e{i}" for i in range(entities + entities // 20)], dtype=object)  # ~5% unknown entities
    t = now_us - rng.integers(0, 25 * 24 * 3600, n) * US  # some before every event, some past the max age
    return pd.DataFrame({"entity_id": ids[rng.integers(0, len(ids), n)], "t_us": t, "label": rng.integers(0, 2, n)})


def test_100k_write_and_100k_label_export(client, unique, capsys):
    group = unique("big")
    client.apply(strata.FeatureGroup(group, [
        strata.Feature("count", "INT", default=0),
        strata.Feature("amount", "FLOAT"),
        strata.Feature("city", "STRING", default="unknown"),
    ], max_age="7d"))
    now_us = int(time.time()) * US
    history = make_history(7, ROWS, 10_000, now_us)
    frame = to_write_frame(history)

    result = client.write(group, frame, progress=False)
    assert (result.rows_written, result.batches) == (ROWS, ROWS // 5000)

    labels = make_labels(8, LABELS, 10_000, now_us)
    labels_in = pd.DataFrame({"entity_id": labels["entity_id"],
                              "label_timestamp": pd.to_datetime(labels["t_us"], unit="us", utc=True),
                              "label": labels["label"]})
    started = time.perf_counter()
    job = client.get_historical_features(labels_in, [f"{group}:*"], with_status=True, progress=False)
    out = job.to_df()
    export_seconds = time.perf_counter() - started

    assert len(out) == LABELS
    # Label columns come back unchanged and in input order.
    pd.testing.assert_frame_equal(out[["entity_id", "label_timestamp", "label"]], labels_in)
    expected = point_in_time(history, labels, {"count": 0, "amount": None, "city": "unknown"}, max_age_us=7 * DAY)
    assert str(out[f"{group}:count"].dtype) == "Int64"
    assert out[f"{group}:amount"].dtype == np.float64
    for name in ("count", "amount", "city"):
        values, statuses = expected[name]
        got = out[f"{group}:{name}"].tolist()
        got = [None if (v is pd.NA or (isinstance(v, float) and np.isnan(v))) else v for v in got]
        mismatches = [i for i in range(LABELS) if got[i] != values[i]]
        assert not mismatches, f"{name}: {len(mismatches)} mismatches, first at row {mismatches[0]}: " \
                               f"got {got[mismatches[0]]!r}, expected {values[mismatches[0]]!r}"
        assert out[f"{group}:{name}__status"].astype(str).tolist() == statuses
    # The oracle's statuses cover every case, so the comparison above is not vacuous.
    seen = set(expected["count"][1])
    assert {"PRESENT", "DEFAULTED", "EXPIRED"} <= seen, seen
    assert job.summary.rows == LABELS
    assert job.summary.status_counts[f"{group}:count"]["EXPIRED"] == expected["count"][1].count("EXPIRED")

    with capsys.disabled():
        print(f"\n[measured] write {ROWS} rows x 3 features: {result.seconds:.2f}s ({result.rows_per_second:,.0f} rows/s);"
              f" export {LABELS} labels x 3 features to a DataFrame: {export_seconds:.2f}s "
              f"({LABELS / export_seconds:,.0f} labels/s)")


def test_online_reads_the_same_rows_as_the_oracle(client, unique):
    """Online is the point-in-time rule at T = now (all rows here are in the past)."""
    group = unique("online_big")
    client.apply(strata.FeatureGroup(group, [strata.Feature("count", "INT"), strata.Feature("amount", "FLOAT"),
                                             strata.Feature("city", "STRING")]))
    now_us = int(time.time()) * US
    history = make_history(11, 20_000, 3_000, now_us)
    client.write(group, to_write_frame(history), progress=False)
    ids = [f"e{i}" for i in range(0, 3_100, 7)]  # includes unknown ids e3000+
    got = client.get_online_features([f"{group}:*"], ids).to_dict(with_status=True)
    expected = point_in_time(history, pd.DataFrame({"entity_id": ids, "t_us": [now_us] * len(ids)}),
                             {"count": None, "amount": None, "city": None})
    for name in ("count", "amount", "city"):
        assert got[f"{group}:{name}"] == expected[name][0]
        assert got[f"{group}:{name}__status"] == expected[name][1]
    assert "MISSING" in expected["count"][1] and "PRESENT" in expected["count"][1]
