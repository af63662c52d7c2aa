"""Database fixtures: a fresh, isolated database per test on SQLite and on PostgreSQL.

Each backend is migrated once per run: SQLite into a template file that each test copies,
PostgreSQL into one database whose tables are emptied before each test (``TRUNCATE`` takes
milliseconds; ``CREATE DATABASE ... TEMPLATE`` about 0.3 s). Migration tests get a new empty
database of their own, dropped afterwards. PostgreSQL comes from
``RAG_TEST_POSTGRES_URL`` (default: ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``); when it
is unreachable its tests skip, naming it, unless ``RAG_REQUIRE_SERVICES=1``, where they fail.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from api.db.migrate import upgrade
from api.db.models import Base
from api.db.session import build_engine, build_session_factory
from tests.utils.postgres_service import (
    create_database,
    drop_database,
    require_postgres,
    with_database,
)

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path.as_posix()}"


@pytest.fixture(scope="session")
async def postgres_server(anyio_backend: str) -> str:
    """The admin URL of the test PostgreSQL server, after checking it answers."""
    return await require_postgres()


@pytest.fixture(scope="session")
async def postgres_database(postgres_server: str) -> AsyncIterator[str]:
    """The URL of a PostgreSQL database migrated to head, shared by the run's tests."""
    name = await create_database()
    try:
        url = with_database(postgres_server, name)
        await upgrade(url)
        yield url
    finally:
        await drop_database(name)


async def empty_tables(url: str) -> None:
    """Delete every row of the app's tables (not the schema, not ``alembic_version``)."""
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            # A test that leaked an open transaction fails here, instead of hanging the run.
            await connection.execute(text("SET LOCAL lock_timeout = '5s'"))
            await connection.execute(text(f"TRUNCATE {tables}"))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory, anyio_backend: str) -> Path:
    """A SQLite file migrated to head, copied for each test."""
    path = tmp_path_factory.mktemp("db-template") / "template.sqlite3"
    await upgrade(sqlite_url(path))
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend under test ("sqlite" or "postgresql")."""
    return request.param


@pytest.fixture
def _migrated(backend: str, request: pytest.FixtureRequest) -> str | Path:
    # Resolved here, in a synchronous fixture, so only the backend in use is set up.
    if backend == "postgresql":
        return request.getfixturevalue("postgres_database")
    return request.getfixturevalue("sqlite_template")


@pytest.fixture
def _server(backend: str, request: pytest.FixtureRequest) -> str | None:
    if backend == "postgresql":
        return request.getfixturevalue("postgres_server")
    return None


@pytest.fixture
async def empty_db_url(backend: str, _server: str | None, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a new, empty database."""
    if _server is None:
        yield sqlite_url(tmp_path / "empty.sqlite3")
        return
    name = await create_database()
    try:
        yield with_database(_server, name)
    finally:
        await drop_database(name)


@pytest.fixture
async def db_url(backend: str, _migrated: str | Path, tmp_path: Path) -> str:
    """The URL of a database migrated to head, with empty tables."""
    if isinstance(_migrated, Path):
        copy = tmp_path / "rag.sqlite3"
        shutil.copyfile(_migrated, copy)
        return sqlite_url(copy)
    await empty_tables(_migrated)
    return _migrated


@pytest.fixture
async def postgres_db_url(postgres_database: str) -> str:
    """A PostgreSQL database migrated to head, with empty tables (PostgreSQL-only tests)."""
    await empty_tables(postgres_database)
    return postgres_database


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """The service's engine on a fresh migrated database, with the default pool settings."""
    engine = build_engine(db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return build_session_factory(engine)


@pytest.fixture
async def session(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with session_factory() as session:
        yield session
