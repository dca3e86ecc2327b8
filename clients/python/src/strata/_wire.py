"""Vectorised protobuf encoding of the two big request messages: write batches (`WriteFeaturesRequest`
rows) and label chunks (`GetHistoricalFeaturesRequest` labels).

Building one protobuf object per row and per value costs microseconds each in Python; these encoders
write the same wire bytes from Arrow/numpy columns with a few numpy operations per field, whatever the
number of rows. Each field is a piece of every row (a tag, a varint, a fixed-width value, a string): an
(rows, width) byte matrix and which of its bytes each row keeps (`_Piece`). The pieces side by side are
one matrix whose kept bytes, taken row after row, are the message; long strings of uneven lengths, which
would pad that matrix, are interleaved with it instead (`_Runs`). The layout is protobuf's (fields in
number order, proto3 defaults written explicitly, which parsers accept); `tests/test_wire.py` checks that
every encoded message parses back to the message built with the protobuf classes.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_U64 = np.uint64
# The smallest value of each varint length 2..10: a value takes 1 + (how many of these it reaches) bytes.
_VARINT_STEPS = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)
_SHIFTS = np.arange(0, 70, 7, dtype=np.uint64)
# A column of byte strings goes into the rows' matrix (`_Piece`, as wide as its longest string) when the
# padding that adds is at most a quarter of the strings' bytes, or 2 KiB: short or even strings. Longer,
# uneven ones stay `_Runs`, interleaved with the rest of the rows byte by byte (cheaper than the padding).
_PADDING_SHARE = 4
_PADDING_SLACK = 2048


class _Piece:
    """One piece of every row, at most `width` bytes: row i's bytes are those of `fill` (one row for all
    rows, or an (n, width) uint8 matrix) where `keep` is True (`keep`: None = every byte, an (n,) bool
    array = all bytes of the row or none, or an (n, width) bool matrix). `lengths`: the bytes of each row
    (an int when every row has the same)."""

    __slots__ = ("width", "fill", "keep", "lengths")

    def __init__(self, width: int, fill: np.ndarray, keep: np.ndarray | None, lengths):
        self.width = width
        self.fill = fill
        self.keep = keep
        self.lengths = lengths


class _Runs:
    """Variable-length bytes of every row: `data[starts[i]:starts[i] + lengths[i]]` (`starts` None: the
    rows' bytes follow each other in `data`)."""

    __slots__ = ("data", "starts", "lengths")

    def __init__(self, data: np.ndarray, starts: np.ndarray | None, lengths):
        self.data = data
        self.starts = starts
        self.lengths = lengths

    def packed(self) -> tuple[np.ndarray, np.ndarray]:
        """(data, starts) with `data` only as long as the rows need (a string array's slice references its
        whole buffer)."""
        if self.starts is None:
            lengths = np.asarray(self.lengths)
            return self.data, np.cumsum(lengths) - lengths
        lo = int(self.starts.min())
        hi = max(lo, int((self.starts + self.lengths).max()))
        return self.data[lo:hi], self.starts - lo


def _whole(mask: np.ndarray | None) -> np.ndarray | None:
    """`mask`, or None when it is True for every row (the same bytes, fewer operations)."""
    return None if mask is None or mask.all() else mask


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _const(b: bytes, mask: np.ndarray | None) -> _Piece:
    fill = np.frombuffer(b, dtype=np.uint8)
    return _Piece(len(b), fill, mask, len(b) if mask is None else np.where(mask, len(b), 0))


def _varint(values, mask: np.ndarray | None) -> _Piece:
    """The varint of each value (an int: the same value for every row) where `mask`."""
    if isinstance(values, int):
        return _const(_varint_bytes(values), mask)
    v = values.astype(np.int64, copy=False).view(np.uint64) if values.dtype != np.uint64 else values
    if not len(v):
        return _Piece(0, np.zeros(0, dtype=np.uint8), mask, 0)
    shortest, width = len(_varint_bytes(int(v.min()))), len(_varint_bytes(int(v.max())))
    if shortest == width:  # every value takes `width` bytes
        keep, lengths = None, width
    else:
        lengths = np.searchsorted(_VARINT_STEPS, v, side="right") + 1
        keep = np.arange(width) < lengths[:, None]
    if width == 1:
        fill = v.astype(np.uint8)[:, None]
    else:
        fill = ((v[:, None] >> _SHIFTS[:width]) & _U64(0x7F)).astype(np.uint8)
        # The continuation bit: another byte follows.
        fill[:, :-1] |= np.uint8(0x80) if keep is None else keep[:, 1:].view(np.uint8) << 7
    if mask is None:
        return _Piece(width, fill, keep, lengths)
    return _Piece(width, fill, mask if keep is None else keep & mask[:, None], np.where(mask, lengths, 0))


def _fixed(matrix: np.ndarray, mask: np.ndarray | None) -> _Piece:
    """`matrix`: (rows, width) uint8, written where `mask`."""
    w = matrix.shape[1]
    return _Piece(w, matrix, mask, w if mask is None else np.where(mask, w, 0))


def _bytes(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> _Piece | _Runs:
    """Variable-length byte runs `data[starts[i]:starts[i]+lengths[i]]` (length 0 where absent): a matrix
    as wide as the longest, unless that pads them too much."""
    n = len(lengths)
    width = int(lengths.max()) if n else 0
    if not width:
        return _Piece(0, np.zeros(0, dtype=np.uint8), None, 0)
    total = int(lengths.sum())
    if n * width - total > total // _PADDING_SHARE + _PADDING_SLACK:
        return _Runs(data, starts, lengths)
    if int(lengths.min()) == width and (np.diff(starts) == width).all():  # one after the other: a view
        return _Piece(width, data[int(starts[0]):int(starts[0]) + n * width].reshape(n, width), None, width)
    index = starts[:, None] + np.arange(width)
    np.minimum(index, len(data) - 1, out=index)  # past a row's end: any byte of data, not kept
    return _Piece(width, data[index], np.arange(width) < lengths[:, None], lengths)


def _string_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data, starts, lengths) of a string array's UTF-8 bytes (integers become their decimal text)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    n = len(arr)
    if pa.types.is_string(arr.type):  # int32 offsets: read as they are (what the cast would give)
        buffers = arr.buffers()
        offsets = np.frombuffer(buffers[1], dtype=np.int32)[arr.offset:arr.offset + n + 1].astype(np.int64)
    else:
        if not pa.types.is_large_string(arr.type):
            arr = pc.cast(arr, pa.large_string())
        buffers = arr.buffers()
        offsets = np.frombuffer(buffers[1], dtype=np.int64)[arr.offset:arr.offset + n + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, dtype=np.uint8)
    lengths = np.diff(offsets)
    return data, offsets[:-1].copy(), lengths


def _sum(pieces: list) -> int | np.ndarray:
    """The bytes of each row of `pieces` (an int when every row has the same)."""
    total = 0
    for p in pieces:
        total = total + p.lengths
    return total


def _matrix(n: int, pieces: list[_Piece]) -> np.ndarray:
    """The bytes of consecutive pieces, row after row."""
    pieces = _joined(pieces)
    width = sum(p.width for p in pieces)
    fill = np.empty((n, width), dtype=np.uint8)
    keep = np.ones((n, width), dtype=bool) if any(p.keep is not None for p in pieces) else None
    a = 0
    for p in pieces:
        b = a + p.width
        if b > a:
            fill[:, a:b] = p.fill
            if p.keep is not None:
                keep[:, a:b] = p.keep if p.keep.ndim == 2 else p.keep[:, None]
        a = b
    return fill.reshape(-1) if keep is None else fill[keep]


def _joined(pieces: list[_Piece]) -> list[_Piece]:
    """`pieces` with each run of constant bytes written in every row as one piece."""
    out: list[_Piece] = []
    for p in pieces:
        if p.keep is None and p.fill.ndim == 1 and out and out[-1].keep is None and out[-1].fill.ndim == 1:
            fill = np.concatenate([out[-1].fill, p.fill])
            out[-1] = _Piece(len(fill), fill, None, len(fill))
        else:
            out.append(p)
    return out


def _assemble(n: int, pieces: list) -> bytes:
    """The bytes of every row (the pieces of row 0, then those of row 1, ...). Consecutive `_Piece`s are
    one matrix, its kept bytes taken row after row; with `_Runs` between them, the parts are interleaved
    row by row (`_interleave`)."""
    if not n:
        return b""
    parts: list = []  # lists of consecutive _Pieces, and _Runs
    for p in pieces:
        if isinstance(p, _Runs):
            parts.append(p)
        elif parts and isinstance(parts[-1], list):
            parts[-1].append(p)
        else:
            parts.append([p])
    if len(parts) == 1 and isinstance(parts[0], list):
        return _matrix(n, parts[0]).tobytes()
    runs = [p if isinstance(p, _Runs) else _Runs(_matrix(n, p), None, np.broadcast_to(_sum(p), n)) for p in parts]
    return _interleave(n, runs).tobytes()


def _interleave(n: int, runs: list[_Runs]) -> np.ndarray:
    """Row 0's bytes of each run in turn, then row 1's, ...: one gather from the runs' data, joined."""
    data, starts = [], []
    base = 0
    for r in runs:
        d, s = r.packed()
        data.append(d)
        starts.append(s + base)
        base += len(d)
    # The pieces to copy, in (row, run) order, the empty ones left out.
    lengths = np.stack([np.broadcast_to(r.lengths, n) for r in runs], axis=1).reshape(-1)
    starts = np.stack(starts, axis=1).reshape(-1)
    some = lengths > 0
    lengths, starts = lengths[some], starts[some]
    if not len(lengths):
        return np.zeros(0, dtype=np.uint8)
    # The index of each byte's source: +1 from one byte to the next, a jump where a piece begins.
    ends = np.cumsum(lengths)
    index = np.ones(int(ends[-1]), dtype=np.int64)
    index[0] = starts[0]
    index[ends[:-1]] = starts[1:] - (starts[:-1] + lengths[:-1] - 1)
    return np.concatenate(data)[np.cumsum(index, out=index)]


def _embedded(tag: bytes, content: list, mask: np.ndarray | None = None) -> list:
    """A length-delimited field: tag, varint(length of content), content."""
    return [_const(tag, mask), _varint(_sum(content), mask)] + content


# ----------------------------------------------------------------------------------------------------
# Write batches
# ----------------------------------------------------------------------------------------------------

def value_segments(kind: str, dim: int, values, has: np.ndarray, n: int) -> list:
    """The `Value` message of every row of one feature column (an empty Value where `has` is False).

    `values`: FLOAT -> float64 array; INT -> int64 array; STRING -> (data, starts, lengths);
    EMBEDDING -> (rows, dim) float32 matrix."""
    mask = _whole(has)
    if kind == "FLOAT":
        raw = np.ascontiguousarray(values, dtype="<f8").view(np.uint8).reshape(n, 8)
        content = [_const(b"\x09", mask), _fixed(raw, mask)]
    elif kind == "INT":
        content = [_const(b"\x10", mask), _varint(np.asarray(values, dtype=np.int64), mask)]
    elif kind == "STRING":
        data, starts, lengths = values
        if mask is not None:
            lengths = np.where(mask, lengths, 0)
        content = [_const(b"\x1a", mask), _varint(lengths, mask), _bytes(data, starts, lengths)]
    else:
        raw = np.ascontiguousarray(values, dtype="<f4").view(np.uint8).reshape(n, 4 * dim)
        packed = _embedded(b"\x0a", [_fixed(raw, mask)], mask)  # Embedding.values (packed floats)
        content = _embedded(b"\x22", packed, mask)  # Value.embedding_value
    return _embedded(b"\x22", content)  # WriteRow.values


def _key(entity: tuple[np.ndarray, np.ndarray, np.ndarray], times: np.ndarray) -> list:
    """Fields 1 (the entity id) and 2 (a time in microseconds) of a WriteRow or LabelRow."""
    data, starts, lengths = entity
    return [_const(b"\x0a", None), _varint(lengths, None), _bytes(data, starts, lengths), _const(b"\x10", None),
            _varint(times, None)]


def write_rows(entity: tuple[np.ndarray, np.ndarray, np.ndarray], events: np.ndarray,
               created: np.ndarray | None, created_mask: np.ndarray | None,
               values: list[list]) -> bytes:
    """The `rows` field (4) of a WriteFeaturesRequest: one WriteRow per row."""
    row = _key(entity, events)
    if created is not None:
        mask = _whole(created_mask)
        row += [_const(b"\x18", mask), _varint(created, mask)]
    for v in values:
        row += v
    return _assemble(len(events), _embedded(b"\x22", row))


# ----------------------------------------------------------------------------------------------------
# Label chunks
# ----------------------------------------------------------------------------------------------------

def label_rows(entity: tuple[np.ndarray, np.ndarray, np.ndarray], times: np.ndarray,
               known_at: np.ndarray | None = None, known_mask: np.ndarray | None = None) -> bytes:
    """The `labels` field (2) of a GetHistoricalFeaturesRequest: one LabelRow per label."""
    row = _key(entity, times)
    if known_at is not None:
        mask = _whole(known_mask)
        row += [_const(b"\x18", mask), _varint(known_at, mask)]
    return _assemble(len(times), _embedded(b"\x12", row))


string_buffers = _string_buffers
