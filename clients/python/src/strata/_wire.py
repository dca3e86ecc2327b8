"""Vectorised protobuf encoding of the two big request messages: write batches (`WriteFeaturesRequest`
rows) and label chunks (`GetHistoricalFeaturesRequest` labels).

Building one protobuf object per row and per value costs microseconds each in Python; these encoders
write the same wire bytes from Arrow/numpy columns with a few numpy operations per field, whatever the
number of rows. The layout is protobuf's (fields in number order, proto3 defaults written explicitly,
which parsers accept); `tests/test_wire.py` checks that every encoded message parses back to the
message built with the protobuf classes.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_U64 = np.uint64


def _vlen(v: np.ndarray) -> np.ndarray:
    """Bytes of the varint of each uint64 value (1..10)."""
    n = np.ones(len(v), dtype=np.int64)
    for k in range(1, 10):
        n += v >= _U64(1 << (7 * k))
    return n


class _Segment:
    """One piece of every row: its length per row, and how to write it at given positions."""

    def __init__(self, lengths: np.ndarray, write):
        self.lengths = lengths
        self.write = write


def _const(b: bytes, mask: np.ndarray | None, n: int) -> _Segment:
    lengths = np.full(n, len(b), dtype=np.int64) if mask is None else np.where(mask, len(b), 0)

    def write(out, pos):
        p = pos if mask is None else pos[mask]
        for j, byte in enumerate(b):
            out[p + j] = byte
    return _Segment(lengths, write)


def _varint(values: np.ndarray, mask: np.ndarray | None) -> _Segment:
    v = values.astype(np.int64, copy=False).view(np.uint64) if values.dtype != np.uint64 else values
    nb = _vlen(v)
    lengths = nb if mask is None else np.where(mask, nb, 0)

    def write(out, pos):
        vv, nn, pp = (v, nb, pos) if mask is None else (v[mask], nb[mask], pos[mask])
        for j in range(10):
            m = nn > j
            if not m.any():
                break
            byte = ((vv[m] >> _U64(7 * j)) & _U64(0x7F)).astype(np.uint8)
            byte |= np.where(nn[m] - 1 > j, 0x80, 0).astype(np.uint8)
            out[pp[m] + j] = byte
    return _Segment(lengths, write)


def _fixed(matrix: np.ndarray, mask: np.ndarray | None) -> _Segment:
    """`matrix`: (rows, width) uint8, written where `mask`."""
    n, w = matrix.shape
    lengths = np.full(n, w, dtype=np.int64) if mask is None else np.where(mask, w, 0)

    def write(out, pos):
        p, m = (pos, matrix) if mask is None else (pos[mask], matrix[mask])
        if len(p):
            out[p[:, None] + np.arange(w)] = m
    return _Segment(lengths, write)


def _bytes(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> _Segment:
    """Variable-length byte runs `data[starts[i]:starts[i]+lengths[i]]` (length 0 where absent)."""
    def write(out, pos):
        total = int(lengths.sum())
        if not total:
            return
        inner = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        out[np.repeat(pos, lengths) + inner] = data[np.repeat(starts, lengths) + inner]
    return _Segment(lengths, write)


def _string_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data, starts, lengths) of a string array's UTF-8 bytes (integers become their decimal text)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    arr = pc.cast(arr, pa.large_string())
    n = len(arr)
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[arr.offset:arr.offset + n + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, dtype=np.uint8)
    lengths = np.diff(offsets)
    return data, offsets[:-1].copy(), lengths


def _assemble(n: int, segments: list[_Segment]) -> bytes:
    row_total = np.zeros(n, dtype=np.int64)
    for s in segments:
        row_total += s.lengths
    out = np.empty(int(row_total.sum()), dtype=np.uint8)
    pos = np.zeros(n, dtype=np.int64)
    if n:
        pos[1:] = np.cumsum(row_total)[:-1]
    for s in segments:
        s.write(out, pos)
        pos += s.lengths
    return out.tobytes()


def _sum(segments: list[_Segment], n: int) -> np.ndarray:
    total = np.zeros(n, dtype=np.int64)
    for s in segments:
        total += s.lengths
    return total


def _embedded(tag: bytes, content: list[_Segment], n: int, mask: np.ndarray | None = None) -> list[_Segment]:
    """A length-delimited field: tag, varint(length of content), content."""
    length = _sum(content, n)
    return [_const(tag, mask, n), _varint(length, mask)] + content


# ----------------------------------------------------------------------------------------------------
# Write batches
# ----------------------------------------------------------------------------------------------------

def value_segments(kind: str, dim: int, values, has: np.ndarray, n: int) -> list[_Segment]:
    """The `Value` message of every row of one feature column (an empty Value where `has` is False).

    `values`: FLOAT -> float64 array; INT -> int64 array; STRING -> (data, starts, lengths);
    EMBEDDING -> (rows, dim) float32 matrix."""
    if kind == "FLOAT":
        raw = np.ascontiguousarray(values, dtype="<f8").view(np.uint8).reshape(n, 8)
        content = [_const(b"\x09", has, n), _fixed(raw, has)]
    elif kind == "INT":
        content = [_const(b"\x10", has, n), _varint(np.asarray(values, dtype=np.int64), has)]
    elif kind == "STRING":
        data, starts, lengths = values
        lengths = np.where(has, lengths, 0)
        content = [_const(b"\x1a", has, n), _varint(lengths, has), _bytes(data, starts, lengths)]
    else:
        raw = np.ascontiguousarray(values, dtype="<f4").view(np.uint8).reshape(n, 4 * dim)
        packed = _embedded(b"\x0a", [_fixed(raw, has)], n, has)  # Embedding.values (packed floats)
        content = _embedded(b"\x22", packed, n, has)  # Value.embedding_value
    return _embedded(b"\x22", content, n)  # WriteRow.values


def write_rows(entity: tuple[np.ndarray, np.ndarray, np.ndarray], events: np.ndarray,
               created: np.ndarray | None, created_mask: np.ndarray | None,
               values: list[list[_Segment]]) -> bytes:
    """The `rows` field (4) of a WriteFeaturesRequest: one WriteRow per row."""
    n = len(events)
    data, starts, lengths = entity
    row = [_const(b"\x0a", None, n), _varint(lengths, None), _bytes(data, starts, lengths),
           _const(b"\x10", None, n), _varint(events, None)]
    if created is not None:
        row += [_const(b"\x18", created_mask, n), _varint(created, created_mask)]
    for v in values:
        row += v
    return _assemble(n, _embedded(b"\x22", row, n))


# ----------------------------------------------------------------------------------------------------
# Label chunks
# ----------------------------------------------------------------------------------------------------

def label_rows(entity: tuple[np.ndarray, np.ndarray, np.ndarray], times: np.ndarray,
               known_at: np.ndarray | None = None, known_mask: np.ndarray | None = None) -> bytes:
    """The `labels` field (2) of a GetHistoricalFeaturesRequest: one LabelRow per label."""
    n = len(times)
    data, starts, lengths = entity
    row = [_const(b"\x0a", None, n), _varint(lengths, None), _bytes(data, starts, lengths),
           _const(b"\x10", None, n), _varint(times, None)]
    if known_at is not None:
        row += [_const(b"\x18", known_mask, n), _varint(known_at, known_mask)]
    return _assemble(n, _embedded(b"\x12", row, n))


string_buffers = _string_buffers
