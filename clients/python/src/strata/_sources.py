"""Input tables as streams of Arrow record batches: pandas DataFrames (converted slice by slice), Arrow
tables and record batches, and Parquet files (read batch by batch, never the whole file)."""
from __future__ import annotations

import os
from typing import Iterator

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
        if isinstance(data, pd.DataFrame):
            self.pandas = data
            self.schema = _pandas_schema(data, what)
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
            df = self.pandas if columns is None else self.pandas[columns]
            schema = self.schema if columns is None else pa.schema([self.schema.field(c) for c in columns])
            for start in range(0, len(df), rows):
                part = df.iloc[start:start + rows]
                try:
                    # Through a Table: a column backed by chunked Arrow data (string[pyarrow], ArrowDtype)
                    # cannot go straight into a RecordBatch.
                    table = pa.Table.from_pandas(part, schema=schema, preserve_index=False).combine_chunks()
                    yield from (b for b in table.to_batches() if b.num_rows)
                except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
                    raise InvalidArgument(f"rows {start}..{start + len(part) - 1}: cannot convert the DataFrame: {e}") \
                        from None
        elif self.table is not None:
            t = self.table if columns is None else self.table.select(columns)
            for b in t.to_batches(max_chunksize=rows):
                if b.num_rows:
                    yield b
        else:
            # Parquet batches never cross a row group: join small ones up to `rows` rows.
            yield from _rebatch(self.parquet.iter_batches(batch_size=rows, columns=columns), rows)


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


def _pandas_schema(df: pd.DataFrame, what: str) -> pa.Schema:
    for c in df.columns:
        if not isinstance(c, str):
            raise InvalidArgument(f"{what}: column names must be strings, got {c!r}")
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
