"""Database access in the logs: statement kind and duration, never parameters nor SQL text."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from api.db.session import build_engine
from api.db.statement_log import install_statement_log, statement_kind

PRIVATE_VALUE = "reader-private-text-4f1e"


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("SELECT 1", "SELECT"),
        ("  insert into t values (1)", "INSERT"),
        ("/* hint */ UPDATE t SET a = 1", "UPDATE"),
        ("-- why\nDELETE FROM t", "DELETE"),
        ("(SELECT 1) UNION (SELECT 2)", "SELECT"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "WITH"),
        ("PRAGMA journal_mode=WAL", "PRAGMA"),
        ("", "UNKNOWN"),
    ],
)
def test_statement_kind(sql: str, kind: str):
    assert statement_kind(sql) == kind


@pytest.mark.anyio
@pytest.mark.parametrize("slow_ms", [10_000.0, 0.0])
async def test_statements_are_logged_without_parameters(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, slow_ms: float
):
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path / 'log.sqlite3'}")
    install_statement_log(engine, slow_ms=slow_ms)
    caplog.set_level(logging.DEBUG, logger="api.db.statements")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE notes (body TEXT)"))
            await conn.execute(text("INSERT INTO notes VALUES (:body)"), {"body": PRIVATE_VALUE})
            await conn.execute(text("SELECT body FROM notes WHERE body = :b"), {"b": PRIVATE_VALUE})
            await conn.execute(text("DELETE FROM notes"))
            with pytest.raises(Exception, match="no such table"):
                await conn.execute(text("SELECT * FROM missing WHERE x = :x"), {"x": PRIVATE_VALUE})
    finally:
        await engine.dispose()
    records = [r for r in caplog.records if r.name == "api.db.statements"]
    kinds = [r.kind for r in records]  # type: ignore[attr-defined]  # log record extras
    assert kinds[-5:] == ["CREATE", "INSERT", "SELECT", "DELETE", "SELECT"]
    for record in records:
        assert record.duration_ms >= 0  # type: ignore[attr-defined]  # log record extras
        assert record.dialect == "sqlite"  # type: ignore[attr-defined]  # log record extras
        shown = record.getMessage() + repr(record.__dict__)
        assert PRIVATE_VALUE not in shown
        assert "notes" not in shown  # no SQL text either, only its kind
    failed = records[-1]
    assert failed.levelno == logging.WARNING
    assert failed.error == "OperationalError"  # type: ignore[attr-defined]  # log record extras
    expected = logging.INFO if slow_ms == 0 else logging.DEBUG
    assert {r.levelno for r in records[:-1]} == {expected}
    assert all(r.slow is (slow_ms == 0) for r in records[:-1])  # type: ignore[attr-defined]  # log record extras


@pytest.mark.anyio
async def test_nothing_is_formatted_when_debug_is_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path / 'quiet.sqlite3'}")
    install_statement_log(engine, slow_ms=10_000)
    caplog.set_level(logging.INFO, logger="api.db.statements")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert not [r for r in caplog.records if r.name == "api.db.statements"]
