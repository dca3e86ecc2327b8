"""Pieces the offline tests share to stand in for a node."""
from __future__ import annotations

import grpc


class FakeRpcError(grpc.RpcError):
    """A gRPC error as the channel raises it: a status code and its details."""

    def __init__(self, code: grpc.StatusCode, details: str = "canned"):
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return ()
