"""The engine: SQLite pragmas, pool settings, readiness checks and dropped connections."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from api.db.session import StorageUnavailableError, build_engine, check_database

pytestmark = pytest.mark.anyio


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_check_database_passes_on_a_live_database(engine: AsyncEngine) -> None:
    await check_database(engine)


async def test_check_database_fails_fast_and_clearly_when_unreachable() -> None:
    url = f"postgresql+asyncpg://rag:secret@127.0.0.1:{_closed_port()}/rag"
    engine = build_engine(url, connect_timeout_s=1)
    try:
        started = time.monotonic()
        with pytest.raises(StorageUnavailableError, match="is unavailable") as caught:
            await check_database(engine, timeout_s=2)
        assert time.monotonic() - started < 2
    finally:
        await engine.dispose()
    message = str(caught.value)
    assert f"127.0.0.1:{engine.url.port}" in message
    assert "secret" not in message


async def test_check_database_times_out_on_a_silent_server() -> None:
    """A server that accepts the connection but never answers (a hung proxy)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        engine = build_engine(f"postgresql+asyncpg://rag@127.0.0.1:{port}/rag", connect_timeout_s=5)
        try:
            started = time.monotonic()
            with pytest.raises(StorageUnavailableError, match=r"did not answer within 0\.5s"):
                await check_database(engine, timeout_s=0.5)
            assert time.monotonic() - started < 2
        finally:
            await engine.dispose()


async def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        async with engine.connect() as connection:
            pragmas = {
                name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
    finally:
        await engine.dispose()
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30_000}


@pytest.mark.postgres
async def test_postgres_pool_is_sized_by_the_settings(postgres_db_url: str) -> None:
    engine = build_engine(postgres_db_url, pool_size=2, max_overflow=1, pool_timeout_s=0.5)
    try:
        assert (engine.pool.size(), engine.pool.timeout()) == (2, 0.5)  # type: ignore[attr-defined]  # a QueuePool on PostgreSQL
        async with engine.connect() as c1, engine.connect(), engine.connect():
            name = await c1.scalar(text("SELECT current_setting('application_name')"))
            assert name == "textbook-rag"
            started = time.monotonic()
            with pytest.raises(PoolTimeoutError):  # a 4th waits pool_timeout_s, then fails
                async with engine.connect():
                    pass
            assert 0.4 < time.monotonic() - started < 2
    finally:
        await engine.dispose()


@pytest.fixture
async def admin_engine(postgres_db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(postgres_db_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_pre_ping_replaces_a_connection_the_server_dropped(
    postgres_db_url: str, admin_engine: AsyncEngine
) -> None:
    engine = build_engine(postgres_db_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            first_pid = await connection.scalar(text("SELECT pg_backend_pid()"))
        # the connection is back in the pool; the server kills it (restart, idle timeout)
        async with admin_engine.connect() as admin:
            killed = await admin.scalar(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid}
            )
        assert killed is True
        async with engine.connect() as connection:  # no error: the dead one was replaced
            second_pid = await connection.scalar(text("SELECT pg_backend_pid()"))
        assert second_pid != first_pid
        await check_database(engine)
    finally:
        await engine.dispose()


def test_libpq_sslmode_is_translated_for_asyncpg() -> None:
    engine = build_engine("postgresql+asyncpg://rag@db.example.com/rag?sslmode=require")
    assert dict(engine.url.query) == {"ssl": "require"}
    engine.sync_engine.dispose()
