"""Pure ASGI middleware: API bodies read as JSON whatever their declared content type."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class JsonBodyMiddleware:
    """Read API bodies as JSON whatever their declared type.

    ``curl -d '{...}'`` declares ``application/x-www-form-urlencoded``; the API takes no forms, so
    a body sent to ``/v1/`` without a JSON content type is parsed as JSON (and refused with a clear
    422 when it is not).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            declared = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
            if b"json" not in declared.lower():
                scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)
