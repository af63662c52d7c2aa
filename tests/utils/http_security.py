"""Helpers of the HTTP security tests: the secured settings and the error-body check."""

from __future__ import annotations

from typing import Any

import pytest

from api.settings import ServiceSettings

BOOK_ORIGIN = "https://book.example"
ADMIN_KEY = "admin-key-for-tests-0123456789"
MAX_BODY_BYTES = 4096  # the body-limit tests' limit (the service default is 64 KiB)
# Generous limits: these tests are about other refusals than 429.
GENEROUS_LIMITS = {
    "rate_limit_session": "10000/minute",
    "rate_limit_address": "100000/day",
    "rate_limit_new_sessions": "10000/hour",
}


def secured_settings(
    base: ServiceSettings, tmp_path_factory: pytest.TempPathFactory, **update: Any
) -> ServiceSettings:
    """``base`` with the book's origin, an admin key and its own database."""
    db = tmp_path_factory.mktemp("security-db") / "chat.sqlite3"
    fields = {
        "database_url": f"sqlite+aiosqlite:///{db}",
        "cors_origins": [BOOK_ORIGIN],
        "admin_api_keys": [ADMIN_KEY],
        "cache_max_entries": 0,
        **{k: v for k, v in GENEROUS_LIMITS.items() if k in ServiceSettings.model_fields},
        **update,
    }
    return base.model_copy(update=fields)


def assert_error_body(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The contract's error object, with the request id the response header carries."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "request_id"}, error
    if code is not None:
        assert error["code"] == code, error
    assert error["message"]
    assert error["request_id"] == response.headers["X-Request-ID"]
    return error
