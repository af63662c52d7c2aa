"""JSON log lines on stderr, secrets masked: the logging set-up every entry point shares.

The service (``api.monitoring.logs``) adds the request id; the ingest CLI uses this directly.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

from rag.safety.redaction import RedactionFilter, Redactor

#: Libraries whose INFO lines are per-call chatter (each HTTP request, each model load).
QUIET_LOGGERS = ("httpx", "httpcore", "openai", "sentence_transformers", "transformers")


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]  # generic only in typeshed
    """A stream handler that writes to whatever ``sys.stderr`` is when a record arrives.

    So a process (or a test) that swaps ``sys.stderr`` later still gets the lines.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """Ignored: the stream is always the current ``sys.stderr``."""


def json_formatter() -> JsonFormatter:
    """One JSON object per record: time, level, logger, message, then any extra fields."""
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    )


def configure_json_logging(
    level: str = "INFO",
    *,
    secrets: Iterable[str] = (),
    log_reader_text: bool = False,
    filters: Iterable[logging.Filter] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every log record (uvicorn's and Python warnings included) to stderr as JSON.

    Args:
        level: the root level (``RAG_LOG_LEVEL``).
        secrets: exact values to mask besides the built-in patterns (see ``rag.safety.redaction``).
        log_reader_text: keep the reader's question and selection in extra fields.
        filters: more filters for the handler, run before the redaction (e.g. a request id).
        stream: where to write (stderr by default).

    Returns:
        The installed handler.
    """
    handler = logging.StreamHandler(stream) if stream is not None else StderrHandler()
    handler.setFormatter(json_formatter())
    for extra in filters:
        handler.addFilter(extra)
    handler.addFilter(RedactionFilter(Redactor(secrets), log_reader_text=log_reader_text))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "py.warnings"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
        logger.setLevel(logging.NOTSET)  # follow the root level, whatever uvicorn set before
        logger.disabled = False  # a logging.config call elsewhere may have switched it off
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    logging.captureWarnings(True)  # a library's warning becomes a JSON line, not raw stderr
    if not handler.stream.isatty():
        # Model loading draws progress bars on stderr; the flag is read when the model library
        # is first imported, which the entry points do after this.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    return handler


__all__ = ["QUIET_LOGGERS", "StderrHandler", "configure_json_logging", "json_formatter"]
