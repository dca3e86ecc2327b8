"""Typed errors. Every error the SDK raises for a failed call or for bad input is a `StrataError`.

A failed RPC becomes the subclass for its gRPC status code, carrying the server's message (`.message`)
and the code (`.code`, a `grpc.StatusCode`). Input that the SDK can reject before sending anything
(a missing column, an unsupported dtype, an invalid definition file) raises `InvalidArgument` (or
`NotFound` for a missing definition file), exactly as the server would.
"""
from __future__ import annotations

import grpc


class StrataError(Exception):
    """Base class of every Strata error. `code` is the gRPC status code, `message` the server's text."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, code: grpc.StatusCode | None = None, *, server: str | None = None,
                 node: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.server = server
        # When a node of the cluster caused the error (not the node called): its id, and the reason
        # (NODE_UNAVAILABLE, NODE_DEADLINE or NODE_ERROR), from the error's google.rpc.ErrorInfo details.
        self.node = node
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


class InvalidArgument(StrataError, ValueError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(StrataError, LookupError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(StrataError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(StrataError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(StrataError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(StrataError, ConnectionError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(StrataError, TimeoutError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Cancelled(StrataError):
    code = grpc.StatusCode.CANCELLED


class Unimplemented(StrataError):
    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(StrataError):
    code = grpc.StatusCode.INTERNAL


_BY_CODE = {
    cls.code: cls
    for cls in (InvalidArgument, NotFound, AlreadyExists, FailedPrecondition, ResourceExhausted, Unavailable,
                DeadlineExceeded, Cancelled, Unimplemented, Internal)
}


def _fields(data: bytes):
    """(field number, wire type, value) of a protobuf message: ints for varints, bytes for lengths."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, kind = key >> 3, key & 7
        if kind == 0:
            value, i = _varint(data, i)
        elif kind == 2:
            size, i = _varint(data, i)
            value, i = data[i:i + size], i + size
        elif kind == 1:
            value, i = data[i:i + 8], i + 8
        elif kind == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {kind}")
        yield number, kind, value


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def node_failure(error: grpc.RpcError) -> tuple[str, str] | None:
    """(reason, node) of the `google.rpc.ErrorInfo` (domain "strata.v1") in a failed call's
    `grpc-status-details-bin` trailer: set when a node of the cluster caused the error."""
    trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailers or ():
        if key != "grpc-status-details-bin":
            continue
        try:
            for number, kind, detail in _fields(value):  # google.rpc.Status: details = 3 (Any)
                if number != 3 or kind != 2:
                    continue
                any_fields = {n: v for n, _, v in _fields(detail)}  # Any: type_url = 1, value = 2
                if any_fields.get(1, b"").decode() != _ERROR_INFO:
                    continue
                reason = domain = None
                metadata: dict[str, str] = {}
                for n, _, v in _fields(any_fields.get(2, b"")):  # ErrorInfo: reason 1, domain 2, metadata 3
                    if n == 1:
                        reason = v.decode()
                    elif n == 2:
                        domain = v.decode()
                    elif n == 3:
                        entry = {k: x.decode() for k, _, x in _fields(v)}
                        metadata[entry.get(1, "")] = entry.get(2, "")
                if domain == "strata.v1" and reason and "node" in metadata:
                    return reason, metadata["node"]
        except (ValueError, IndexError, UnicodeDecodeError):
            return None
    return None


def from_rpc_error(error: grpc.RpcError, server: str | None = None) -> StrataError:
    """The typed error for a failed call (`grpc.RpcError` raised by grpcio)."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else None
    message = details or str(error)
    failure = node_failure(error)
    if code == grpc.StatusCode.UNAVAILABLE and server and failure is None:
        message = f"cannot reach a strata node at {server} (is `strata serve` running there?): {message}"
    cls = _BY_CODE.get(code, StrataError)
    reason, node = failure if failure else (None, None)
    return cls(message, code, server=server, node=node, reason=reason)
