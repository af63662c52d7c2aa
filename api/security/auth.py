"""Admin API keys: ``X-API-Key`` on every admin route, keys held only as SHA-256 digests."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from api.errors import ServiceError

API_KEY_HEADER = "X-API-Key"
_scheme = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="An admin API key.")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class AdminKeys:
    """The configured admin keys, kept as digests and compared in constant time."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = tuple(_digest(key) for key in keys if key)

    def __bool__(self) -> bool:
        return bool(self._digests)

    def accepts(self, presented: str | None) -> bool:
        """True when ``presented`` is one of the keys (every key is compared, always)."""
        if not presented:
            return False
        candidate = _digest(presented)
        matched = False
        for digest in self._digests:
            matched |= hmac.compare_digest(candidate, digest)
        return matched


def require_admin(
    request: Request, api_key: Annotated[str | None, Depends(_scheme)] = None
) -> None:
    """Refuse a request without a valid admin key (401; no key configured refuses everyone)."""
    keys: AdminKeys = request.state.admin_keys
    if not keys.accepts(api_key):
        raise ServiceError(
            401, "unauthorized", f"This endpoint needs a valid admin key in {API_KEY_HEADER}."
        )
