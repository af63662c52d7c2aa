"""Security headers on every response: a Content-Security-Policy, no sniffing, no referrer.

API responses (JSON, event streams, metrics) get the strictest policy: nothing may load and no
page may frame them. An HTML page a route serves sets its own ``Content-Security-Policy`` (the
admin dashboard), and this middleware leaves it alone; other HTML gets a same-origin policy.

``/docs`` (Swagger UI) loads its script and stylesheet from the jsDelivr CDN and starts them
with one inline script, as FastAPI serves it; its policy allows that CDN and that one script by
hash, computed from the page being sent, so nothing else can run there (the same goes for its
``/docs/oauth2-redirect`` page). The page shows only
the public API schema; an admin key typed into "Try it out" stays in that browser tab.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HTML_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SWAGGER_CDN = "https://cdn.jsdelivr.net"
SWAGGER_FAVICON_HOST = "https://fastapi.tiangolo.com"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def docs_csp(inline_scripts: list[bytes]) -> str:
    """The policy of the Swagger UI page, allowing exactly the inline scripts it holds.

    Swagger UI sets element styles at run time, hence ``'unsafe-inline'`` for styles only.
    """
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in inline_scripts
    )
    return (
        f"default-src 'none'; script-src {SWAGGER_CDN} {hashes}; "
        f"style-src {SWAGGER_CDN} 'unsafe-inline'; img-src 'self' data: {SWAGGER_FAVICON_HOST}; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


class SecurityHeadersMiddleware:
    """Add CSP, ``X-Content-Type-Options`` and ``Referrer-Policy`` to every HTTP response."""

    def __init__(self, app: ASGIApp, *, docs_url: str | None = "/docs") -> None:
        self.app = app
        self.docs_url = docs_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if self.docs_url and (path == self.docs_url or path.startswith(f"{self.docs_url}/")):
            await self._serve_docs(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                _add_common(headers)
                if "content-security-policy" not in headers:
                    html = headers.get("content-type", "").startswith("text/html")
                    headers["Content-Security-Policy"] = HTML_CSP if html else API_CSP
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _serve_docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hold the (small) Swagger UI page until its body is known, to hash its inline script."""
        start: Message | None = None
        chunks: list[bytes] = []

        async def send_buffered(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            headers = MutableHeaders(scope=start)
            _add_common(headers)
            if headers.get("content-type", "").startswith("text/html"):
                headers["Content-Security-Policy"] = docs_csp(_INLINE_SCRIPT.findall(body))
            else:
                headers.setdefault("Content-Security-Policy", API_CSP)
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_buffered)


def _add_common(headers: MutableHeaders) -> None:
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
