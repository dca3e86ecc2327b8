"""DataFrames of plain dtypes are converted column by column (`strata._sources._plain_columns`), without
pyarrow's pandas conversion: the schema and every record batch must be exactly pyarrow's own
(`pa.Schema.from_pandas`, then `pa.Table.from_pandas` slice by slice), and frames of other dtypes, or
that pyarrow refuses, still take pyarrow's path with its errors. No node needed."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from strata._sources import TableSource
from strata.errors import InvalidArgument

N = 23


def _frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(11)
    nulls = rng.random(N) < 0.3
    words = [None if m else f"w{i}é" for i, m in enumerate(nulls)]
    return {
        "numpy": pd.DataFrame({"i64": rng.integers(-2**62, 2**62, N), "i8": rng.integers(-5, 5, N).astype(np.int8),
                               "u64": rng.integers(0, 2**63, N).astype(np.uint64), "f": rng.normal(size=N),
                               "f_nan": np.where(nulls, np.nan, 1.5), "f32": rng.normal(size=N).astype(np.float32),
                               "b": nulls}),
        "datetimes": pd.DataFrame({
            "naive": pd.to_datetime(rng.integers(0, 2**40, N), unit="ms"),
            "utc_us": pd.to_datetime(rng.integers(0, 2**50, N), unit="us", utc=True),
            "zurich_ns": pd.date_range("2024-03-30", periods=N, freq="37min", tz="Europe/Zurich"),
            "offset_s": pd.Series(pd.date_range("2024-01-01", periods=N, freq="h",
                                                tz=dt.timezone(dt.timedelta(hours=-3)))).astype("datetime64[s, UTC]"),
            "nat": pd.to_datetime([None if m else 10**9 for m in nulls], unit="s", utc=True),
            "duration": pd.to_timedelta(np.arange(N), unit="s")}),
        "objects": pd.DataFrame({
            "s": pd.Series(words, dtype=object), "ints": pd.Series(list(range(N)), dtype=object),
            "none": pd.Series([None] * N, dtype=object),
            "times": pd.Series([dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(hours=k)
                                for k in range(N)], dtype=object),
            "lists": pd.Series([None if m else [1.0, float(k)] for k, m in enumerate(nulls)], dtype=object)}),
        "extension": pd.DataFrame({
            "str": pd.Series(words, dtype="string[python]"), "str_arrow": pd.Series(words, dtype="string[pyarrow]"),
            "Int64": pd.array([None if m else k for k, m in enumerate(nulls)], dtype="Int64"),
            "Float64": pd.array([None if m else k / 3 for k, m in enumerate(nulls)], dtype="Float64"),
            "arrow_i32": pd.Series(np.arange(N), dtype=pd.ArrowDtype(pa.int32())),
            "arrow_ts": pd.Series(pd.date_range("2024-01-01", periods=N, freq="s", tz="UTC"))
            .astype(pd.ArrowDtype(pa.timestamp("us", tz="UTC")))}),
        # string[pyarrow] backed by several chunks, a frame slice with a step, another index
        "chunked": pd.concat([pd.DataFrame({"s": pd.Series(words[:10], dtype="string[pyarrow]")}),
                              pd.DataFrame({"s": pd.Series(words[10:], dtype="string[pyarrow]")})], ignore_index=True),
        "strided": pd.DataFrame({"f": rng.normal(size=3 * N), "s": [f"x{k}" for k in range(3 * N)]}).iloc[::3],
        "index": pd.DataFrame({"f": rng.normal(size=N)}, index=pd.Index(np.arange(N) * 7, name="f2")),
        "empty": pd.DataFrame({"f": np.zeros(0), "s": pd.Series([], dtype=object)}),
    }


def _pyarrow_batches(df: pd.DataFrame, schema: pa.Schema, rows: int) -> list[pa.RecordBatch]:
    """What TableSource did before it converted plain frames itself."""
    out = []
    for start in range(0, len(df), rows):
        table = pa.Table.from_pandas(df.iloc[start:start + rows], schema=schema, preserve_index=False)
        out += [b for b in table.combine_chunks().to_batches() if b.num_rows]
    return out


@pytest.mark.parametrize("name", sorted(_frames()))
@pytest.mark.parametrize("rows", [1, 7, 5000])
def test_plain_frames_convert_exactly_as_pyarrow_does(name, rows):
    df = _frames()[name]
    source = TableSource(df, "test")
    assert source._columns is not None  # converted column by column
    schema = pa.Schema.from_pandas(df, preserve_index=False)
    assert source.schema.equals(schema)
    assert source.num_rows == len(df)
    got = list(source.batches(rows))
    want = _pyarrow_batches(df, schema, rows)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.equals(w) and g.schema.equals(w.schema) and g.nbytes == w.nbytes
    # A subset of the columns, in another order.
    columns = list(reversed(df.columns))[:2]
    sub = pa.schema([schema.field(c) for c in columns])
    assert [b.to_pydict() for b in source.batches(rows, columns)] == \
        [b.to_pydict() for b in _pyarrow_batches(df[columns], sub, rows)]


def test_other_dtypes_take_pyarrows_path():
    df = pd.DataFrame({"c": pd.Categorical(["a", "b", "a"]), "f": [1.0, 2.0, 3.0]})
    source = TableSource(df, "test")
    assert source._columns is None
    schema = pa.Schema.from_pandas(df, preserve_index=False)
    assert source.schema.equals(schema)
    assert [b.to_pydict() for b in source.batches(2)] == [b.to_pydict() for b in _pyarrow_batches(df, schema, 2)]


def test_columns_pyarrow_refuses_raise_its_errors():
    with pytest.raises(InvalidArgument, match=r"^INVALID_ARGUMENT: test: column 's' \(dtype object\) cannot be "
                                              r"converted: "):
        TableSource(pd.DataFrame({"f": [1.0, 2.0], "s": ["a", 1]}), "test")
    with pytest.raises(InvalidArgument, match=r"test: column 'f' \(dtype Sparse\[float64, nan\]\) cannot be converted"):
        TableSource(pd.DataFrame({"f": pd.arrays.SparseArray([0.0, 1.0])}), "test")
    with pytest.raises(pa.ArrowNotImplementedError, match="Unsupported numpy type"):
        TableSource(pd.DataFrame({"f": [1.0, 2.0], "z": np.ones(2, dtype=complex)}), "test")
    with pytest.raises(InvalidArgument, match="column names must be strings, got 3"):
        TableSource(pd.DataFrame({3: [1.0]}), "test")
