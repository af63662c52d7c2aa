"""The test PostgreSQL server: reach it (skip, or fail under ``RAG_REQUIRE_SERVICES=1``), and
create and drop databases of a test's own.

The server comes from ``RAG_TEST_POSTGRES_URL`` (default
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import os
import uuid

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.utils.services import require_service

POSTGRES_URL = os.environ.get(
    "RAG_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


async def admin_sql(sql: str) -> None:
    """Run one statement on the server's admin database, outside a transaction."""
    engine = create_async_engine(
        POSTGRES_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args={"timeout": 3}
    )
    try:
        async with engine.connect() as connection:
            await connection.execute(text(sql))
    finally:
        await engine.dispose()


def unreachable(exc: BaseException) -> None:
    """Skip the test because PostgreSQL did not answer; fail instead under CI."""
    where = make_url(POSTGRES_URL).render_as_string(hide_password=True)
    reason = f"PostgreSQL at {where} is unreachable: {exc!r}"
    require_service(False, reason)


async def require_postgres() -> str:
    """The admin URL once the server answers ``SELECT 1``; skips (fails under CI) otherwise."""
    try:
        await admin_sql("SELECT 1")
    except Exception as exc:  # any failure to reach it means: skip (or fail under CI)
        unreachable(exc)
    return POSTGRES_URL


def with_database(url: str, name: str) -> str:
    """``url`` pointing at the database ``name``."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def create_database(prefix: str = "rag_test") -> str:
    """The name of a new, empty database."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await admin_sql(f'CREATE DATABASE "{name}"')
    return name


async def drop_database(name: str) -> None:
    """Drop ``name``, closing its connections."""
    await admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
