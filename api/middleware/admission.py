"""Overload is an answer: a bounded admission queue in front of the answer routes.

At most ``max_in_flight`` answers run at once (per worker process); the next ``max_queued`` wait
for a slot, first come first served, for at most ``wait_s``. A request past the queue, or one
that waited ``wait_s`` without a slot, gets ``503 overloaded`` with ``Retry-After`` at once,
instead of a time-out half a minute later. A stream holds its slot until its last event is sent.
Only the answer routes are bounded: ``/readyz``, ``/healthz``, metrics and the admin API are not.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable, Collection

from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response

ANSWER_PATHS = frozenset({"/v1/chat", "/v1/chat/stream"})
RETRY_AFTER_S = 1
OVERLOADED_MESSAGE = "The service is busy; please try again in a moment."


class Admission:
    """The slots and the queue of one event loop (no locks: one loop per worker).

    Args:
        max_in_flight: answers that may run at once.
        max_queued: requests that may wait for a slot.
        wait_s: the longest a request waits in the queue.
        on_change: told ``(in_flight, queued)`` after every change (the metrics' gauges).
    """

    def __init__(
        self,
        *,
        max_in_flight: int,
        max_queued: int,
        wait_s: float,
        on_change: Callable[[int, int], None] | None = None,
    ) -> None:
        self.max_in_flight = max_in_flight
        self.max_queued = max_queued
        self.wait_s = wait_s
        self.in_flight = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._on_change = on_change or _ignore

    @property
    def queued(self) -> int:
        return len(self._waiters)

    def _changed(self) -> None:
        self._on_change(self.in_flight, self.queued)

    async def acquire(self) -> bool:
        """Take a slot, waiting in the queue if need be; False when refused (overloaded)."""
        if self.in_flight < self.max_in_flight and not self._waiters:
            self.in_flight += 1
            self._changed()
            return True
        if self.queued >= self.max_queued or self.wait_s <= 0:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._changed()
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.wait_s)
        except TimeoutError:
            pass
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot just as the client left: pass it on
            else:
                waiter.cancel()
                self._drop(waiter)
            raise
        if waiter.done() and not waiter.cancelled():
            return True  # release() handed this request its slot (in_flight unchanged)
        waiter.cancel()
        self._drop(waiter)
        return False

    def _drop(self, waiter: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)
        self._changed()

    def release(self) -> None:
        """Give the slot back: to the first request still waiting, else to the pool."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._changed()
                return
        self.in_flight -= 1
        self._changed()


def _ignore(in_flight: int, queued: int) -> None:
    del in_flight, queued


class AdmissionMiddleware:
    """Bounds the answer routes with an ``Admission``; refuses with 503 ``overloaded``.

    Args:
        admission: the slots and queue.
        on_refused: told of each refusal (the metrics' counter).
        paths: the bounded paths (POST only).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        admission: Admission,
        on_refused: Callable[[], None] | None = None,
        paths: Collection[str] = ANSWER_PATHS,
    ) -> None:
        self.app = app
        self.admission = admission
        self.on_refused = on_refused or (lambda: None)
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or scope.get("path") not in self.paths
        ):
            await self.app(scope, receive, send)
            return
        if not await self.admission.acquire():
            self.on_refused()
            response = error_response(
                503,
                "overloaded",
                OVERLOADED_MESSAGE,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.admission.release()
