"""Refuse state-changing requests that a browser sends from another site (403).

CORS only stops a page on another site from *reading* answers; a form or a ``fetch`` with
``mode: "no-cors"`` still reaches the server, and would spend a reader's rate limit or delete
their conversation. Browsers label every request with ``Origin`` and ``Sec-Fetch-Site``, so a
POST, PUT, PATCH or DELETE is refused when:

- its ``Origin`` is neither an allowed origin nor the service's own (same host), or
- it carries ``Sec-Fetch-Site: cross-site`` and its ``Origin`` is not an allowed origin.

An allowed origin may be cross-site (the book on one domain, the API on another): the operator
listed it, so it passes. Requests without ``Origin`` (curl, server-to-server, the benchmarks)
are not from a browser page and pass. The rules follow Go's ``net/http.CrossOriginProtection``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response

STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# In development with no RAG_CORS_ORIGINS: pages served from this machine, on any port.
LOCAL_ORIGIN_REGEX = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$"


class OriginPolicy:
    """Which browser origins may use the API: an exact list, or local pages in development."""

    def __init__(self, origins: Iterable[str], *, allow_local: bool = False) -> None:
        self.origins = frozenset(origin.rstrip("/") for origin in origins)
        self.origin_regex = LOCAL_ORIGIN_REGEX if allow_local else None
        self._local = re.compile(LOCAL_ORIGIN_REGEX) if allow_local else None

    @classmethod
    def from_settings(cls, origins: list[str], *, env: str) -> OriginPolicy:
        """``RAG_CORS_ORIGINS`` as listed; when empty in development, local pages only."""
        return cls(origins, allow_local=not origins and env == "development")

    def allows(self, origin: str) -> bool:
        """Whether a page at ``origin`` may use the API."""
        if origin in self.origins:
            return True
        return bool(self._local and self._local.match(origin))


class OriginCheckMiddleware:
    """403 ``forbidden_origin`` for a state-changing request from a page on another site."""

    def __init__(self, app: ASGIApp, *, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in STATE_CHANGING_METHODS:
            headers = {k: v.decode("latin-1") for k, v in scope["headers"]}
            if not self._permitted(headers):
                response = error_response(
                    403,
                    "forbidden_origin",
                    "Requests from this site are not allowed; use the book's own pages.",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _permitted(self, headers: dict[bytes, str]) -> bool:
        origin = headers.get(b"origin")
        if origin is not None and self.policy.allows(origin):
            return True
        if headers.get(b"sec-fetch-site", "").lower() == "cross-site":
            return False
        if origin is None:
            return True
        return _same_host(origin, headers.get(b"host", ""))


def _same_host(origin: str, host: str) -> bool:
    """Whether ``origin`` names the host the request was sent to (a same-origin page)."""
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        return False
    return bool(netloc) and netloc.lower() == host.lower()


class CORSWithErrorBodyMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, answering a refused preflight with the contract's error body."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        error = error_response(
            400, "cors_refused", f"This cross-origin request is not allowed ({refused})."
        )
        error.headers.update({k: v for k, v in response.headers.items() if k.startswith("vary")})
        return error


def cors_options(policy: OriginPolicy) -> dict[str, Any]:
    """Keyword arguments of Starlette's ``CORSMiddleware`` for ``policy`` (never ``*``)."""
    return {
        "allow_origins": sorted(policy.origins),
        "allow_origin_regex": policy.origin_regex,
        "allow_methods": ["GET", "POST", "DELETE", "OPTIONS"],
        "allow_headers": ["Content-Type", "X-Request-ID", "X-API-Key"],
        "expose_headers": ["Retry-After", "X-Request-ID", "RateLimit", "RateLimit-Policy"],
        "allow_credentials": False,
        "max_age": 600,
    }
