"""The async engine and session factory: SQLite (aiosqlite) by default, PostgreSQL via asyncpg.

Pool sizes and timeouts are parameters because several instances share one PostgreSQL server
(Neon caps connections): each instance holds at most ``pool_size + max_overflow`` connections.
``pool_pre_ping`` replaces a connection the server dropped (idle timeout, restart, scale to zero)
before it is handed out, instead of failing the request that drew it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

# Execution option: on SQLite, open the transaction with BEGIN IMMEDIATE (take the write lock
# up front, waiting up to the busy timeout) instead of a deferred BEGIN, whose later upgrade to
# a writer fails at once with "database is locked" when another writer committed in between.
SQLITE_BEGIN_IMMEDIATE = "rag_sqlite_begin_immediate"

DEFAULT_POOL_SIZE = 5
DEFAULT_MAX_OVERFLOW = 5
DEFAULT_POOL_TIMEOUT_S = 5.0
DEFAULT_POOL_RECYCLE_S = 300.0
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_SQLITE_BUSY_TIMEOUT_S = 30.0


class StorageUnavailableError(RuntimeError):
    """The database cannot be reached or did not answer in time."""


def is_sqlite(url: str | URL) -> bool:
    """Whether ``url`` names a SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def describe_url(url: str | URL) -> str:
    """The URL with its password masked, for logs and error messages."""
    return make_url(url).render_as_string(hide_password=True)


def build_engine(
    url: str | URL,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    max_overflow: int = DEFAULT_MAX_OVERFLOW,
    pool_timeout_s: float = DEFAULT_POOL_TIMEOUT_S,
    pool_recycle_s: float = DEFAULT_POOL_RECYCLE_S,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    sqlite_busy_timeout_s: float = DEFAULT_SQLITE_BUSY_TIMEOUT_S,
    application_name: str = "textbook-rag",
) -> AsyncEngine:
    """Build the service's engine; dispose of it (``await engine.dispose()``) on shutdown.

    Args:
        url: ``sqlite+aiosqlite:///path`` or ``postgresql+asyncpg://user:pw@host/db``.
        pool_size: connections kept open per engine (per instance/worker).
        max_overflow: extra connections opened under load, closed when returned.
        pool_timeout_s: how long a request waits for a free connection before failing.
        pool_recycle_s: connections older than this are replaced (before idle server timeouts).
        connect_timeout_s: how long opening one connection may take.
        sqlite_busy_timeout_s: SQLite only: how long a writer waits for the write lock.
        application_name: PostgreSQL only: shown in ``pg_stat_activity``.
    """
    parsed = _normalise_url(make_url(url))
    options: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        options["connect_args"] = {"timeout": sqlite_busy_timeout_s}
        if _is_file_sqlite(parsed):  # :memory: uses a StaticPool, which takes no sizes
            options |= _pool_options(pool_size, max_overflow, pool_timeout_s, pool_recycle_s)
    else:
        options |= _pool_options(pool_size, max_overflow, pool_timeout_s, pool_recycle_s)
        options["connect_args"] = _postgres_connect_args(
            parsed, connect_timeout_s, application_name
        )
    engine = create_async_engine(parsed, **options)
    if parsed.get_backend_name() == "sqlite":
        _install_sqlite_hooks(engine, foreign_keys=True, busy_timeout_s=sqlite_busy_timeout_s)
    return engine


def build_migration_engine(
    url: str | URL, *, connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
) -> AsyncEngine:
    """An engine for running migrations: no pool, and on SQLite foreign keys left off.

    SQLite migrations in batch mode copy a table, drop the old one and rename the copy; with
    ``PRAGMA foreign_keys=ON`` that drop would cascade and delete the child rows.
    """
    parsed = _normalise_url(make_url(url))
    if parsed.get_backend_name() == "sqlite":
        busy = DEFAULT_SQLITE_BUSY_TIMEOUT_S
        engine = create_async_engine(parsed, poolclass=NullPool, connect_args={"timeout": busy})
        _install_sqlite_hooks(engine, foreign_keys=False, busy_timeout_s=busy)
        return engine
    connect_args = _postgres_connect_args(parsed, connect_timeout_s, "textbook-rag-migrate")
    return create_async_engine(parsed, poolclass=NullPool, connect_args=connect_args)


def build_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (no lazy reload on the event loop)."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def check_database(engine: AsyncEngine, *, timeout_s: float = 3.0) -> None:
    """Run ``SELECT 1``; raise :class:`StorageUnavailableError` on failure or after ``timeout_s``.

    For readiness probes: the message names the database (password masked) and the cause.
    """
    where = describe_url(engine.url)
    try:
        async with asyncio.timeout(timeout_s), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except TimeoutError as exc:
        raise StorageUnavailableError(
            f"database {where} did not answer within {timeout_s:g}s"
        ) from exc
    except (SQLAlchemyError, OSError) as exc:
        cause = getattr(exc, "orig", None) or exc
        raise StorageUnavailableError(
            f"database {where} is unavailable: {type(cause).__name__}: {_first_line(cause)}"
        ) from exc


def _pool_options(
    pool_size: int, max_overflow: int, pool_timeout_s: float, pool_recycle_s: float
) -> dict[str, Any]:
    return {
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_timeout": pool_timeout_s,
        "pool_recycle": pool_recycle_s,
    }


def _postgres_connect_args(
    url: URL, connect_timeout_s: float, application_name: str
) -> dict[str, Any]:
    if url.get_driver_name() != "asyncpg":
        return {}
    return {
        "timeout": connect_timeout_s,
        "server_settings": {"application_name": application_name},
    }


def _normalise_url(url: URL) -> URL:
    """Accept the libpq ``sslmode=`` that hosted PostgreSQL dashboards print (asyncpg: ``ssl=``)."""
    if url.get_driver_name() == "asyncpg" and "sslmode" in url.query:
        mode = url.query["sslmode"]
        url = url.difference_update_query(["sslmode"]).update_query_dict({"ssl": mode})
    return url


def _is_file_sqlite(url: URL) -> bool:
    database = url.database or ""
    return database not in ("", ":memory:") and "mode=memory" not in database


def _install_sqlite_hooks(
    engine: AsyncEngine, *, foreign_keys: bool, busy_timeout_s: float
) -> None:
    """WAL, foreign keys, busy timeout, and real transactions (SQLAlchemy's SQLite recipe)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (below): the driver would otherwise start
        # transactions only before DML, leaving reads and DDL outside them.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
            _enable_wal(cursor)
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(SQLITE_BEGIN_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _enable_wal(cursor: Any, attempts: int = 40) -> None:
    """Switch a SQLite file to WAL, once (the mode is stored in the file).

    Switching needs a moment of exclusive access, and SQLite answers "database is locked" at
    once, without its busy timeout, when connections race to switch a brand-new file: retry.
    """
    cursor.execute("PRAGMA journal_mode")
    if str(cursor.fetchone()[0]).lower() == "wal":
        return
    for attempt in range(attempts):
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except Exception as exc:  # the driver's OperationalError, wrapped by the async adapter
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)  # only when a new file is being created by racing connections


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else "no details"
