"""Input tables as streams of Arrow record batches: pandas DataFrames (converted slice by slice), Arrow
tables and record batches, and Parquet files (read batch by batch, never the whole file)."""
from __future__ import annotations

import os
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import InvalidArgument


class TableSource:
    """`schema` (Arrow), `num_rows` (None if unknown), `batches(rows)` yields record batches of at most
    `rows` rows, in order. `pandas` is the DataFrame when the input was one."""

    def __init__(self, data, what: str):
        self.pandas: pd.DataFrame | None = None
        self.table: pa.Table | None = None
        self.parquet: pq.ParquetFile | None = None
        self.path: str | None = None
        # A DataFrame converted column by column: {name: (values, Arrow type)} (`_plain_columns`).
        self._columns: dict[str, tuple] | None = None
        if isinstance(data, pd.DataFrame):
            self.pandas = data
            names = data.columns.tolist()
            _check_column_names(names, what)
            self._columns = _plain_columns(data, names)
            if self._columns is None:
                self.schema = _pandas_schema(data, what)
            else:
                self.schema = pa.schema([pa.field(name, t) for name, (_, t) in self._columns.items()])
            self.num_rows = len(data)
        elif isinstance(data, pa.RecordBatch):
            self.table = pa.Table.from_batches([data])
            self.schema = data.schema
            self.num_rows = data.num_rows
        elif isinstance(data, pa.Table):
            self.table = data
            self.schema = data.schema
            self.num_rows = data.num_rows
        elif type(data).__module__.split(".")[0] == "polars" and hasattr(data, "to_arrow"):
            # A polars DataFrame: its Arrow form (mostly shared buffers, no copy through pandas).
            self.table = _polars_to_arrow(data)
            self.schema = self.table.schema
            self.num_rows = self.table.num_rows
        elif isinstance(data, (str, os.PathLike)):
            self.path = os.fspath(data)
            if not os.path.exists(self.path):
                raise InvalidArgument(f"{what}: file '{self.path}' does not exist")
            try:
                self.parquet = pq.ParquetFile(self.path)
            except (pa.ArrowInvalid, OSError) as e:
                raise InvalidArgument(f"{what}: '{self.path}' is not a readable Parquet file: {e}") from None
            self.schema = self.parquet.schema_arrow
            self.num_rows = self.parquet.metadata.num_rows
        else:
            hint = " (call .collect() on a polars LazyFrame first)" if type(data).__name__ == "LazyFrame" else ""
            raise InvalidArgument(f"{what}: expected a pandas or polars DataFrame, a pyarrow Table or RecordBatch, or "
                                  f"the path of a Parquet file; got {type(data).__name__}{hint}")
        names = list(self.schema.names)
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InvalidArgument(f"{what}: column '{dupes[0]}' appears more than once")

    @property
    def names(self) -> list[str]:
        return list(self.schema.names)

    def batches(self, rows: int, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        if self.pandas is not None:
            names = self.names if columns is None else columns
            schema = self.schema if columns is None else pa.schema([self.schema.field(c) for c in columns])
            for start in range(0, self.num_rows, rows):
                table = self._pandas_rows(start, min(start + rows, self.num_rows), columns, names, schema)
                yield from (b for b in table.to_batches() if b.num_rows)
        elif self.table is not None:
            t = self.table if columns is None else self.table.select(columns)
            for b in t.to_batches(max_chunksize=rows):
                if b.num_rows:
                    yield b
        else:
            # Parquet batches never cross a row group: join small ones up to `rows` rows.
            yield from _rebatch(self.parquet.iter_batches(batch_size=rows, columns=columns), rows)

    def _pandas_rows(self, start: int, stop: int, columns: list[str] | None, names: list[str],
                     schema: pa.Schema) -> pa.Table:
        """Rows start..stop-1 of the DataFrame's columns `columns` (all if None; `names`, of types `schema`)
        as a Table of one chunk per column: through a Table, as a column backed by chunked Arrow data
        (string[pyarrow], ArrowDtype) cannot go straight into a RecordBatch. Each column is converted as
        `pa.Table.from_pandas` converts it (`_plain_columns`), or by that function itself."""
        if self._columns is not None:
            try:
                whole = start == 0 and stop == self.num_rows
                arrays = [pa.array(values if whole else values[start:stop], type=t, from_pandas=True)
                          for values, t in (self._columns[n] for n in names)]
                return pa.Table.from_arrays(arrays, schema=schema).combine_chunks()
            except Exception:  # noqa: BLE001 - pyarrow's own conversion below raises the error to report
                pass
        df = self.pandas if columns is None else self.pandas[columns]
        part = df.iloc[start:stop]
        try:
            return pa.Table.from_pandas(part, schema=schema, preserve_index=False).combine_chunks()
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
            raise InvalidArgument(f"rows {start}..{start + len(part) - 1}: cannot convert the DataFrame: {e}") \
                from None


def _rebatch(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """Record batches of exactly `rows` rows (the last one may be shorter), holding at most one input batch
    beyond `rows` rows in memory."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for b in batches:
        if not b.num_rows:
            continue
        pending.append(b)
        count += b.num_rows
        while count >= rows:
            table = pa.Table.from_batches(pending)
            yield _one_batch(table.slice(0, rows))
            rest = table.slice(rows)
            pending = rest.to_batches() if rest.num_rows else []
            count -= rows
    if count:
        yield _one_batch(pa.Table.from_batches(pending))


def _one_batch(table: pa.Table) -> pa.RecordBatch:
    batches = table.combine_chunks().to_batches()
    return batches[0] if len(batches) == 1 else pa.RecordBatch.from_pylist([], schema=table.schema)


def _check_column_names(names: list, what: str) -> None:
    for c in names:
        if not isinstance(c, str):
            raise InvalidArgument(f"{what}: column names must be strings, got {c!r}")


def _plain_columns(df: pd.DataFrame, names: list[str]) -> dict[str, tuple] | None:
    """{name: (values, Arrow type)} of the columns of `df` (named `names`) when each has a dtype pyarrow
    converts plainly: `values` is what `pa.Table.from_pandas` hands to `pa.array` for the column (the
    same slice of it for a slice of the frame), the type what `pa.Schema.from_pandas` gives it. Numpy
    numbers, booleans, datetimes and durations: their array, the type of their dtype; timezone-aware
    datetimes: their UTC datetime64 array, a timestamp in their zone; objects: their array, the type
    pyarrow infers from all of it; extension arrays that convert themselves (pandas' strings and nullable
    numbers, ArrowDtype): the array, the type of its empty slice. None when a column has another dtype
    (categorical, sparse, numpy strings...), when two share a name or when pyarrow refuses a column: such
    frames take pyarrow's own path (`_pandas_schema`), which raises the error to report.

    Much cheaper for a small frame than pyarrow's own conversion (which also builds the pandas metadata
    of the schema, unused here), for the same arrays."""
    if len(set(names)) != len(names):
        return None
    items = list(df.items())
    kinds = [_plain_kind(col) for _, col in items]  # all, before any (costly) inference
    if None in kinds:
        return None
    columns = {}
    try:
        for (name, col), kind in zip(items, kinds):
            if kind == "extension":
                values = col.array
            elif kind == "datetimetz":  # as UTC datetime64 (what pyarrow takes from the column)
                values = col.to_numpy(f"datetime64[{col.dtype.unit}]")
            else:
                values = col.values
            if kind == "object":
                t = pa.array(values, from_pandas=True).type
            elif kind == "numpy":
                t = pa.from_numpy_dtype(col.dtype)
            elif kind == "datetimetz":
                t = pa.timestamp(col.dtype.unit, col.dtype.tz)
            else:
                t = pa.array(values[:0], from_pandas=True).type
            columns[name] = (values, t)
    except Exception:  # noqa: BLE001 - pyarrow's own path raises the error to report
        return None
    return columns


def _plain_kind(col: pd.Series) -> str | None:
    """How `_plain_columns` converts `col`: "numpy", "object", "datetimetz", "extension", or None."""
    dtype = col.dtype
    if isinstance(dtype, np.dtype):
        return "object" if dtype.kind == "O" else "numpy" if dtype.kind in "biufmM" else None
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "datetimetz"
    if hasattr(col.array, "__arrow_array__") and not isinstance(dtype, pd.SparseDtype):
        return "extension"
    return None


def _pandas_schema(df: pd.DataFrame, what: str) -> pa.Schema:
    try:
        return pa.Schema.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        pass
    for c in df.columns:
        try:
            pa.Schema.from_pandas(df[[c]], preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
            raise InvalidArgument(f"{what}: column '{c}' (dtype {df[c].dtype}) cannot be converted: {e}") from None
    raise InvalidArgument(f"{what}: the DataFrame cannot be converted to Arrow")


def _polars_to_arrow(df) -> pa.Table:
    table = df.to_arrow()
    if not isinstance(table, pa.Table):
        table = pa.table(table)
    # Newer Arrow layouts polars may choose (string_view) as the classic ones the encoders read.
    fields = [pa.field(f.name, pa.large_string()) if str(f.type) == "string_view" else f for f in table.schema]
    return table.cast(pa.schema(fields)) if fields != list(table.schema) else table
