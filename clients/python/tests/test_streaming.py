"""Streams and aggregate groups against a real node: definitions (objects and YAML), `Client.push`
(batches, idempotency keys, duplicates), and every aggregate function read online and point in time,
checked against a brute-force oracle of the documented semantics:

value at T of f over window W = f over the entity's events with T - W < event_time <= T (and, with
known_at, created_time <= known_at). Nulls count for count only. Empty window: count and sum 0
(PRESENT), avg/min/max/last MISSING or the default (DEFAULTED). last = the non-null value of the
latest event by (event time, created time). Sums are exact (FLOAT: rounded once)."""
from __future__ import annotations

import datetime as dt
import math
import random
import textwrap
import time
from fractions import Fraction

import grpc
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import strata
from strata._proto import feature_store_pb2 as fs
from strata._proto import feature_store_pb2_grpc as fs_grpc
from strata._proto import types_pb2 as pb

UTC = dt.timezone.utc
US = 1_000_000
MIN, HOUR, DAY = 60 * US, 3600 * US, 86400 * US

# name -> (field, function, window seconds, default)
AGGREGATES = {
    "cnt_1m": ("amount", "count", 60, None),
    "cnt_1h": ("amount", "count", 3600, None),
    "cnt_q_1d": ("qty", "count", 86400, None),
    "sum_f_1h": ("amount", "sum", 3600, None),
    "sum_f_1d": ("amount", "sum", 86400, 0.0),
    "sum_i_1d": ("qty", "sum", 86400, None),
    "sum_i_1h": ("qty", "sum", 3600, None),
    "avg_f_1d": ("amount", "avg", 86400, None),
    "avg_i_1h": ("qty", "avg", 3600, -1.0),
    "min_f_1d": ("amount", "min", 86400, None),
    "min_i_1h": ("qty", "min", 3600, 0),
    "max_f_1h": ("amount", "max", 3600, None),
    "max_i_1d": ("qty", "max", 86400, None),
    "last_f_1h": ("amount", "last", 3600, None),
    "last_i_1d": ("qty", "last", 86400, None),
    "last_s_1d": ("tag", "last", 86400, "none"),
    "last_s_1m": ("tag", "last", 60, None),
}
FIELDS = {"amount": strata.FLOAT, "qty": strata.INT, "tag": strata.STRING}


def definitions(stream: str, group: str) -> list[strata.FeatureGroup]:
    return [
        strata.Stream(stream, [strata.Field(n, t) for n, t in FIELDS.items()], entity="USER", owner="tests",
                      description="purchases"),
        strata.AggregateGroup(group, stream, [strata.Aggregate(n, f, fn, w, default=d)
                                              for n, (f, fn, w, d) in AGGREGATES.items()], entity="USER"),
    ]


def yaml_text(stream: str, group: str) -> str:
    lines = [f"streams:\n  - name: {stream}\n    entity_type: USER\n    description: \"purchases\"\n"
             "    owner: \"tests\"\n    fields:\n"]
    lines += [f"      - name: {n}\n        dtype: {t}\n" for n, t in FIELDS.items()]
    lines.append(f"groups:\n  - name: {group}\n    stream: {stream}\n    features:\n")
    for n, (f, fn, w, d) in AGGREGATES.items():
        window = f"{w // 86400}d" if w % 86400 == 0 else f"{w // 3600}h" if w % 3600 == 0 else f"{w // 60}m"
        lines.append(f"      - name: {n}\n        field: {f}\n        function: {fn}\n        window: {window}\n")
        if d is not None:
            lines.append(f"        default: {d!r}\n" if not isinstance(d, str) else f"        default: \"{d}\"\n")
    return "".join(lines)


# --------------------------------------------------------------------------------------------------
# The oracle
# --------------------------------------------------------------------------------------------------

def oracle(events: list[dict], entity: str, t: int, name: str, known_at: int | None = None):
    """(value, status name) of aggregate `name` for `entity` at time `t` (microseconds)."""
    field, function, window_s, default = AGGREGATES[name]
    w = window_s * US
    sel = [e for e in events if e["entity_id"] == entity and t - w < e["t"] <= t
           and (known_at is None or e["created"] <= known_at)]
    if function == "count":
        return len(sel), "PRESENT"
    present = [e for e in sel if e[field] is not None]
    values = [e[field] for e in present]
    if function == "sum":
        # Exact; a sum outside the type's range (INT: int64; FLOAT: the finite doubles, after rounding
        # once) is null, MISSING, never the default.
        if field == "qty":
            total = sum(values)
            return (total, "PRESENT") if -2**63 <= total < 2**63 else (None, "MISSING")
        try:
            return float(sum((Fraction(v) for v in values), Fraction(0))), "PRESENT"
        except OverflowError:
            return None, "MISSING"
    if not values:
        return (default, "DEFAULTED") if default is not None else (None, "MISSING")
    if function == "avg":
        exact = sum((Fraction(v) for v in values), Fraction(0)) / len(values)
        return float(exact), "PRESENT"
    # FLOAT in IEEE 754 totalOrder (-0.0 below +0.0), STRING by UTF-8 bytes.
    order = (lambda v: (v, math.copysign(1.0, v))) if field == "amount" else \
        (lambda v: v.encode()) if field == "tag" else (lambda v: v)
    if function == "min":
        return min(values, key=order), "PRESENT"
    if function == "max":
        return max(values, key=order), "PRESENT"
    latest = max(present, key=lambda e: (e["t"], e["created"]))
    return latest[field], "PRESENT"


# Cells the general comparisons skip: none (an overflowing sum of a feature with a default answers
# MISSING, as test_an_overflowing_sum_is_missing_not_the_default checks).
KNOWN_SERVER_BUG: set = set()


def same(name: str, got, want) -> bool:
    if want is None or got is None:
        return got is None and want is None
    if isinstance(want, float):
        if want == 0:
            return got == 0 and (not name.startswith(("min", "max")) or math.copysign(1, got) == math.copysign(1, want))
        return abs(got - want) <= 1e-12 * abs(want)
    return got == want


def make_events(now_us: int, seed: int = 7) -> list[dict]:
    """Random events for u0..u5 over the last 3 days, none within 10 minutes of a window edge as seen from
    `now_us` (so online results cannot change while the test runs), plus hand-made cases:
    - ut: two events at the same event time; the later created time wins `last`;
    - un: only null values (count counts them, sum is 0, the rest MISSING/DEFAULTED);
    - uo: only events older than every window (as of now);
    - ux: exact sums: 1e16 + 1.0 - 1e16 is 1.0 (naive float addition gives 0), INT values above 2**53."""
    rng = random.Random(seed)
    edges = [w * US for w in (60, 3600, 86400)]
    events = []

    def ok(offset):
        return offset > 11 * MIN and all(abs(offset - e) > 10 * MIN for e in edges)

    tags = ["a", "b", "zz", "Zürich ✓", ""]
    for i in range(6):
        for _ in range(rng.randint(15, 40)):
            while True:
                offset = rng.randint(11 * MIN, 3 * DAY)
                if ok(offset):
                    break
            t = now_us - offset
            events.append({
                "entity_id": f"u{i}", "t": t, "created": t + rng.randint(0, 2 * HOUR) if offset > 3 * HOUR else t,
                "amount": None if rng.random() < 0.2 else rng.choice([rng.uniform(-1e3, 1e3), float(rng.randint(-5, 5)),
                                                                      rng.uniform(0, 1) * 10 ** rng.randint(-8, 8)]),
                "qty": None if rng.random() < 0.2 else rng.randint(-10**12, 10**12),
                "tag": None if rng.random() < 0.2 else rng.choice(tags),
            })
    t = now_us - 30 * MIN
    events += [
        {"entity_id": "ut", "t": t, "created": t + 5 * US, "amount": 2.0, "qty": 2, "tag": "later"},
        {"entity_id": "ut", "t": t, "created": t + 1 * US, "amount": 1.0, "qty": 1, "tag": "earlier"},
        {"entity_id": "un", "t": now_us - 20 * MIN, "created": now_us - 20 * MIN, "amount": None, "qty": None,
         "tag": None},
        {"entity_id": "un", "t": now_us - 2 * HOUR, "created": now_us - 2 * HOUR, "amount": None, "qty": None,
         "tag": None},
        {"entity_id": "uo", "t": now_us - 5 * DAY, "created": now_us - 5 * DAY, "amount": 3.5, "qty": 7, "tag": "old"},
    ]
    # uv: sums out of range (MISSING, also where sum_f_1d has a default); avg still exact. uz: -0.0 < +0.0.
    big = 1.7976931348623157e308
    for k, (a, q) in enumerate([(big, 2**62), (big, 2**62)]):
        t = now_us - (20 + k) * MIN
        events.append({"entity_id": "uv", "t": t, "created": t, "amount": a, "qty": q, "tag": None})
    for k, a in enumerate([0.0, -0.0, 0.0]):
        t = now_us - (20 + k) * MIN
        events.append({"entity_id": "uz", "t": t, "created": t, "amount": a, "qty": None, "tag": None})
    for k, (a, q) in enumerate([(1e16, 2**53 + 1), (1.0, 2**53 + 1), (-1e16, 3)]):
        t = now_us - (40 - k) * MIN
        events.append({"entity_id": "ux", "t": t, "created": t, "amount": a, "qty": q, "tag": "x"})
    rng.shuffle(events)
    return events


def frame(events: list[dict]) -> pd.DataFrame:
    return pd.DataFrame({
        "entity_id": [e["entity_id"] for e in events],
        "event_timestamp": pd.to_datetime([e["t"] for e in events], unit="us", utc=True),
        "created_timestamp": pd.to_datetime([e["created"] for e in events], unit="us", utc=True),
        "amount": pd.array([e["amount"] for e in events], dtype="Float64"),
        "qty": pd.array([e["qty"] for e in events], dtype="Int64"),
        "tag": pd.array([e["tag"] for e in events], dtype="string"),
    })


ENTITIES = ["u0", "u1", "u2", "u3", "u4", "u5", "ut", "un", "uo", "ux", "uv", "uz", "nobody"]


@pytest.fixture(scope="module")
def pushed(node, tmp_path_factory):
    """One stream with its aggregate group (applied from objects), the events pushed in batches of 17."""
    suffix = str(int(time.time() * 1000) % 10**9)
    stream, group = f"purchases_{suffix}", f"user_spend_{suffix}"
    now_us = int(time.time()) * US
    events = make_events(now_us)
    with strata.Client(node.address, timeout=30) as client:
        results = client.apply(definitions(stream, group))
        assert [(r.group, r.outcome) for r in results] == [(stream, "CREATED"), (group, "CREATED")]
        result = client.push(stream, frame(events), batch_rows=17, idempotency_prefix=f"load-{suffix}",
                             progress=False)
    return {"stream": stream, "group": group, "events": events, "result": result, "prefix": f"load-{suffix}",
            "now_us": now_us}


# --------------------------------------------------------------------------------------------------
# Definitions
# --------------------------------------------------------------------------------------------------

def test_yaml_equals_objects_and_registered_specs(client, pushed, tmp_path):
    path = tmp_path / "streams.yaml"
    path.write_text(yaml_text(pushed["stream"], pushed["group"]))
    parsed = strata.load_definitions(path)
    objects = definitions(pushed["stream"], pushed["group"])
    assert [type(g) for g in parsed] == [strata.Stream, strata.AggregateGroup]
    assert parsed == objects
    # The same specs as registered by the objects: nothing changes.
    assert [r.outcome for r in client.apply(path)] == ["UNCHANGED", "UNCHANGED"]
    registered = client.get_feature_group(pushed["group"])
    assert registered.spec.kind == strata.GroupKind.AGGREGATES and registered.spec.stream == pushed["stream"]
    assert registered.spec.stream_version == 1
    dtypes = {f.name: str(f.dtype) for f in registered.features}
    assert dtypes["cnt_1h"] == "INT" and dtypes["avg_i_1h"] == "FLOAT" and dtypes["sum_i_1d"] == "INT"
    assert dtypes["sum_f_1h"] == "FLOAT" and dtypes["last_s_1d"] == "STRING" and dtypes["min_i_1h"] == "INT"
    assert registered.spec == objects[1]
    s = client.get_feature_group(pushed["stream"])
    assert s.spec.kind == strata.GroupKind.STREAM and s.spec == objects[0]


def test_yaml_aggregate_group_alone_and_a_new_version(client, unique, tmp_path):
    stream, group = unique("st"), unique("ag")
    client.apply(strata.Stream(stream, [strata.Field("v", "INT")]))
    path = tmp_path / "g.yaml"
    path.write_text(textwrap.dedent(f"""
        groups:
          - name: {group}
            stream: {stream}
            description: "alone"
            features:
              - name: total_1h
                field: v
                function: SUM
                window: 1h
                default: 0
              - name: top_2w
                field: v
                function: max
                window: 2w
        """))
    assert [r.outcome for r in client.apply(path)] == ["CREATED"]
    g = client.get_feature_group(group)
    assert [(f.name, str(f.dtype), f.default, f.window) for f in g.features] == [
        ("total_1h", "INT", 0, 3600), ("top_2w", "INT", None, 14 * 86400)]
    changed = strata.AggregateGroup(group, stream, [strata.Aggregate("total_1h", "v", "sum", dt.timedelta(hours=2))],
                                    description="alone")
    assert client.apply(changed)[0].outcome == "NEW_VERSION"


@pytest.mark.parametrize("text, match", [
    ("streams:\n  - name: s\n    fields:\n      - {name: a, dtype: EMBEDDING(2)}\n",
     "stream 's', field 'a': dtype 'EMBEDDING\\(2\\)' is not a stream field type"),
    ("streams:\n  - name: s\n    fields:\n      - {name: a, dtype: INT, default: 1}\n", "unknown key 'default'"),
    ("streams:\n  - name: s\n    fields:\n      - {name: a, dtype: INT}\ngroups:\n  - name: g\n    stream: s\n"
     "    features:\n      - {name: x, field: b, function: sum, window: 1h}\n", "field 'b' is not a field of the stream"),
    ("groups:\n  - name: g\n    stream: s\n    features:\n      - {name: x, field: b, function: median, window: 1h}\n",
     "unknown function 'median'"),
    ("groups:\n  - name: g\n    stream: s\n    features:\n      - {name: x, field: b, function: sum, window: 30s}\n",
     "window of 30 seconds; use 1 minute to 90 days"),
    ("groups:\n  - name: g\n    stream: s\n    features:\n      - {name: x, field: b, function: sum, window: 91d}\n",
     "use 1 minute to 90 days"),
    ("groups:\n  - name: g\n    stream: s\n    features:\n      - {name: x, field: b, function: sum, window: soon}\n",
     "window 'soon' is not a duration"),
    ("groups:\n  - name: g\n    stream: s\n    features:\n      - {name: x, dtype: INT, field: b, function: sum, "
     "window: 1h}\n", "an aggregate takes no 'dtype'"),
    ("groups:\n  - name: g\n    stream: s\n    max_age: 1d\n    features:\n      - {name: x, field: b, function: sum, "
     "window: 1h}\n", "takes no max age"),
    ("groups:\n  - name: g\n    features:\n      - {name: x, field: b, function: sum, window: 1h}\n",
     "the group names no stream"),
    ("streams:\n  - name: g\n    fields:\n      - {name: a, dtype: INT}\ngroups:\n  - name: g\n    features:\n"
     "      - {name: a, dtype: INT}\n", "'g' is defined more than once"),
    ("streams:\n  - name: s\n    fields:\n      - {name: a, dtype: INT}\ngroups:\n  - name: g\n    stream: s\n"
     "    features:\n      - {name: x, field: a, function: count, window: 1h, default: 1.5}\n",
     "default 1.5 is not an integer"),
])
def test_yaml_errors(text, match):
    with pytest.raises(strata.InvalidArgument, match=match):
        strata.parse_definitions(text, file_name="defs.yaml")


def test_object_errors():
    with pytest.raises(strata.InvalidArgument, match="unknown function 'median'"):
        strata.Aggregate("x", "a", "median", "1h")
    with pytest.raises(strata.InvalidArgument, match="has a default"):
        strata.Stream("s", [strata.Feature("a", "INT", default=1)]).validate()
    with pytest.raises(strata.InvalidArgument, match="FLOAT, INT or STRING"):
        strata.Stream("s", [strata.Field("a", strata.Embedding(3))]).validate()
    with pytest.raises(strata.InvalidArgument, match="has no aggregation"):
        strata.AggregateGroup("g", "s", [strata.Feature("a", "INT")]).validate()
    with pytest.raises(strata.InvalidArgument, match="reads no stream"):
        strata.FeatureGroup("g", [strata.Aggregate("a", "x", "sum", "1h")]).validate()
    with pytest.raises(strata.InvalidArgument, match="1 minute to 90 days"):
        strata.AggregateGroup("g", "s", [strata.Aggregate("a", "x", "sum", 59)]).validate()
    with pytest.raises(strata.InvalidArgument, match="default of feature 'a' is STRING but the feature is INT"):
        strata.AggregateGroup("g", "s", [strata.Aggregate("a", "x", "count", "1h", default="0")]).validate()


def test_server_rejects_an_aggregate_of_an_unknown_field(client, unique):
    stream, group = unique("st"), unique("ag")
    client.apply(strata.Stream(stream, [strata.Field("v", "INT")]))
    with pytest.raises(strata.StrataError) as e:
        client.apply(strata.AggregateGroup(group, stream, [strata.Aggregate("x", "nope", "sum", "1h")]))
    assert "nope" in e.value.message


# --------------------------------------------------------------------------------------------------
# Push, idempotency
# --------------------------------------------------------------------------------------------------

def test_push_counts(pushed):
    r, events = pushed["result"], pushed["events"]
    assert r.events_written == len(events)
    assert r.batches == math.ceil(len(events) / 17) and r.duplicates == 0 and r.retries == 0
    assert r.idempotency_prefix == pushed["prefix"]
    # Late: events older than the entity's latest event pushed before them.
    latest: dict[str, int] = {}
    late = 0
    for e in events:
        if e["entity_id"] in latest and e["t"] < latest[e["entity_id"]]:
            late += 1
        latest[e["entity_id"]] = max(latest.get(e["entity_id"], e["t"]), e["t"])
    assert 0 < r.late_events <= late


def test_a_pinned_push_looks_the_stream_up_once(node, unique):
    stream = unique("pin")
    with strata.Client(node.address, timeout=30) as client:
        client.apply(strata.Stream(stream, [strata.Field("v", "INT")]))
        asked = []
        unary = client._unary

        def counting(method, request, timeout):
            asked.append(method)
            return unary(method, request, timeout)

        client._unary = counting
        df = pd.DataFrame({"entity_id": ["a", "b"], "event_timestamp": [pd.Timestamp.now(tz="UTC")] * 2, "v": [1, 2]})
        assert client.push(f"{stream}@1", df, progress=False).events_written == 2
        assert client.push(f"{stream}@1", df, progress=False).events_written == 2
        assert asked.count("GetFeatureGroup") == 1
        assert client.push(stream, df, progress=False).events_written == 2  # unpinned: asked again
        assert asked.count("GetFeatureGroup") == 2
        with pytest.raises(strata.NotFound):  # an unknown version is not cached as anything
            client.push(f"{stream}@9", df, progress=False)
        with pytest.raises(strata.NotFound):
            client.push(f"{stream}@9", df, progress=False)
        assert asked.count("GetFeatureGroup") == 4


def export(client, group, labels: pd.DataFrame) -> pd.DataFrame:
    return client.get_historical_features(labels, [f"{group}:*"], with_status=True, progress=False).to_df()


def labels_for(pushed, with_known_at: bool) -> pd.DataFrame:
    """Labels at every event time, at event time + each window (exactly: that event is out) and one
    microsecond before, at random times, and for entities without events; with `with_known_at`, a
    known_at column (null for some rows)."""
    rng = random.Random(11)
    events = pushed["events"]
    rows = []
    for e in events:
        rows.append((e["entity_id"], e["t"]))
        for w in (60, 3600, 86400):
            rows += [(e["entity_id"], e["t"] + w * US), (e["entity_id"], e["t"] + w * US - 1)]
    for _ in range(200):
        rows.append((rng.choice(ENTITIES), pushed["now_us"] - rng.randint(0, 6 * DAY)))
    rows = [r for r in rows if r[1] <= pushed["now_us"]]
    rng.shuffle(rows)
    df = pd.DataFrame({"entity_id": [r[0] for r in rows],
                       "label_timestamp": pd.to_datetime([r[1] for r in rows], unit="us", utc=True),
                       "row": np.arange(len(rows)), "t_us": [r[1] for r in rows]})
    if with_known_at:
        known = [None if rng.random() < 0.2 else t - rng.randint(0, 3 * HOUR) for _, t in rows]
        df["known_at"] = pd.Series([pd.NaT if k is None else pd.Timestamp(k, unit="us", tz="UTC") for k in known],
                                   dtype="datetime64[us, UTC]")
        df["known_us"] = pd.array(known, dtype="Int64")
    return df


def check_export(pushed, labels: pd.DataFrame, out: pd.DataFrame) -> int:
    group, events = pushed["group"], pushed["events"]
    assert out["row"].tolist() == labels["row"].tolist()
    times = [int(t) for t in labels["t_us"]]
    known = [None if k is pd.NA else int(k) for k in labels["known_us"]] if "known_us" in labels \
        else [None] * len(labels)
    checked = 0
    mismatches = []
    for name in AGGREGATES:
        col = out[f"{group}:{name}"].tolist()
        status = out[f"{group}:{name}__status"].tolist()
        for i, entity in enumerate(labels["entity_id"].tolist()):
            k = known[i]
            if (name, entity) in KNOWN_SERVER_BUG or (name, entity) in pushed.get("skip", ()):
                continue
            want, want_status = oracle(events, entity, times[i], name, k)
            got = col[i]
            got = None if got is None or got is pd.NA or (isinstance(got, float) and math.isnan(got)) else got
            if isinstance(got, (np.integer,)):
                got = int(got)
            if status[i] != want_status or not same(name, got, want):
                mismatches.append((name, entity, times[i], k, got, status[i], want, want_status))
            checked += 1
    assert not mismatches, f"{len(mismatches)} of {checked} values differ from the oracle, e.g. {mismatches[:5]}"
    return checked


def test_historical_matches_the_oracle(client, pushed):
    labels = labels_for(pushed, with_known_at=False)
    assert check_export(pushed, labels, export(client, pushed["group"], labels)) > 10_000


def test_historical_with_known_at_matches_the_oracle(client, pushed):
    labels = labels_for(pushed, with_known_at=True)
    assert check_export(pushed, labels, export(client, pushed["group"], labels)) > 10_000


def online_check(client, pushed):
    group, events = pushed["group"], pushed["events"]
    before = int(time.time() * US)
    r = client.get_online_features([f"{group}:*"], ENTITIES)
    after = int(time.time() * US)
    values, statuses = r.values, r.statuses
    for name in AGGREGATES:
        column = f"{group}:{name}"
        assert all(t is None for t in r.event_timestamps[column])  # aggregates carry no event time
        for i, entity in enumerate(ENTITIES):
            if (name, entity) in KNOWN_SERVER_BUG:
                continue
            want = oracle(events, entity, before, name)
            assert want == oracle(events, entity, after, name), "the test's events sit too close to a window edge"
            got = (values[column][i], statuses[column][i].name)
            assert got[1] == want[1] and same(name, got[0], want[0]), (name, entity, got, want)
    return values


def test_online_matches_the_oracle(client, pushed):
    values = online_check(client, pushed)
    g = pushed["group"]
    # The hand-made cases, spelled out.
    i = ENTITIES.index
    assert values[f"{g}:last_s_1d"][i("ut")] == "later" and values[f"{g}:last_f_1h"][i("ut")] == 2.0
    assert values[f"{g}:cnt_1h"][i("un")] == 1 and values[f"{g}:cnt_q_1d"][i("un")] == 2
    assert values[f"{g}:sum_f_1h"][i("un")] == 0.0 and values[f"{g}:sum_i_1d"][i("un")] == 0
    assert values[f"{g}:avg_i_1h"][i("un")] == -1.0 and values[f"{g}:avg_f_1d"][i("un")] is None
    assert values[f"{g}:last_s_1d"][i("uo")] == "none" and values[f"{g}:cnt_q_1d"][i("uo")] == 0
    assert values[f"{g}:sum_f_1h"][i("ux")] == 1.0  # exact: 1e16 + 1.0 - 1e16
    assert values[f"{g}:sum_i_1h"][i("ux")] == 2 * (2**53 + 1) + 3
    assert values[f"{g}:cnt_1m"] == [0] * len(ENTITIES)
    assert values[f"{g}:sum_i_1h"][i("uv")] is None and values[f"{g}:sum_f_1h"][i("uv")] is None
    assert values[f"{g}:avg_f_1d"][i("uv")] == 1.7976931348623157e308 and values[f"{g}:avg_i_1h"][i("uv")] == 2.0**62
    assert math.copysign(1, values[f"{g}:min_f_1d"][i("uz")]) == -1 and math.copysign(1, values[f"{g}:max_f_1h"][i("uz")]) == 1
    statuses = client.get_online_features([f"{g}:avg_f_1d", f"{g}:min_i_1h", f"{g}:cnt_1h"], ["nobody"]).statuses
    assert [s[0] for s in statuses.values()] == [strata.MISSING, strata.DEFAULTED, strata.PRESENT]
    # The aggregate row cache as the node reports it: a repeated lookup is answered from it.
    before = client.status()
    assert before.aggregate_row_cache_capacity > 0
    client.get_online_features([f"{g}:cnt_1h"], ["ut", "un"])
    client.get_online_features([f"{g}:cnt_1h"], ["ut", "un"])
    after = client.status()
    assert after.aggregate_row_cache_hits - before.aggregate_row_cache_hits >= 1  # the second lookup at least
    assert after.aggregate_row_cache_hits + after.aggregate_row_cache_misses \
        - before.aggregate_row_cache_hits - before.aggregate_row_cache_misses == 4
    assert "aggregate rows:" in str(after) and "answered from the cache" in str(after)


def test_an_overflowing_sum_is_missing_not_the_default(client, pushed):
    g = pushed["group"]
    r = client.get_online_features([f"{g}:sum_f_1d"], ["uv"])
    assert (r.values[f"{g}:sum_f_1d"][0], r.statuses[f"{g}:sum_f_1d"][0]) == (None, strata.MISSING)


def test_repush_with_the_same_prefix_is_all_duplicates(client, pushed):
    before = online_check(client, pushed)
    r = client.push(pushed["stream"], frame(pushed["events"]), batch_rows=17, idempotency_prefix=pushed["prefix"],
                    progress=False)
    first = pushed["result"]
    assert (r.batches, r.duplicates, r.events_written, r.late_events) == (
        first.batches, first.batches, first.events_written, first.late_events)
    assert online_check(client, pushed) == before
    labels = labels_for(pushed, with_known_at=False)
    check_export(pushed, labels, export(client, pushed["group"], labels))


def test_same_key_other_events_is_failed_precondition(client, pushed):
    df = frame(pushed["events"][:5]).assign(amount=pd.array([1.0, 2.0, 3.0, 4.0, 5.0], dtype="Float64"))
    with pytest.raises(strata.FailedPrecondition, match="other events"):
        client.push(pushed["stream"], df, batch_rows=17, idempotency_prefix=pushed["prefix"], progress=False)
    online_check(client, pushed)


def test_writes_to_streams_and_aggregates_are_failed_precondition(client, pushed):
    df = frame(pushed["events"][:3]).drop(columns=["created_timestamp"])
    with pytest.raises(strata.FailedPrecondition, match="is a stream"):
        client.write(pushed["stream"], df, progress=False)
    with pytest.raises(strata.FailedPrecondition, match="accepts no writes"):
        client.write(pushed["group"], df[["entity_id", "event_timestamp"]].assign(cnt_1h=1), progress=False)
    online_check(client, pushed)


# --------------------------------------------------------------------------------------------------
# Bad events: a precise error, nothing stored
# --------------------------------------------------------------------------------------------------

def raw_push(address: str, request: fs.PushEventsRequest):
    with grpc.insecure_channel(address) as channel:
        return list(fs_grpc.FeatureStoreStub(channel).PushEvents(iter([request]), timeout=30))


def nothing_for(client, pushed, entity: str) -> None:
    r = client.get_online_features([f"{pushed['group']}:cnt_q_1d", f"{pushed['stream']}:amount"], [entity])
    assert list(r.values.values()) == [[0], [None]]


@pytest.mark.parametrize("fields, value, code, match", [
    (["amount"], pb.Value(float_value=float("nan")), grpc.StatusCode.INVALID_ARGUMENT,
     "feature 'amount' got NaN or an infinite value"),
    (["qty"], pb.Value(string_value="7"), grpc.StatusCode.INVALID_ARGUMENT, "feature 'qty' is INT but the value is STRING"),
    (["bogus"], pb.Value(int_value=1), grpc.StatusCode.NOT_FOUND, "has no feature 'bogus'"),
])
def test_node_rejects_a_bad_event_and_stores_nothing(client, node, pushed, unique, fields, value, code, match):
    entity = unique("bad")
    t = int(time.time() * US) - MIN
    good = fs.WriteRow(entity_id=entity, event_timestamp_micros=t, values=[pb.Value(int_value=1)
                                                                          if fields == ["qty"] else pb.Value(float_value=1.0)])
    if fields == ["bogus"]:
        good = fs.WriteRow(entity_id=entity, event_timestamp_micros=t, values=[value])
    bad = fs.WriteRow(entity_id=entity, event_timestamp_micros=t, values=[value])
    with pytest.raises(grpc.RpcError) as e:
        raw_push(node.address, fs.PushEventsRequest(stream=pushed["stream"], fields=fields, events=[good, bad],
                                                    idempotency_key=f"{entity}:0"))
    assert e.value.code() == code and match in e.value.details()
    nothing_for(client, pushed, entity)


def test_sdk_rejects_bad_events_before_sending(client, pushed, unique):
    entity = unique("bad")
    t = pd.Timestamp.now(tz="UTC") - pd.Timedelta("1m")
    base = pd.DataFrame({"entity_id": [entity, entity], "event_timestamp": [t, t]})
    with pytest.raises(strata.InvalidArgument, match="'bogus' is not a feature"):
        client.push(pushed["stream"], base.assign(bogus=[1.0, 2.0]), progress=False)
    with pytest.raises(strata.InvalidArgument, match="qty"):
        client.push(pushed["stream"], base.assign(qty=["1", "2"]), progress=False)
    table = pa.table({"entity_id": [entity] * 2, "event_timestamp": pa.array([t, t], pa.timestamp("us", "UTC")),
                      "amount": pa.array([1.0, float("nan")])})
    with pytest.raises(strata.InvalidArgument, match="NaN"):
        client.push(pushed["stream"], table, progress=False)
    nothing_for(client, pushed, entity)


def test_a_rejected_batch_stops_the_push_after_the_acknowledged_ones(client, pushed, unique):
    entity = unique("stop")
    t = pd.Timestamp.now(tz="UTC") - pd.Timedelta("2m")
    table = pa.table({"entity_id": [entity] * 3, "event_timestamp": pa.array([t] * 3, pa.timestamp("us", "UTC")),
                      "qty": pa.array([1, 2, 3], pa.int64()), "amount": pa.array([1.0, 2.0, float("inf")])})
    with pytest.raises(strata.InvalidArgument) as e:
        client.push(pushed["stream"], table, batch_rows=2, idempotency_prefix=f"{entity}", progress=False)
    assert "stopped: 1 batches (2 events) were acknowledged" in e.value.message
    assert f"idempotency_prefix='{entity}'" in e.value.message
    r = client.get_online_features([f"{pushed['group']}:cnt_q_1d", f"{pushed['group']}:sum_i_1d"], [entity])
    assert list(r.values.values()) == [[2], [3]]


def test_push_to_a_missing_stream_and_bad_arguments(client, pushed):
    df = frame(pushed["events"][:2])
    with pytest.raises(strata.NotFound):
        client.push("no_such_stream", df, progress=False)
    with pytest.raises(strata.InvalidArgument, match="consistency"):
        client.push(pushed["stream"], df, consistency="MOST", progress=False)
    with pytest.raises(strata.InvalidArgument, match="batch_rows"):
        client.push(pushed["stream"], df, batch_rows=0, progress=False)
    with pytest.raises(strata.InvalidArgument, match="too long"):
        client.push(pushed["stream"], df, idempotency_prefix="k" * 120, progress=False)


# --------------------------------------------------------------------------------------------------
# A connection dropped in the middle of a push: the SDK resends the unanswered batches, same keys
# --------------------------------------------------------------------------------------------------

class _DroppingProxy(grpc.GenericRpcHandler):
    """Forwards every call to the node as raw bytes; the first PushEvents call fails UNAVAILABLE after
    `answers` answers (the node may have applied more of the batches sent: their answers are lost)."""

    def __init__(self, upstream: str, answers: int):
        super().__init__()
        self.channel = grpc.insecure_channel(upstream)
        self.answers = answers
        self.push_calls = 0

    def service(self, details):
        method = details.method
        if method.endswith("/PushEvents"):
            return grpc.stream_stream_rpc_method_handler(self._push)
        call = self.channel.unary_unary(method)
        return grpc.unary_unary_rpc_method_handler(lambda request, context: call(request, timeout=30))

    def _push(self, requests, context):
        self.push_calls += 1
        upstream = self.channel.stream_stream("/strata.v1.FeatureStore/PushEvents")(requests, timeout=60)
        for k, answer in enumerate(upstream):
            if self.push_calls == 1 and k == self.answers:
                upstream.cancel()
                context.abort(grpc.StatusCode.UNAVAILABLE, "proxy: connection dropped")
            yield answer


def test_push_resends_unanswered_batches_after_unavailable(node, pushed, unique):
    from concurrent import futures
    proxy = _DroppingProxy(node.address, answers=2)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), handlers=[proxy])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        now_us = int(time.time()) * US
        entity = unique("rs")
        events = [{"entity_id": entity, "t": now_us - (30 + k % 7) * MIN - k, "created": now_us - 25 * MIN,
                   "amount": float(k), "qty": k, "tag": str(k)} for k in range(40)]
        with strata.Client(f"127.0.0.1:{port}", timeout=30) as client:
            r = client.push(pushed["stream"], frame(events), batch_rows=4, progress=False)
        assert proxy.push_calls == 2 and r.retries == 1
        # Batches the node applied but whose answers were dropped answer as duplicates (with their first
        # counts): every event is stored exactly once.
        assert r.batches == 10 and r.events_written == 40 and r.duplicates <= 8
        with strata.Client(node.address, timeout=30) as direct:
            got = direct.get_online_features([f"{pushed['group']}:cnt_1h", f"{pushed['group']}:sum_i_1h"], [entity])
        assert list(got.values.values()) == [[40], [sum(range(40))]]
    finally:
        server.stop(0)
        proxy.channel.close()


# --------------------------------------------------------------------------------------------------
# A 3-node cluster: push through one node, read through the others
# --------------------------------------------------------------------------------------------------

def test_cluster_push_and_aggregates(cluster, unique):
    from conftest import apply_with_retry
    n1, n2, n3 = cluster.addresses
    stream, group = unique("cpurch"), unique("cspend")
    apply_with_retry(n2, definitions(stream, group))
    now_us = int(time.time()) * US
    # Many entities, so that every node owns some; the same event generator as the single node's.
    events = []
    for k in range(8):
        for e in make_events(now_us, seed=100 + k):
            events.append(dict(e, entity_id=f"{e['entity_id']}_{k}"))
    entities = sorted({e["entity_id"] for e in events}) + ["nobody"]
    prefix = unique("cluster-load")
    with strata.Client(n1, timeout=30) as via_n1, strata.Client(n2, timeout=30) as via_n2, \
            strata.Client(n3, timeout=30) as via_n3:
        first = via_n1.push(stream, frame(events), batch_rows=50, idempotency_prefix=prefix, consistency="ALL",
                            progress=False)
        assert first.events_written == len(events) and first.duplicates == 0
        pushed = {"stream": stream, "group": group, "events": events, "now_us": now_us}
        for reader in (via_n2, via_n3):
            before = int(time.time() * US)
            r = reader.get_online_features([f"{group}:*"], entities)
            after = int(time.time() * US)
            for name in AGGREGATES:
                for i, entity in enumerate(entities):
                    if (name, entity.split("_")[0]) in KNOWN_SERVER_BUG:
                        continue
                    want = oracle(events, entity, before, name)
                    assert want == oracle(events, entity, after, name)
                    column = f"{group}:{name}"
                    got = (r.values[column][i], r.statuses[column][i].name)
                    assert got[1] == want[1] and same(name, got[0], want[0]), (reader.address, name, entity, got, want)
        # The same batches again through the same coordinator: all duplicates.
        again = via_n1.push(stream, frame(events), batch_rows=50, idempotency_prefix=prefix, progress=False)
        assert (again.batches, again.duplicates, again.events_written) == (first.batches, first.batches,
                                                                           first.events_written)
        # Point in time through a third node, at event times and window edges.
        rng = random.Random(5)
        rows = []
        for e in rng.sample(events, 300):
            rows += [(e["entity_id"], e["t"]), (e["entity_id"], e["t"] + 3600 * US), (e["entity_id"], e["t"] + 86400 * US - 1)]
        rows = [r for r in rows if r[1] <= now_us]
        labels = pd.DataFrame({"entity_id": [r[0] for r in rows],
                               "label_timestamp": pd.to_datetime([r[1] for r in rows], unit="us", utc=True),
                               "row": np.arange(len(rows)), "t_us": [r[1] for r in rows]})
        out = export(via_n3, group, labels)
        skip = {(n, e) for n, e0 in KNOWN_SERVER_BUG for e in entities if e.split("_")[0] == e0}
        assert check_export(dict(pushed, skip=skip), labels, out) > 10_000


def test_push_and_write_take_polars_frames(client, pushed, unique):
    pl = pytest.importorskip("polars")
    entity = unique("pl")
    now = dt.datetime.now(UTC).replace(microsecond=0)
    df = pl.DataFrame({"entity_id": [entity] * 3,
                       "event_timestamp": [now - dt.timedelta(minutes=m) for m in (3, 2, 1)],
                       "amount": [1.5, None, 2.25], "qty": [1, 2, None], "tag": ["x", None, "é"]})
    r = client.push(pushed["stream"], df, progress=False)
    assert (r.events_written, r.batches) == (3, 1)
    g = pushed["group"]
    got = client.get_online_features([f"{g}:cnt_1h", f"{g}:sum_f_1h", f"{g}:sum_i_1h", f"{g}:last_s_1d"], [entity])
    assert list(got.values.values()) == [[3], [3.75], [3], ["é"]]
    with pytest.raises(strata.InvalidArgument, match="LazyFrame"):
        client.push(pushed["stream"], df.lazy(), progress=False)


def test_online_lookup_with_freshness(client, unique):
    stream, group = unique("fr"), unique("fr_agg")
    client.apply([strata.Stream(stream, [strata.Field("amount", "FLOAT")], refresh_interval=3600),
                  strata.AggregateGroup(group, stream, [strata.Aggregate("n_1h", "amount", "count", "1h")])])
    client.push(stream, pd.DataFrame({"entity_id": ["u1"], "event_timestamp": [pd.Timestamp.now(tz="UTC")],
                                      "amount": [1.0]}), progress=False)
    plain = client.get_online_features([f"{group}:n_1h"], ["u1"])
    assert plain.freshness == {}
    r = client.get_online_features([f"{group}:n_1h"], ["u1"], with_freshness=True)
    f = r.freshness[f"{group}@1"]
    assert (f["state"], f["tier"], f["refresh_interval_seconds"]) == ("FRESH", "NEAR_REAL_TIME", 3600)
    assert f["last_write"] is not None and r.values[f"{group}:n_1h"] == [1]


def test_stream_retention_round_trips_and_bounds_windows(client, unique):
    stream, group = unique("ret"), unique("ret_agg")
    client.apply([strata.Stream(stream, [strata.Field("amount", "FLOAT")], retention="2d")])
    assert client.get_feature_group(stream).spec.retention == 2 * 86400
    with pytest.raises(strata.InvalidArgument, match="longer than stream .*retention of 172800 seconds"):
        client.apply([strata.AggregateGroup(group, stream, [strata.Aggregate("s_7d", "amount", "sum", "7d")])])
    client.apply([strata.AggregateGroup(group, stream, [strata.Aggregate("s_1d", "amount", "sum", "1d")])])


def test_push_takes_pyarrow_backed_string_columns(client, unique):
    stream = unique("pa_str")
    client.apply([strata.Stream(stream, [strata.Field("tag", "STRING")])])
    n = 30_000
    # A pyarrow-backed string column built from several chunks (what pandas holds after a concat).
    parts = [pd.DataFrame({"entity_id": [f"u{i % 100}" for i in range(k, k + n // 3)],
                           "event_timestamp": pd.Timestamp.now(tz="UTC") - pd.Timedelta(seconds=5),
                           "tag": pd.array([f"t{i}" for i in range(k, k + n // 3)], dtype="string[pyarrow]")})
             for k in (0, n // 3, 2 * n // 3)]
    df = pd.concat(parts, ignore_index=True)
    r = client.push(stream, df, batch_rows=7_000, progress=False)
    assert r.events_written == n
