"""`strata.PushSession`: one `PushEvents` call kept open for many pushes (`Client.push_session`).

A producer that forwards small batches often (a Kafka consumer, an online service) would otherwise pay,
per `Client.push`, a new call (and, for an unpinned stream name, a lookup). A session resolves the
stream version and the node's batch limits once, opens one `PushEvents` call, and sends every later
batch on it; the node answers the batches in order, each once it is durable.

How it drives the call, as `Client.push` does: the request side is a generator that grpc's sending
thread pulls from a queue (the session puts serialized batches in it; None ends the requests: the
half-close), and the answers are read by the caller's own thread when it waits for them (`push`,
`PendingPush.result`, `flush`, `close`, or `send` waiting for room), pairing each with the oldest
message unanswered. With a `timeout`, a watchdog thread cancels the call when a wait runs out.

The node answers each batch as soon as it is durable, while it waits for the next message, so a batch
sent alone is answered without anything sent after it.
"""
from __future__ import annotations

import collections
import queue
import re
import threading
import time
from typing import TYPE_CHECKING

import grpc
import pyarrow as pa

from ._sources import TableSource
from .client import (_PUSH_IN_FLIGHT, PushResult, WriterLike, _as_writer, _idempotency_prefix, _parse_consistency,
                     _push_parts, _WritePlan)
from .definitions import RegisteredGroup
from .errors import (Cancelled, DeadlineExceeded, FailedPrecondition, Internal, InvalidArgument, StrataError,
                     Unavailable, from_rpc_error)

if TYPE_CHECKING:  # pragma: no cover
    from .client import Client

# How often the watchdog of a session with a timeout looks at the current wait, at most (seconds).
_WATCH_INTERVAL = 0.05
# Status codes by which the node refuses a batch: that batch and those after it stored nothing.
_REFUSALS = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
             grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.OUT_OF_RANGE,
             grpc.StatusCode.PERMISSION_DENIED}
# The node's account of a refused batch counts the messages of the call, copies included (a single node
# says "event batch N rejected: ...", a cluster node "event batch N: ..."): a session gives its own.
_CALL_ACCOUNT = re.compile(r"^event batch \d+(?: rejected)?: (.*) \(the \d+ earlier batches of this call, \d+ events, "
                           r"were stored and acknowledged\)$", re.S)


class _Sent:
    """A message sent and not yet answered: a batch of a `PendingPush`."""

    __slots__ = ("key", "events", "push")

    def __init__(self, key: str, events: int, push: "PendingPush | None"):
        self.key = key
        self.events = events
        self.push = push


class PendingPush:
    """The batches of one `PushSession.send`: `result()` waits for their acknowledgements and returns the
    `PushResult` (or raises the error that ended the session before they were all acknowledged);
    `done()` says whether that is known yet. Used from the session's thread, like the session."""

    def __init__(self, session: "PushSession", batches: int, first_key: int):
        self._session = session
        self.batches = batches
        self.first_key = first_key  # batch i of this push has the key <prefix>:<first_key + i>
        self.sent = 0
        self.acknowledged = 0
        self._events = 0
        self._acknowledged_events = 0
        self._late = 0
        self._duplicates = 0
        self._started = time.perf_counter()
        self._seconds = 0.0
        self._error: StrataError | None = None
        self._done = batches == 0

    def done(self) -> bool:
        return self._done

    def result(self) -> PushResult:
        """Waits (at most the session's `timeout`, which then ends the session) until every batch of this
        push is acknowledged; raises the error that ended the session before that."""
        self._session._wait_for(self)
        if self._error is not None:
            self._session._reported = True
            raise self._error
        return PushResult(self._events, self._late, self.batches, self._duplicates, self._seconds,
                          self._session.idempotency_prefix)

    def _answered(self, response, events: int) -> None:
        self.acknowledged += 1
        self._events += response.events_written
        self._acknowledged_events += events
        self._late += response.late_events
        self._duplicates += int(response.duplicate)
        if self.acknowledged == self.batches:
            self._seconds = time.perf_counter() - self._started
            self._done = True

    def __repr__(self) -> str:
        state = "failed" if self._error is not None else "done" if self._done else \
            f"{self.acknowledged} of {self.batches} batches acknowledged"
        return f"<strata.PendingPush {state}>"


class PushSession:
    """One `PushEvents` call to one node kept open for many pushes to one stream version; made by
    `Client.push_session` (see there). Use it as a context manager, or call `close()`.

    - `push(data)`: sends the events and waits until the node acknowledged every batch of them; returns
      a `PushResult`.
    - `send(data)`: sends them and returns a `PendingPush` without waiting for their answers (it waits
      only while 8 batches are unanswered); `flush()` waits for every batch sent.
    - `close()`: ends the call once the node answered every batch sent; idempotent.

    Attributes: `stream` (the `RegisteredGroup` pushed to, resolved when the session was opened),
    `address` (the node), `idempotency_prefix`; counters of the acknowledged batches `batches`,
    `events_written`, `late_events`, `duplicates`; `closed` (closed, or ended by an error: `error`).

    Thread safety: a session (and its `PendingPush`es) is used by one thread at a time; calls from
    several threads must be serialized by the caller. The node's answers are read by the thread that
    waits for them.
    """

    def __init__(self, client: "Client", stream: str, *, consistency: str | None = None, writer: WriterLike = None,
                 idempotency_prefix: str | None = None, batch_rows: int = 5000, timeout: float | None = None):
        if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
            raise InvalidArgument("batch_rows must be at least 1")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                    or not timeout > 0):
            raise InvalidArgument(f"timeout must be a positive number of seconds or None, got {timeout!r}")
        self.idempotency_prefix = _idempotency_prefix(idempotency_prefix)
        self._level = _parse_consistency(consistency)
        self._writer = _as_writer(writer)
        self._timeout = timeout
        self._client = client
        self.stream: RegisteredGroup = client._push_target(stream, timeout)
        self._batch_rows, self._max_bytes = client._batch_limits(batch_rows, timeout)
        self._address_index = client._current
        self.address = client.address
        self._plan: tuple[pa.Schema, _WritePlan] | None = None  # the plan of the last data's columns
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._pending: collections.deque[_Sent] = collections.deque()
        self._next_key = 0
        self._error: StrataError | None = None
        self._reported = False  # the error was raised to the caller
        self._closed = False
        self._over = False  # the call ended (with `_error`, or after close)
        self.batches = self.events_written = self.late_events = self.duplicates = 0
        # The watchdog's view of the current wait: its deadline (time.monotonic), and why the call was cancelled.
        self._watch_lock = threading.Lock()
        self._deadline: float | None = None
        self._cancelled: StrataError | None = None
        self._call = client._connection().push_events(self._requests(), timeout=None)
        if timeout is not None:
            threading.Thread(target=self._watch, name="strata-push-session-timeout", daemon=True).start()

    # -- the caller's side ----------------------------------------------------------------------------
    def push(self, data) -> PushResult:
        """Sends the events of `data` (what `Client.push` takes) and waits until the node acknowledged every
        batch of them (at most `timeout` seconds: then the session ends with DeadlineExceeded). Returns
        their `PushResult` (`retries` is always 0: a session does not resend)."""
        return self.send(data).result()

    def send(self, data) -> PendingPush:
        """Sends the events of `data` and returns a `PendingPush` without waiting for the answers (it waits
        only while 8 batches are unanswered). The data is checked whole first: an error in it raises
        InvalidArgument before any of it is sent, and the session stays open."""
        self._check_open()
        messages = self._encode(data)
        pending = PendingPush(self, len(messages), self._next_key)
        self._next_key += len(messages)
        deadline = self._new_deadline()
        for key, message, events in messages:
            while len(self._pending) >= _PUSH_IN_FLIGHT and not self._over:
                self._read_one(deadline)
            if self._over:
                if not pending._done:  # none of its batches was waiting for an answer when the call ended
                    pending._error = self._push_error(pending, self._error or self._closed_error(), culprit=False)
                    pending._done = True
                break
            self._pending.append(_Sent(key, events, pending))
            pending.sent += 1
            self._outbox.put(message)
        return pending

    def flush(self) -> None:
        """Waits until the node acknowledged every batch sent (at most `timeout` seconds: then the session
        ends with DeadlineExceeded). Raises the error that ended the session, if one did."""
        self._check_open()
        deadline = self._new_deadline()
        while not self._over and any(s.push is not None for s in self._pending):
            self._read_one(deadline)
        self._raise_error()

    def close(self) -> None:
        """Ends the requests (a half-close) and waits until the node answered every batch sent and ended
        the call (at most `timeout` seconds). Raises the error that ended the session if no call raised it
        yet. Closing again does nothing."""
        if self._closed:
            return
        self._closed = True
        self._outbox.put(None)
        deadline = self._new_deadline()
        while not self._over:
            self._read_one(deadline)
        self._raise_error(unreported_only=True)

    @property
    def closed(self) -> bool:
        """True once `close()` was called or an error ended the session."""
        return self._closed or self._error is not None

    @property
    def error(self) -> StrataError | None:
        """The error that ended the session, if one did (as far as the session's calls have seen)."""
        return self._error

    def __enter__(self) -> "PushSession":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        if not issubclass(exc_type, Exception):  # KeyboardInterrupt, SystemExit: do not wait for the node
            self._cancel(Cancelled(f"the push session was cancelled ({exc_type.__name__})"))
        try:
            self.close()
        except StrataError:
            pass  # the exception that left the block is the one to see

    def __repr__(self) -> str:
        state = f"ended: {self._error}" if self._error is not None else "closed" if self._closed else "open"
        return f"<strata.PushSession {self.stream.qualified_name} at {self.address}, {self.batches} batches, {state}>"

    # -- internals ------------------------------------------------------------------------------------
    def _encode(self, data) -> list[tuple[str, bytes, int]]:
        """The messages of `data`: every batch checked and serialized before any is sent."""
        source = TableSource(data, "push")
        if self._plan is not None and self._plan[0].equals(source.schema):
            plan = self._plan[1]
        else:
            plan = _WritePlan(self.stream, source.schema, self._level, self._writer)
            self._plan = (source.schema, plan)
        messages = []
        first_row = 0
        for part in _push_parts(source, plan, self._batch_rows, self._max_bytes):
            key = f"{self.idempotency_prefix}:{self._next_key + len(messages)}"
            messages.append((key, plan.push_message(key, part, first_row), part.num_rows))
            first_row += part.num_rows
        return messages

    def _requests(self):
        """The call's request messages (pulled by grpc's sending thread): what the session queues, until
        None (the half-close)."""
        while True:
            message = self._outbox.get()
            if message is None:
                return
            yield message

    def _read_one(self, deadline: float | None) -> None:
        """Reads the node's next answer and pairs it with the oldest message unanswered; or, when the call
        ends, ends the session (`_finish`). Waits at most until `deadline` (then the watchdog cancels)."""
        if self._over:
            return
        self._deadline = deadline
        try:
            response = next(self._call)
        except StopIteration:
            self._finish(None)
            return
        except grpc.RpcError as e:
            self._finish(from_rpc_error(e, self.address))
            return
        finally:
            with self._watch_lock:
                self._deadline = None
        sent = self._pending.popleft() if self._pending else None
        if sent is None or response.idempotency_key != sent.key:
            expected = f"'{sent.key}' was expected" if sent else "nothing was waiting for an answer"
            self._cancel(Internal(f"push session: the node answered batch '{response.idempotency_key}' where "
                                  f"{expected}"))
            if sent is not None:
                self._pending.appendleft(sent)
            self._finish(None)
            return
        if sent.push is not None:
            sent.push._answered(response, sent.events)
            self.batches += 1
            self.events_written += response.events_written
            self.late_events += response.late_events
            self.duplicates += int(response.duplicate)

    def _finish(self, error: StrataError | None) -> None:
        """The call ended: with `error`, or without one (after `close`, or unexpectedly)."""
        if self._cancelled is not None:
            error = self._cancelled
        elif error is None and self._pending:
            error = Internal(f"push session: the node ended the call with {len(self._pending)} batches unanswered")
        elif error is None and not self._closed:
            error = Internal("push session: the node ended the call before the session was closed")
        self._over = True
        self._outbox.put(None)  # grpc's sending thread leaves the request generator
        if error is None:
            return
        self._error = type(error)(_without_call_account(error.message), error.code, server=error.server,
                                  node=error.node, reason=error.reason)
        if isinstance(error, Unavailable) and error.node is None and self._client._current == self._address_index:
            self._client._next_address(error)
        # The push the error is about: for a refusal, that of the oldest message unanswered (the one refused;
        # none when that is a copy); otherwise that of the oldest batch unanswered.
        if error.code in _REFUSALS:
            culprit = self._pending[0].push if self._pending else None
        else:
            culprit = next((sent.push for sent in self._pending if sent.push is not None), None)
        for sent in self._pending:
            p = sent.push
            if p is None or p._done:
                continue
            p._error = self._push_error(p, self._error, culprit=p is culprit)
            p._done = True
        self._pending.clear()

    def _push_error(self, p: PendingPush, cause: StrataError, culprit: bool) -> StrataError:
        """The error a push raises when the session ended before its batches were all acknowledged: the
        cause's class; what became of the push's batches; that the session ended."""
        prefix = self.idempotency_prefix
        a, n = p.acknowledged, p.batches
        if culprit and cause.code in _REFUSALS:
            which = "the batch of this push" if n == 1 else f"batch {a + 1} of the {n} batches of this push"
            before = f"; the {a} before it ({p._acknowledged_events} events) were acknowledged and are stored" \
                if a else ""
            what = (f"the node refused {which} (key '{prefix}:{p.first_key + a}'): it and the batches sent after it "
                    f"stored nothing{before}")
            message = cause.message
        else:
            unknown = p.sent - a  # sent, not answered: the node may have stored them before the call ended
            first, last = p.first_key + a, p.first_key + p.sent - 1
            keys = f"key '{prefix}:{first}'" if first == last else f"keys '{prefix}:{first}' to '{prefix}:{last}'"
            if n == 1:
                fate = "it was not stored" if cause.code in _REFUSALS or not unknown else \
                    f"it may or may not be stored ({keys})"
                what = f"the batch of this push was not acknowledged: {fate}"
            else:
                fate = "nothing of them was stored" if cause.code in _REFUSALS or not unknown else \
                    f"{unknown} of them were sent and may or may not be stored ({keys})"
                before = f"; the {a} before them ({p._acknowledged_events} events) were acknowledged and are stored" \
                    if a else ""
                what = f"{n - a} of the {n} batches of this push were not acknowledged: {fate}{before}"
            message = cause.message if culprit else \
                f"the push session ended before this push was acknowledged: {cause.code.name}: {cause.message}"
        return type(cause)(f"{message}\npush session ended: {what}; open a new session (Client.push_session) to push "
                           "again", cause.code, server=cause.server, node=cause.node, reason=cause.reason)

    def _closed_error(self) -> StrataError:
        return FailedPrecondition(f"this push session to {self.stream.qualified_name} is closed; open a new one "
                                  "(Client.push_session)")

    def _check_open(self) -> None:
        self._raise_error()
        if self._closed:
            raise self._closed_error()

    def _raise_error(self, unreported_only: bool = False) -> None:
        """Raises the error that ended the session: itself the first time the caller hears of it, then (unless
        `unreported_only`) a FailedPrecondition saying that the session ended because of it."""
        error, reported = self._error, self._reported
        if error is None or (reported and unreported_only):
            return
        self._reported = True
        if not reported:
            raise type(error)(f"{error.message}\npush session ended; open a new session (Client.push_session) to push "
                              "again", error.code, server=error.server, node=error.node, reason=error.reason)
        raise FailedPrecondition(f"this push session to {self.stream.qualified_name} ended because of an earlier "
                                 f"error: {error.code.name}: {error.message}; open a new one "
                                 "(Client.push_session)") from error

    def _wait_for(self, p: PendingPush) -> None:
        """Reads answers until `p` is acknowledged or failed (at most `timeout`: then the session ends)."""
        if p._done:
            return
        deadline = self._new_deadline()
        while not p._done and not self._over:
            self._read_one(deadline)
        if not p._done:  # cannot happen: a push that was waiting is failed when the call ends
            p._error = self._push_error(p, self._error or self._closed_error(), culprit=False)
            p._done = True

    def _new_deadline(self) -> float | None:
        return None if self._timeout is None else time.monotonic() + self._timeout

    def _cancel(self, reason: StrataError) -> None:
        """Cancels the call; the session ends with `reason` (unless it ended already)."""
        with self._watch_lock:
            if self._cancelled is None and not self._over:
                self._cancelled = reason
        self._call.cancel()

    def _watch(self) -> None:
        """The watchdog of a session with a timeout: cancels the call when a wait runs past its deadline."""
        while not self._over:
            with self._watch_lock:
                deadline = self._deadline
                if deadline is not None and time.monotonic() >= deadline:
                    if self._cancelled is None:
                        self._cancelled = DeadlineExceeded(
                            f"the node at {self.address} did not acknowledge the batches of the push session within "
                            f"{self._timeout:g} s (timeout)")
                    self._call.cancel()
                    return
            pause = _WATCH_INTERVAL if deadline is None else \
                min(_WATCH_INTERVAL, max(0.001, deadline - time.monotonic()))
            time.sleep(pause)


def _without_call_account(message: str) -> str:
    """The node's message about a refused batch without its count of the call's messages (copies included)."""
    m = _CALL_ACCOUNT.match(message)
    return m.group(1) if m else message
