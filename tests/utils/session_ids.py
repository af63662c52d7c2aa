"""Session ids signed as the service signs them, for tests that need one without asking."""

from __future__ import annotations

from api.security.session_ids import SessionIdSigner
from api.settings import DEV_SESSION_SECRET


def signed_session_id(label: str | None = None, *, secret: str = DEV_SESSION_SECRET) -> str:
    """A session id the service accepts: ``label`` signed (readable in tests), or a random one.

    Args:
        label: the unsigned part (letters, digits, ``_``, ``-``); random when omitted.
        secret: the service's ``RAG_SESSION_SECRET`` (the development default unless set).
    """
    signer = SessionIdSigner(secret)
    return signer.sign(label) if label else signer.issue()
