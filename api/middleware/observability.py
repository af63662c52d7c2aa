"""HTTP metrics and the access log: one pure ASGI middleware, one JSON line per request.

The line carries the request id (this middleware sits inside ``RequestIdMiddleware``), the route
template, method, status, latency, and what the route noted with :func:`note_request`: a hash of
the session id (never the id itself), whether the answer was cached or degraded.
"""

from __future__ import annotations

import hashlib
import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass

from fastapi import Request
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.monitoring.metrics import UNMATCHED_ROUTE, Metrics

access_logger = logging.getLogger("api.access")


@dataclass
class RequestFacts:
    """What a route tells the access log about its request."""

    route: str | None = None
    session_id: str | None = None
    cached: bool | None = None
    degraded: bool | None = None


_FACTS: ContextVar[RequestFacts | None] = ContextVar("request_facts", default=None)


def note_request(
    *, session_id: str | None = None, cached: bool | None = None, degraded: bool | None = None
) -> None:
    """Record facts of the request being served for its access log line (no-op outside one)."""
    facts = _FACTS.get()
    if facts is None:
        return
    if session_id is not None:
        facts.session_id = session_id
    if cached is not None:
        facts.cached = cached
    if degraded is not None:
        facts.degraded = degraded


async def record_route(request: Request) -> None:
    """App-wide dependency: the route template (and a session id in the path) for the log.

    ``scope["route"]`` is set on the scope the router got; a middleware below this one may
    have passed a copy down, so the route itself reports back through the request's facts.
    """
    facts = _FACTS.get()
    route = request.scope.get("route")
    if facts is None or route is None:
        return
    facts.route = str(getattr(route, "path", "")) or None
    session_id = request.path_params.get("session_id")
    if session_id and facts.session_id is None:
        facts.session_id = str(session_id)


def session_hash(session_id: str | None) -> str | None:
    """First 12 hex digits of the session id's SHA-256: lines of one session can be grouped."""
    if not session_id:
        return None
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()[:12]


def route_of(scope: Scope, facts: RequestFacts) -> str:
    """The route template that served ``scope``, or ``<unmatched>``.

    In order: what :func:`record_route` reported, ``scope["route"]`` when routing saw this very
    scope, then the app's top-level routes (``/docs``, ``/openapi.json``) matched again.
    """
    if facts.route:
        return facts.route
    route_path = getattr(scope.get("route"), "path", None)
    if isinstance(route_path, str):
        return route_path
    app = scope.get("app")
    for candidate in getattr(getattr(app, "router", None), "routes", ()):
        path = getattr(candidate, "path", None)
        if isinstance(path, str) and candidate.matches(scope)[0] is not Match.NONE:
            return path
    return UNMATCHED_ROUTE


class ObservabilityMiddleware:
    """Count and time every HTTP response, and write its access log line."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server sends when the app fails before it answers
        facts = RequestFacts()
        token = _FACTS.set(facts)

        async def send_and_see(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        finally:
            _FACTS.reset(token)
            self._record(scope, facts, status, time.perf_counter() - started)

    def _record(self, scope: Scope, facts: RequestFacts, status: int, seconds: float) -> None:
        route = route_of(scope, facts)
        method = str(scope.get("method", ""))
        self.metrics.observe_request(method=method, route=route, status=status, seconds=seconds)
        access_logger.info(
            "request",
            extra={
                "session": session_hash(facts.session_id),
                "route": route,
                "method": method,
                "status": status,
                "latency_ms": round(seconds * 1000, 1),
                "cached": facts.cached,
                "degraded": facts.degraded,
            },
        )
