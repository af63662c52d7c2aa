"""Session ids issued and signed by the service: ``<random>.<signature>``.

The per-session rate limit only means something if a client cannot make up new sessions at will,
so the service mints every session id and signs it (HMAC-SHA256 with ``RAG_SESSION_SECRET``,
truncated to 128 bits). A session id that does not verify (made up, altered, or signed with a
previous secret) is refused with 400 ``invalid_session``; the reader starts a new conversation by
sending the question without ``session_id``. A refusal rather than a silently minted id, so a
client bug or a tampered id is visible instead of quietly dropping the conversation's history.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Annotated

from fastapi import Path, Request

from api.errors import ServiceError

SESSION_ID_PATTERN = r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)?$"
SESSION_ID_MAX_LENGTH = 64
_RANDOM_BYTES = 16
_SIGNATURE_BYTES = 16
_CONTEXT = b"rag-session-id-v1:"
INVALID_SESSION_MESSAGE = (
    "This session_id was not issued by this service (or has expired with a change of secret); "
    "send the question without session_id to start a new conversation."
)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class SessionIdSigner:
    """Mint and verify signed session ids."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("the session secret is empty")
        self._key = secret.encode("utf-8")

    def _signature(self, random_part: str) -> str:
        digest = hmac.new(self._key, _CONTEXT + random_part.encode("ascii"), hashlib.sha256)
        return _b64(digest.digest()[:_SIGNATURE_BYTES])

    def issue(self) -> str:
        """A new session id (45 characters, URL-safe)."""
        return self.sign(_b64(secrets.token_bytes(_RANDOM_BYTES)))

    def sign(self, random_part: str) -> str:
        """``random_part`` with its signature appended (``issue`` passes 128 random bits)."""
        if not random_part or not re.fullmatch(r"[A-Za-z0-9_-]+", random_part):
            raise ValueError("the unsigned part must be 1 or more of A-Z a-z 0-9 _ -")
        return f"{random_part}.{self._signature(random_part)}"

    def verify(self, session_id: str) -> bool:
        """True when ``session_id`` was issued with this secret (constant-time comparison)."""
        random_part, dot, signature = session_id.partition(".")
        if not (dot and random_part and random_part.isascii() and signature.isascii()):
            return False
        return hmac.compare_digest(signature, self._signature(random_part))


def refuse_invalid_session() -> ServiceError:
    """The error for a session id that does not verify."""
    return ServiceError(400, "invalid_session", INVALID_SESSION_MESSAGE)


def verified_session_id(
    request: Request,
    session_id: Annotated[str, Path(max_length=SESSION_ID_MAX_LENGTH, pattern=SESSION_ID_PATTERN)],
) -> str:
    """The ``{session_id}`` of the path, refused with 400 unless this service signed it."""
    signer: SessionIdSigner = request.state.session_ids
    if not signer.verify(session_id):
        raise refuse_invalid_session()
    return session_id
