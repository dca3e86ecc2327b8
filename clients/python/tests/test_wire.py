"""The vectorised encoders (strata._wire) against the protobuf classes: random batches (nulls, int64
extremes, negative numbers, non-ASCII and empty strings, embeddings, created times, sliced and
dictionary-encoded Arrow arrays, integer ids) must parse back to exactly the message the protobuf classes
build from the same values."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from strata import _columns as cols
from strata import _wire
from strata._proto import feature_store_pb2 as fs
from strata._proto import types_pb2 as pb
from strata.client import _WritePlan
from strata.definitions import DType, Feature, FeatureGroup, RegisteredGroup, GroupStatus

WORDS = ["", "a", "Zürich", "naïve, \"q\"\n", "日本語", "x" * 300, "emoji 🎉"]


def random_table(rng: np.random.Generator, n: int, dim: int, with_created: bool) -> pa.Table:
    def nulls(p=0.2):
        return rng.random(n) < p
    ints = rng.choice(np.array([0, 1, -1, 127, 128, 300, 2**31, -2**40, 2**63 - 1, -2**63], dtype=np.int64), n)
    floats = rng.choice(np.array([0.0, -0.0, 1.5, -2.25, 1e300, 5e-324, 123456.789]), n)
    strings = [WORDS[i] for i in rng.integers(0, len(WORDS), n)]
    emb = rng.normal(size=(n, dim)).astype(np.float32)
    emb_null = nulls()
    columns = {
        "entity_id": pa.array([f"id-{i}-{WORDS[i % len(WORDS)]}" for i in range(n)]),
        "event_timestamp": pa.array(rng.integers(0, 2**52, n), type=pa.timestamp("us", tz="UTC")),
        "i": pa.array(ints, mask=nulls()),
        "f": pa.array(floats, mask=nulls()),
        "s": pa.array(strings, mask=nulls()),
        "d": pa.array(strings).dictionary_encode(),
        "e": pa.array([None if emb_null[k] else emb[k].tolist() for k in range(n)], type=pa.list_(pa.float32())),
    }
    if with_created:
        columns["created_timestamp"] = pa.array(rng.integers(0, 2**52, n), type=pa.timestamp("us", tz="UTC"),
                                                mask=nulls(0.5))
    return pa.table(columns)


def expected_write(table: pa.Table, group: RegisteredGroup, features: list[str]) -> fs.WriteFeaturesRequest:
    """The same message built with the protobuf classes, value by value."""
    m = fs.WriteFeaturesRequest(group=group.name, version=group.version, features=features)
    rows = table.to_pylist()
    for r in rows:
        row = m.rows.add(entity_id=str(r["entity_id"]), event_timestamp_micros=_micros(r["event_timestamp"]))
        if r.get("created_timestamp") is not None:
            row.created_timestamp_micros = _micros(r["created_timestamp"])
        for name in features:
            v = r[name]
            kind = group.feature(name).dtype.kind
            if v is None:
                row.values.add()
            elif kind == "INT":
                row.values.add(int_value=v)
            elif kind == "FLOAT":
                row.values.add(float_value=v)
            elif kind == "STRING":
                row.values.add(string_value=v)
            else:
                row.values.add(embedding_value=pb.Embedding(values=v))
    return m


def _micros(t) -> int:
    import datetime as dt
    return (t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)


def group_for(dim: int) -> RegisteredGroup:
    spec = FeatureGroup("g", [Feature("i", "INT"), Feature("f", "FLOAT"), Feature("s", "STRING"),
                              Feature("d", "STRING"), Feature("e", DType("EMBEDDING", dim))])
    import datetime as dt
    return RegisteredGroup(spec, 3, GroupStatus.ACTIVE, dt.datetime.now(dt.timezone.utc))


@pytest.mark.parametrize("seed", range(8))
def test_write_messages_parse_to_the_protobuf_message(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    dim = int(rng.integers(1, 20))
    table = random_table(rng, n, dim, with_created=bool(seed % 2))
    group = group_for(dim)
    # A column subset in another order, and a slice (Arrow arrays with a non-zero offset).
    features = ["s", "e", "i", "d", "f"] if seed % 3 else ["f", "i"]
    start = int(rng.integers(0, n))
    names = ["entity_id", "event_timestamp"] + (["created_timestamp"] if seed % 2 else []) + features
    part = table.slice(start).select(names)
    plan = _WritePlan(group, part.schema)
    batch = pa.RecordBatch.from_arrays([part.column(c).combine_chunks() for c in plan.input_columns],
                                       names=plan.input_columns)
    encoded = plan.message(batch, first_row=0)
    got = fs.WriteFeaturesRequest.FromString(encoded)
    want = expected_write(part, group, plan.features)
    assert got == want


@pytest.mark.parametrize("seed", range(6))
def test_label_messages_parse_to_the_protobuf_message(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(0, 3000))
    ids = pa.array([WORDS[i % len(WORDS)] + str(i) for i in range(n)])
    if seed % 3 == 0:
        ids = pa.array(rng.integers(-2**40, 2**40, n))  # integer ids are sent as their decimal text
    times = rng.integers(-2**40, 2**60, n)
    known = rng.integers(0, 2**60, n)
    known_mask = rng.random(n) < 0.5
    start = int(rng.integers(0, n)) if n else 0
    ids, times, known, known_mask = ids.slice(start), times[start:], known[start:], known_mask[start:]
    with_known = bool(seed % 2)
    encoded = _wire.label_rows(_wire.string_buffers(ids), times, known if with_known else None,
                               known_mask if with_known else None)
    got = fs.GetHistoricalFeaturesRequest.FromString(encoded)
    want = fs.GetHistoricalFeaturesRequest()
    for k, (e, t) in enumerate(zip(ids.to_pylist(), times.tolist())):
        row = want.labels.add(entity_id=str(e), label_timestamp_micros=t)
        if with_known and known_mask[k]:
            row.known_at_micros = int(known[k])
    assert got == want
    assert len(got.labels) == len(times)


def test_varint_lengths_at_every_boundary():
    values = np.array([0, 1, 127, 128, 16383, 16384, 2**21 - 1, 2**21, 2**35, 2**49, 2**56 - 1, 2**56, 2**63 - 1,
                       -1, -2**63], dtype=np.int64)
    encoded = _wire.label_rows(_wire.string_buffers(pa.array(["e"] * len(values))), values)
    got = fs.GetHistoricalFeaturesRequest.FromString(encoded)
    assert [r.label_timestamp_micros for r in got.labels] == values.tolist()
    # Byte for byte what protobuf writes (it omits proto3 zeros, so compare without the 0).
    nonzero = values[1:]
    assert fs.GetHistoricalFeaturesRequest(labels=[fs.LabelRow(entity_id="e", label_timestamp_micros=int(v))
                                                   for v in nonzero]).SerializeToString() == \
        _wire.label_rows(_wire.string_buffers(pa.array(["e"] * len(nonzero))), nonzero)


def test_embedding_column_types():
    """Fixed-size lists, lists of doubles and integer lists all encode as float32 embeddings."""
    dim = 3
    for arr in (pa.array([[1, 2, 3], None], type=pa.list_(pa.int64())),
                pa.array([[1.0, 2.0, 3.0], None], type=pa.list_(pa.float64(), 3)),
                pa.array([[1.0, 2.0, 3.0], None], type=pa.large_list(pa.float32()))):
        values, has = cols.feature_values(arr, DType("EMBEDDING", dim), "e", 0)
        assert has.tolist() == [True, False]
        assert values[0].tolist() == [1.0, 2.0, 3.0] and values.dtype == np.float32


def _strings(layout: str, n: int, rng: np.random.Generator) -> list[str]:
    if layout == "short":
        return [f"k{i}" for i in rng.integers(0, 1000, n)]
    if layout == "even":  # all of one length
        return [f"{i:036d}" for i in rng.integers(0, 2**62, n)]
    if layout == "uneven":
        return ["é" * int(k) for k in rng.integers(20, 400, n)]
    if layout == "outlier":
        return [f"k{i}" for i in range(n - 1)] + ["z" * 20_000]
    return ["x"] * n  # "sliced": see below


@pytest.mark.parametrize("layout", ["short", "even", "uneven", "outlier", "sliced"])
def test_every_string_layout_parses_to_the_protobuf_message(layout):
    """Strings go into the rows' byte matrix (short ones; ones all of one length as a view of their
    buffer) or are interleaved with it (long ones of uneven lengths): each way, with nulls and empty
    strings, and from a slice of a string array (int32 offsets), gives the same messages."""
    rng = np.random.default_rng(7)
    n = 300
    ids = pa.array(_strings(layout, n, rng), type=pa.string())
    values = _strings(layout, n, rng)
    values = [None if k % 7 == 3 else "" if k % 11 == 5 else v for k, v in enumerate(values)]
    strings = pa.array(values, type=pa.string())
    if layout == "sliced":
        ids = pa.array([f"id-{k}" for k in range(n + 50)], type=pa.string()).slice(50)
        strings = pa.array(["w" * (k % 9) for k in range(n + 50)], type=pa.string()).slice(50)
    table = pa.table({"entity_id": ids, "event_timestamp": pa.array(rng.integers(0, 2**52, n),
                                                                    type=pa.timestamp("us", tz="UTC")),
                      "s": strings, "i": pa.array(rng.integers(-100, 100, n))})
    group = group_for(2)
    plan = _WritePlan(group, table.schema)
    batch = pa.RecordBatch.from_arrays([table.column(c).combine_chunks() for c in plan.input_columns],
                                       names=plan.input_columns)
    got = fs.WriteFeaturesRequest.FromString(plan.message(batch, first_row=0))
    assert got == expected_write(table, group, plan.features)
    encoded = _wire.label_rows(_wire.string_buffers(ids), np.arange(n))
    assert [r.entity_id for r in fs.GetHistoricalFeaturesRequest.FromString(encoded).labels] == ids.to_pylist()
