"""One error shape for every failure: ``{"error": {"code", "message", "request_id"}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.db.session import StorageUnavailableError
from api.middleware.request_id import current_request_id

logger = logging.getLogger(__name__)
STORAGE_RETRY_AFTER_S = 5

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}
# Friendlier words than "String should match pattern '...'", by field name.
_PATTERN_HINTS = {
    "question": "must contain some text",
    "page_url": "must be an http(s) URL or a path starting with '/'",
    "session_id": "may contain only letters, digits, '-' and '_'",
    "message_id": "may contain only letters, digits, '-' and '_'",
    "version": "must be a version name from the site's versions.json, or 'current'",
    "locale": "must be a locale code such as 'en' or 'pt-BR'",
}
INTERNAL_ERROR_MESSAGE = "Something went wrong on our side."
_FASTAPI_BODY_NOT_PARSED = "There was an error parsing the body"  # FastAPI's 400 for such bodies


class ServiceError(Exception):
    """An expected failure with a status, a stable code and a message for the reader."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The contract's error body."""
    body = {"error": {"code": code, "message": message, "request_id": current_request_id()}}
    return JSONResponse(body, status_code=status, headers=headers)


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        where = ".".join(loc)
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if err.get("type") == "string_pattern_mismatch":
            msg = _PATTERN_HINTS.get(loc[-1] if loc else "", "does not have the expected form")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts) or "the request body is not valid"


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to the contract's error body, never showing internals."""

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return error_response(exc.status, exc.code, exc.message, headers)

    @app.exception_handler(StorageUnavailableError)
    async def _storage_error(request: Request, exc: StorageUnavailableError) -> JSONResponse:
        logger.warning("storage unavailable: %s", exc)
        return error_response(
            503,
            "storage_unavailable",
            "Conversations cannot be stored right now; please try again in a moment.",
            {"Retry-After": str(STORAGE_RETRY_AFTER_S)},
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", _describe(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _FASTAPI_BODY_NOT_PARSED:
            # A body that is not UTF-8 text: as invalid as any other body that is not JSON.
            return error_response(422, "invalid_request", "The request body is not valid JSON.")
        code = _CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(exc.status_code, code, message, getattr(exc, "headers", None))

    # ErrorMiddleware answers crashes inside the request-id middleware; this handler (run by
    # Starlette's outermost ServerErrorMiddleware) covers only the middleware outside it.
    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s", request.url.path)
        return error_response(500, "internal_error", INTERNAL_ERROR_MESSAGE)


class ErrorMiddleware:
    """Answer any exception the app lets escape with the contract's 500 body and request id.

    Pure ASGI, placed inside ``RequestIdMiddleware`` so the id is still known. The traceback goes
    to the log only. When the response had already started (a stream), nothing more can be said
    to the client: the exception is re-raised so the server drops the connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception:
            logger.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            response = error_response(500, "internal_error", INTERNAL_ERROR_MESSAGE)
            await response(scope, receive, send)
