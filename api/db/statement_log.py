"""Database access in the logs: each statement's kind and duration, never its parameters or text.

Every statement is logged at DEBUG (``RAG_LOG_LEVEL=DEBUG`` shows them); a statement slower
than ``RAG_DB_SLOW_STATEMENT_MS`` is also logged at INFO, so production logs name slow queries
without a line for every query. The SQL text is not logged either: only its first keyword.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger("api.db.statements")
_STARTED = "rag_statement_started"
_COMMENTS = re.compile(r"^(?:\s+|--[^\n]*\n?|/\*.*?\*/)*", re.DOTALL)
_KEYWORD = re.compile(r"[A-Za-z]+")


def statement_kind(statement: str) -> str:
    """The statement's first keyword, upper-case (SELECT, INSERT, ... ; WITH for a CTE)."""
    text = _COMMENTS.sub("", statement).lstrip("( \t\r\n")
    match = _KEYWORD.match(text)
    return match.group(0).upper() if match else "UNKNOWN"


def install_statement_log(engine: AsyncEngine | Engine, *, slow_ms: float = 250.0) -> None:
    """Log each statement run on ``engine`` (its sync engine, for an ``AsyncEngine``).

    Args:
        engine: the engine to watch.
        slow_ms: statements at least this slow are logged at INFO as well as DEBUG.
    """
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _before(
        conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        conn.info.setdefault(_STARTED, []).append(time.perf_counter())

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _after(
        conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        started = conn.info.get(_STARTED)
        if not started:
            return
        duration_ms = (time.perf_counter() - started.pop()) * 1000
        level = logging.INFO if duration_ms >= slow_ms else logging.DEBUG
        if not logger.isEnabledFor(level):
            return
        logger.log(
            level,
            "db statement",
            extra={
                "event": "db_statement",
                "kind": statement_kind(statement),
                "duration_ms": round(duration_ms, 2),
                "executemany": many,
                "dialect": conn.dialect.name,
                "slow": duration_ms >= slow_ms,
            },
        )

    @event.listens_for(sync_engine, "handle_error")
    def _failed(context: Any) -> None:
        conn = context.connection
        started = conn.info.get(_STARTED) if conn is not None else None
        if started:  # the statement raised: after_cursor_execute will not run for it
            duration_ms = (time.perf_counter() - started.pop()) * 1000
            logger.warning(
                "db statement failed",
                extra={
                    "event": "db_statement",
                    "kind": statement_kind(context.statement or ""),
                    "duration_ms": round(duration_ms, 2),
                    "error": type(context.original_exception).__name__,
                    "dialect": context.dialect.name,
                },
            )


__all__ = ["install_statement_log", "statement_kind"]
