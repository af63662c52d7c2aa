"""HTTPS only, behind a TLS-terminating platform: HSTS on every response, plain HTTP turned away.

The platform (Render) terminates TLS and forwards plain HTTP to the instance with
``X-Forwarded-Proto`` naming the scheme the reader used. That header is believed only from a
trusted proxy (``RAG_TRUSTED_PROXIES``): anyone else could write it. A request that reached the
proxy over ``http`` is redirected to ``https`` (GET and HEAD, 308, so nothing about the request
changes) or refused (any other method: 403 ``https_required``, since a body already crossed the
network in clear and replaying it elsewhere would hide that).

The health checks (``/healthz``, ``/readyz``) are exempt: Render sends them over plain HTTP
straight to each instance and counts a 3xx as healthy, so a redirect would hide a failing
``/readyz``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.datastructures import URL, Headers, MutableHeaders
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response
from api.security.client_address import parse_networks

HSTS = "max-age=63072000; includeSubDomains"  # two years
HEALTH_PATHS = frozenset({"/healthz", "/readyz"})
_SAFE_METHODS = frozenset({"GET", "HEAD"})
HTTPS_REQUIRED = "This service is served over HTTPS only; send the request to its https:// URL."


class HttpsOnlyMiddleware:
    """Add ``Strict-Transport-Security``; redirect or refuse what came in over plain HTTP."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        trusted_proxies: Iterable[str] = (),
        exempt_paths: Iterable[str] = HEALTH_PATHS,
    ) -> None:
        self.app = app
        self.trusted = parse_networks(trusted_proxies)
        self.exempt = frozenset(exempt_paths)

    def _forwarded_proto(self, scope: Scope) -> str | None:
        """The scheme the reader used, when a trusted proxy says so (else None)."""
        client = scope.get("client")
        if not client or not self.trusted:
            return None
        try:
            peer = ipaddress.ip_address(client[0])
        except ValueError:
            return None
        if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped:
            peer = peer.ipv4_mapped
        if not any(peer in network for network in self.trusted):
            return None
        value = Headers(scope=scope).get("x-forwarded-proto")
        if not value:
            return None
        return value.split(",")[0].strip().lower()  # the first proxy's view of the reader

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Strict-Transport-Security"] = HSTS
            await send(message)

        if scope["path"] not in self.exempt and self._forwarded_proto(scope) == "http":
            if scope["method"] in _SAFE_METHODS:
                target = URL(scope=scope).replace(scheme="https")
                response = RedirectResponse(str(target), status_code=308)
            else:
                response = error_response(403, "https_required", HTTPS_REQUIRED)
            await response(scope, receive, send_with_hsts)
            return
        await self.app(scope, receive, send_with_hsts)
