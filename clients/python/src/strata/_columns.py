"""Column conversions between Arrow/pandas and the wire: input columns (entity ids, timestamps, feature
values) to what the messages carry, and joined/online values back to typed pandas and Arrow columns."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .definitions import DType
from .errors import InvalidArgument


class Status(enum.IntEnum):
    """How a returned value came about (the wire `ValueStatus` numbers)."""

    UNSPECIFIED = 0
    PRESENT = 1    # a stored value
    DEFAULTED = 2  # no stored value: the feature's default was returned
    MISSING = 3    # no stored value and no default: null
    EXPIRED = 4    # the row is older than the group's max age: the default (or null) was returned


STATUS_NAMES = ["UNSPECIFIED", "PRESENT", "DEFAULTED", "MISSING", "EXPIRED"]
_STATUS_CATEGORIES = pd.CategoricalDtype(["PRESENT", "DEFAULTED", "MISSING", "EXPIRED"])
_UNIT_MICROS = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}


def _unwrap(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def is_string_type(t: pa.DataType) -> bool:
    t = _unwrap(t)
    return pa.types.is_string(t) or pa.types.is_large_string(t) or (
        hasattr(pa.types, "is_string_view") and pa.types.is_string_view(t))


def is_list_type(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) or (
        hasattr(pa.types, "is_list_view") and (pa.types.is_list_view(t) or pa.types.is_large_list_view(t)))


def check_timestamp_type(t: pa.DataType, column: str) -> None:
    if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_null(t):
        return
    hint = ""
    if is_string_type(t):
        hint = f"; convert it first, e.g. df['{column}'] = pandas.to_datetime(df['{column}'], utc=True)"
    elif pa.types.is_integer(t):
        hint = (f"; convert epoch numbers first, e.g. df['{column}'] = pandas.to_datetime(df['{column}'], unit='s', "
                "utc=True)")
    raise InvalidArgument(
        f"column '{column}' has type {t}; timestamps must be datetimes (timezone-aware, or naive meaning UTC) or "
        f"dates{hint}")


def check_entity_type(t: pa.DataType, column: str) -> None:
    if is_string_type(t) or pa.types.is_integer(_unwrap(t)) or pa.types.is_null(t):
        return
    raise InvalidArgument(f"column '{column}' has type {t}; entity ids must be strings (or integers, sent as their "
                          "decimal text)")


def null_mask(arr: pa.Array) -> np.ndarray:
    """True where `arr` is null (a bool numpy array)."""
    if not arr.null_count:
        return np.zeros(len(arr), dtype=bool)
    return arr.is_null().to_numpy(zero_copy_only=False)


def _numbers(arr: pa.Array, to: pa.DataType, fill) -> np.ndarray:
    """`arr` cast to the numeric type `to` as a numpy array, `fill` where null."""
    if not arr.type.equals(to):
        arr = arr.cast(to)
    if arr.null_count:
        arr = arr.fill_null(fill)
    return arr.to_numpy(zero_copy_only=False)


def micros(arr: pa.Array, column: str) -> tuple[np.ndarray, np.ndarray]:
    """A timestamp or date column as int64 microseconds since the epoch (UTC) and a null mask."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    check_timestamp_type(t, column)
    nulls = null_mask(arr)
    if pa.types.is_null(t):
        return np.zeros(len(arr), dtype=np.int64), nulls
    if pa.types.is_date32(t):
        raw = arr.cast(pa.int32()).fill_null(0).to_numpy().astype(np.int64)
        return raw * 86_400_000_000, nulls
    if pa.types.is_date64(t):
        return arr.cast(pa.int64()).fill_null(0).to_numpy() * 1_000, nulls
    raw = _numbers(arr.view(pa.int64()), pa.int64(), 0)  # the stored numbers (what a cast to int64 gives)
    factor = _UNIT_MICROS[t.unit]
    if factor is None:
        return raw // 1_000, nulls  # floor: a time is never moved forward
    if factor == 1:
        return raw, nulls
    with np.errstate(over="raise"):
        try:
            return raw * factor, nulls
        except FloatingPointError:
            raise InvalidArgument(f"column '{column}': a timestamp is out of range") from None


def entity_ids(arr: pa.Array, column: str) -> list:
    """Entity ids as strings (None where null)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    check_entity_type(arr.type, column)
    values = arr.to_pylist()
    if pa.types.is_integer(_unwrap(arr.type)):
        values = [None if v is None else str(v) for v in values]
    return values


def check_feature_type(t: pa.DataType, dtype: DType, column: str, group: str) -> None:
    """Raises InvalidArgument if an input column of Arrow type `t` cannot be written to a feature of `dtype`."""
    if pa.types.is_null(t):
        return  # every value is null
    u = _unwrap(t)
    ok = False
    hint = ""
    if dtype.kind == "FLOAT":
        ok = (pa.types.is_floating(u) or pa.types.is_integer(u)) and not pa.types.is_dictionary(t)
        if pa.types.is_boolean(u):
            hint = f"; cast it, e.g. df['{column}'].astype('float64')"
    elif dtype.kind == "INT":
        ok = pa.types.is_integer(u) and not pa.types.is_dictionary(t)
        if pa.types.is_floating(u):
            hint = (f"; an INT feature needs an integer column: if it is float only because of missing values, use "
                    f"df['{column}'].astype('Int64') (nullable integers)")
        elif pa.types.is_boolean(u):
            hint = f"; Strata has no BOOL dtype: write 0/1, e.g. df['{column}'].astype('Int64')"
    elif dtype.kind == "STRING":
        ok = is_string_type(t)
    else:
        ok = is_list_type(u) and (pa.types.is_floating(u.value_type) or pa.types.is_integer(u.value_type)
                                  or pa.types.is_null(u.value_type))
        if not ok:
            hint = "; EMBEDDING features take a column of lists or numpy arrays of numbers"
    if not ok:
        raise InvalidArgument(f"column '{column}' has type {t}, which cannot be written to feature '{column}' of "
                              f"{group} ({dtype}){hint}")


def feature_values(arr: pa.Array, dtype: DType, column: str, first_row: int):
    """One input column as (values, has_value) for the wire encoder: FLOAT -> float64 array, INT -> int64
    array, STRING -> (utf-8 data, starts, lengths), EMBEDDING -> (rows, dim) float32 matrix. Raises
    InvalidArgument for NaN/infinite floats and embeddings of the wrong length, naming the row."""
    from ._wire import string_buffers
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n = len(arr)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    has = ~null_mask(arr)
    k = dtype.kind
    if pa.types.is_null(arr.type):
        if k == "STRING":
            return (np.zeros(0, dtype=np.uint8), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)), has
        if k == "EMBEDDING":
            return np.zeros((n, dtype.dim), dtype=np.float32), has
        return np.zeros(n, dtype=np.float64 if k == "FLOAT" else np.int64), has
    if k == "FLOAT":
        values = _numbers(arr, pa.float64(), 0.0)
        bad = has & ~np.isfinite(values)
        if bad.any():
            i = int(np.argmax(bad))
            raise InvalidArgument(f"row {first_row + i}, column '{column}': {values[i]} is not a finite number; "
                                  "NaN and infinities are rejected (write a null for 'no value')")
        return values, has
    if k == "INT":
        if pa.types.is_uint64(arr.type):
            big = pc.greater(arr, 2**63 - 1).fill_null(False).to_numpy(zero_copy_only=False)
            if np.any(big):
                i = int(np.argmax(big))
                raise InvalidArgument(f"row {first_row + i}, column '{column}': {arr[i].as_py()} is out of range for "
                                      "INT (64-bit signed integer)")
        return _numbers(arr, pa.int64(), 0), has
    if k == "STRING":
        return string_buffers(arr), has
    # EMBEDDING
    if pa.types.is_fixed_size_list(arr.type):
        lengths = np.where(has, arr.type.list_size, dtype.dim)
    else:
        lengths = pc.list_value_length(arr).fill_null(dtype.dim).to_numpy(zero_copy_only=False)
    wrong = lengths != dtype.dim
    if wrong.any():
        i = int(np.argmax(wrong))
        raise InvalidArgument(f"row {first_row + i}, column '{column}': the embedding has {lengths[i]} elements; the "
                              f"feature is {dtype}")
    flat = pc.list_flatten(arr)
    if flat.null_count:
        raise InvalidArgument(f"column '{column}': an embedding contains a null element; embeddings must be complete")
    flat_np = flat.cast(pa.float64()).to_numpy(zero_copy_only=False)
    if not np.all(np.isfinite(flat_np)):
        raise InvalidArgument(f"column '{column}': an embedding contains NaN or an infinite number")
    matrix = np.zeros((n, dtype.dim), dtype=np.float32)
    if len(flat_np) != int(has.sum()) * dtype.dim:
        raise InvalidArgument(f"column '{column}': embedding lengths do not add up (a null row with elements?)")
    matrix[has] = flat_np.astype(np.float32).reshape(-1, dtype.dim)
    return matrix, has


# ----------------------------------------------------------------------------------------------------
# Output columns
# ----------------------------------------------------------------------------------------------------

@dataclass
class ColumnData:
    """The joined (or online) values of one feature column, dense over the rows: `values` has one entry
    per row (0/""/zeros where `has_value` is False); embeddings are a (rows, dim) float32 matrix."""

    dtype: DType
    values: np.ndarray
    has_value: np.ndarray  # bool
    statuses: np.ndarray  # uint8
    event_micros: np.ndarray | None = None  # int64, 0 = no row

    @staticmethod
    def concat(parts: list["ColumnData"], dtype: DType) -> "ColumnData":
        if not parts:
            empty = ColumnData.empty(dtype)
            return empty
        if len(parts) == 1:
            return parts[0]
        ev = None
        if all(p.event_micros is not None for p in parts):
            ev = np.concatenate([p.event_micros for p in parts])
        return ColumnData(dtype, np.concatenate([p.values for p in parts]),
                          np.concatenate([p.has_value for p in parts]), np.concatenate([p.statuses for p in parts]), ev)

    @staticmethod
    def empty(dtype: DType) -> "ColumnData":
        if dtype.kind == "EMBEDDING":
            values = np.zeros((0, dtype.dim), dtype=np.float32)
        else:
            values = np.zeros(0, dtype={"FLOAT": np.float64, "INT": np.int64, "STRING": object}[dtype.kind])
        return ColumnData(dtype, values, np.zeros(0, dtype=bool), np.zeros(0, dtype=np.uint8),
                          np.zeros(0, dtype=np.int64))

    def slice(self, start: int, stop: int) -> "ColumnData":
        return ColumnData(self.dtype, self.values[start:stop], self.has_value[start:stop], self.statuses[start:stop],
                          None if self.event_micros is None else self.event_micros[start:stop])

    def __len__(self) -> int:
        return len(self.has_value)

    # pandas -------------------------------------------------------------------------------------------
    def to_pandas(self) -> pd.api.extensions.ExtensionArray | np.ndarray:
        """INT -> nullable Int64, FLOAT -> float64 (NaN where null), STRING -> pandas' string dtype (str
        on pandas 3), EMBEDDING -> object column of float32 numpy arrays (None where null)."""
        k = self.dtype.kind
        if k == "INT":
            return pd.arrays.IntegerArray(self.values.astype(np.int64, copy=False), ~self.has_value)
        if k == "FLOAT":
            out = self.values.astype(np.float64, copy=True)
            out[~self.has_value] = np.nan
            return out
        if k == "STRING":
            out = np.asarray(self.values, dtype=object).copy()
            out[~self.has_value] = None
            return pd.array(out, dtype="str" if _pandas_major() >= 3 else pd.StringDtype())
        out = np.empty(len(self), dtype=object)
        matrix = self.values
        for i in np.flatnonzero(self.has_value):
            out[i] = matrix[i]
        return out

    def status_pandas(self) -> pd.Categorical:
        names = np.array(STATUS_NAMES, dtype=object)[np.minimum(self.statuses, 4)]
        return pd.Categorical(names, dtype=_STATUS_CATEGORIES)

    def event_pandas(self) -> pd.arrays.DatetimeArray:
        ev = self.event_micros if self.event_micros is not None else np.zeros(len(self), dtype=np.int64)
        idx = pd.to_datetime(ev, unit="us", utc=True)
        idx = idx.where(ev != 0)
        return idx.array

    # arrow ----------------------------------------------------------------------------------------------
    def to_arrow(self) -> pa.Array:
        mask = ~self.has_value
        k = self.dtype.kind
        if k == "INT":
            return pa.array(self.values.astype(np.int64, copy=False), type=pa.int64(), mask=mask)
        if k == "FLOAT":
            return pa.array(self.values.astype(np.float64, copy=False), type=pa.float64(), mask=mask)
        if k == "STRING":
            return pa.array(self.values, type=pa.string(), mask=mask)
        flat = pa.array(np.ascontiguousarray(self.values, dtype=np.float32).reshape(-1), type=pa.float32())
        validity = pa.array(self.has_value, type=pa.bool_())
        arr = pa.FixedSizeListArray.from_arrays(flat, self.dtype.dim, mask=pa.compute.invert(validity))
        return arr

    def status_arrow(self) -> pa.Array:
        names = pa.array(STATUS_NAMES, type=pa.string())
        return pa.DictionaryArray.from_arrays(pa.array(np.minimum(self.statuses, 4).astype(np.int8)), names)

    def event_arrow(self) -> pa.Array:
        ev = self.event_micros if self.event_micros is not None else np.zeros(len(self), dtype=np.int64)
        return pa.array(ev, type=pa.timestamp("us", tz="UTC"), mask=ev == 0)


def _pandas_major() -> int:
    return int(pd.__version__.split(".")[0])


def joined_column(col, dtype: DType, n: int, with_events: bool) -> ColumnData:
    """Decodes one `JoinedColumn` of a batch of `n` rows, checking that every array has one entry per row."""
    statuses = np.frombuffer(col.statuses, dtype=np.uint8)
    has_value = np.frombuffer(col.value_mask, dtype=np.uint8).astype(bool)
    k = dtype.kind
    if k == "FLOAT":
        values = np.fromiter(col.float_values, dtype=np.float64, count=len(col.float_values))
    elif k == "INT":
        values = np.fromiter(col.int_values, dtype=np.int64, count=len(col.int_values))
    elif k == "STRING":
        values = np.empty(len(col.string_values), dtype=object)
        values[:] = list(col.string_values)
    else:
        flat = np.fromiter(col.embedding_values, dtype=np.float32, count=len(col.embedding_values))
        if dtype.dim == 0 or len(flat) % dtype.dim:
            raise InvalidArgument("the node sent a malformed joined batch (embedding length)")
        values = flat.reshape(-1, dtype.dim)
    if len(statuses) != n or len(has_value) != n or len(values) != n:
        raise InvalidArgument(f"the node sent a malformed joined batch ({len(statuses)} statuses, {len(has_value)} "
                              f"masks, {len(values)} values for {n} rows)")
    ev = None
    if with_events:
        ev = np.fromiter(col.event_timestamps_micros, dtype=np.int64, count=len(col.event_timestamps_micros))
        if len(ev) != n:
            raise InvalidArgument("the node sent a malformed joined batch (event timestamps)")
    return ColumnData(dtype, values, has_value, statuses, ev)


def online_column(results: list, dtype: DType) -> ColumnData:
    """One column of an online answer (`FeatureResult`s, one per entity)."""
    n = len(results)
    statuses = np.fromiter((r.status for r in results), dtype=np.uint8, count=n)
    ev = np.fromiter((r.event_timestamp_micros for r in results), dtype=np.int64, count=n)
    has_value = np.fromiter((r.value.WhichOneof("kind") is not None for r in results), dtype=bool, count=n)
    k = dtype.kind
    if k == "FLOAT":
        values = np.fromiter((r.value.float_value for r in results), dtype=np.float64, count=n)
    elif k == "INT":
        values = np.fromiter((r.value.int_value for r in results), dtype=np.int64, count=n)
    elif k == "STRING":
        values = np.empty(n, dtype=object)
        values[:] = [r.value.string_value for r in results]
    else:
        values = np.zeros((n, dtype.dim), dtype=np.float32)
        for i, r in enumerate(results):
            if has_value[i]:
                values[i] = np.asarray(r.value.embedding_value.values, dtype=np.float32)
    return ColumnData(dtype, values, has_value, statuses, ev)


def column_names(columns) -> list[str]:
    """`group:feature`, or the resolved ref `group@v:feature` where two columns would otherwise share a name
    (the CLI's rule)."""
    short = [f"{c.group}:{c.feature}" for c in columns]
    counts: dict[str, int] = {}
    for s in short:
        counts[s] = counts.get(s, 0) + 1
    return [c.ref if counts[s] > 1 else s for c, s in zip(columns, short)]
