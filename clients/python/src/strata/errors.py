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

    def __init__(self, message: str, code: grpc.StatusCode | None = None, *, server: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.server = server

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


def from_rpc_error(error: grpc.RpcError, server: str | None = None) -> StrataError:
    """The typed error for a failed call (`grpc.RpcError` raised by grpcio)."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else None
    message = details or str(error)
    if code == grpc.StatusCode.UNAVAILABLE and server and "cluster node " not in message:
        message = f"cannot reach a strata node at {server} (is `strata serve` running there?): {message}"
    cls = _BY_CODE.get(code, StrataError)
    return cls(message, code, server=server)
