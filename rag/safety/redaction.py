"""Secrets and reader text kept out of the logs: a filter applied to every log record.

Masked wherever they appear (message, its arguments, extra fields, exception and stack text):
API keys (``sk-...`` and every key the settings hold), ``Bearer`` tokens, ``X-API-Key`` and other
``key=value`` credentials, passwords in connection URLs (``postgresql://user:***@host``,
``redis://:***@host``) and e-mail addresses. The reader's text (question, selection, comment)
is dropped from extra fields unless the operator turned ``RAG_LOG_READER_TEXT`` on.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from rag.settings import Settings

MASK = "***"
#: Extra fields that carry what a reader typed; logged only with ``RAG_LOG_READER_TEXT=true``.
READER_TEXT_FIELDS = frozenset({"question", "selected_text", "comment"})
#: Extra fields whose value is a credential whatever it looks like.
_SECRET_FIELD = re.compile(
    r"(?i)^(?:.*[_-])?(?:api[_-]?key|password|passwd|secret|token|authorization|cookie|dsn)$"
)
_KEEP_FIELDS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_DROP_FIELDS = frozenset({"color_message"})  # uvicorn's ANSI-coloured copy of the message
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host -> scheme://user:***@host (also redis://:password@host)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/?#@\s]*):[^@\s/]+@"), rf"\1:{MASK}@"),
    # Authorization: Bearer <token> / Basic <credentials>
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}"), rf"\1 {MASK}"),
    # key=value, key: value, "key": "value" for credential-like keys (X-API-Key, api_key, ...)
    (
        re.compile(
            r"(?i)((?<![A-Za-z0-9])(?:x-api-key|api[_-]?key|apikey|password|passwd|secret"
            r"|access[_-]?token|auth[_-]?token|client[_-]?secret)['\"]?\s*[:=]\s*['\"]?)"
            r"[^\s'\",;&}]+"
        ),
        rf"\1{MASK}",
    ),
    # OpenAI-style keys: sk-..., sk-proj-...
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), f"sk-{MASK}"),
    # e-mail addresses (not the user@host of a URL, which the first pattern already handled)
    (
        re.compile(
            r"(?<![\w.%+/-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
        ),
        f"{MASK}@{MASK}",
    ),
)
_MIN_SECRET_CHARS = 6  # shorter configured "secrets" would mask ordinary words


class Redactor:
    """Masks secrets in text: the patterns above plus the exact secrets it is given.

    Args:
        secrets: values to mask wherever they appear (admin keys, the LLM key, passwords).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        known = sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_CHARS}, key=len)
        self._known = re.compile("|".join(re.escape(s) for s in reversed(known))) if known else None

    def text(self, value: str) -> str:
        """``value`` with every secret masked."""
        if self._known is not None:
            value = self._known.sub(MASK, value)
        for pattern, replacement in _PATTERNS:
            value = pattern.sub(replacement, value)
        return value

    def value(self, value: Any, *, key: str | None = None) -> Any:
        """A log field's value with secrets masked (strings, and inside lists and mappings)."""
        if key is not None and _SECRET_FIELD.match(key) and value not in (None, ""):
            return MASK
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self.value(v, key=str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(v) for v in value]
        if isinstance(value, bool | int | float) or value is None:
            return value
        return self.text(str(value))  # anything else would be logged through str() anyway


class RedactionFilter(logging.Filter):
    """Mask secrets in every record; drop reader text unless it may be logged.

    Install it on the handler (a logger's filters do not see records from child loggers).
    The record is changed in place: its message is formatted and masked, its arguments cleared,
    its exception and stack rendered to masked text.

    Args:
        redactor: what to mask.
        log_reader_text: keep the fields in ``READER_TEXT_FIELDS`` (``RAG_LOG_READER_TEXT``).
    """

    def __init__(self, redactor: Redactor, *, log_reader_text: bool = False) -> None:
        super().__init__()
        self.redactor = redactor
        self.log_reader_text = log_reader_text

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, Mapping):
            record.msg = self.redactor.value(record.msg)
        else:
            try:
                message = record.getMessage()
            except (TypeError, ValueError):  # a bad format string: log it as given
                message = f"{record.msg} {record.args}"
            record.msg, record.args = self.redactor.text(message), None
        if record.exc_info:
            text = record.exc_text or "".join(traceback.format_exception(*record.exc_info))
            record.exc_text, record.exc_info = self.redactor.text(text.rstrip("\n")), None
        elif record.exc_text:
            record.exc_text = self.redactor.text(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.text(record.stack_info)
        for key in [k for k in record.__dict__ if k not in _KEEP_FIELDS]:
            if key in _DROP_FIELDS or (key in READER_TEXT_FIELDS and not self.log_reader_text):
                del record.__dict__[key]
            else:
                record.__dict__[key] = self.redactor.value(record.__dict__[key], key=key)
        return True


def url_passwords(*urls: str | None) -> list[str]:
    """The passwords written in these URLs (``scheme://user:password@host``), if any."""
    passwords = []
    for url in urls:
        password = urlsplit(url).password if url else None
        if password:
            passwords.append(password)
    return passwords


def settings_secrets(settings: Settings) -> list[str]:
    """The secrets the pipeline's settings hold: the model and Qdrant keys, URL passwords."""
    secrets = [
        secret.get_secret_value()
        for secret in (settings.llm_api_key, settings.qdrant_api_key)
        if secret is not None
    ]
    return [*secrets, *url_passwords(settings.qdrant_url)]


__all__ = [
    "MASK",
    "READER_TEXT_FIELDS",
    "RedactionFilter",
    "Redactor",
    "settings_secrets",
    "url_passwords",
]
