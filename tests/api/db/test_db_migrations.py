"""Alembic migrations on real SQLite and PostgreSQL databases, and the ``rag-migrate`` CLI."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from api.db import migrate
from api.db.migrate import (
    MigrationError,
    build_alembic_config,
    current,
    downgrade,
    head_revision,
    upgrade,
)
from api.db.models import Base
from api.db.session import build_engine
from api.settings import get_service_settings

pytestmark = pytest.mark.anyio

APP_TABLES = {"chat_sessions", "messages", "feedback"}


async def _tables(url: str) -> set[str]:
    engine = build_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_upgrade_from_empty_and_downgrade_to_empty(empty_db_url: str) -> None:
    assert await current(empty_db_url) is None
    assert await upgrade(empty_db_url) == head_revision()
    assert await _tables(empty_db_url) == APP_TABLES | {"alembic_version"}
    assert await upgrade(empty_db_url) == head_revision()  # a second run changes nothing

    assert await downgrade(empty_db_url) is None
    assert await _tables(empty_db_url) - {"alembic_version"} == set()
    assert await current(empty_db_url) is None


async def test_models_match_the_migrations(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert await connection.run_sync(_diff) == []


async def test_concurrent_upgrades_migrate_once(empty_db_url: str) -> None:
    """Several instances starting together: one migrates, the others find nothing to do."""
    results: list[str | None] = []

    async def start() -> None:
        results.append(await upgrade(empty_db_url))

    async with anyio.create_task_group() as tasks:
        for _ in range(4):
            tasks.start_soon(start)
    assert results == [head_revision()] * 4
    assert await _tables(empty_db_url) == APP_TABLES | {"alembic_version"}


async def test_unknown_revision_is_a_migration_error(empty_db_url: str) -> None:
    with pytest.raises(MigrationError, match="nope"):
        await upgrade(empty_db_url, "nope")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_unreachable_database_is_a_migration_error() -> None:
    url = f"postgresql+asyncpg://rag:secret@127.0.0.1:{_closed_port()}/rag"
    with pytest.raises(MigrationError, match=r"127\.0\.0\.1") as caught:
        await upgrade(url, connect_timeout_s=2)
    assert "secret" not in str(caught.value)


@pytest.fixture
def _restore_logging() -> Iterator[None]:
    """``main()`` configures the root logger (JSON to stderr); undo it after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("_restore_logging")
class TestCli:
    """``rag-migrate`` as a release step runs it: argument handling, output, exit codes."""

    @pytest.fixture
    def database(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
        path = tmp_path / "data" / "rag.sqlite3"  # the folder does not exist yet
        monkeypatch.setenv("RAG_DATABASE_URL", f"sqlite+aiosqlite:///{path.as_posix()}")
        get_service_settings.cache_clear()
        yield path
        get_service_settings.cache_clear()

    @pytest.mark.usefixtures("database")
    def test_upgrade_current_downgrade(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert migrate.main(["upgrade"]) == 0
        assert f"from base (empty) to {head_revision()}" in capsys.readouterr().out
        assert migrate.main([]) == 0  # upgrade is the default
        assert "nothing to do" in capsys.readouterr().out
        assert migrate.main(["current"]) == 0
        assert f"is at {head_revision()}" in capsys.readouterr().out
        assert migrate.main(["downgrade", "base"]) == 0
        assert f"from {head_revision()} to base (empty)" in capsys.readouterr().out

    @pytest.mark.usefixtures("database")
    def test_downgrade_needs_a_revision(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as exited:
            migrate.main(["downgrade"])
        assert exited.value.code == 2
        assert "downgrade needs a REVISION" in capsys.readouterr().err

    def test_help(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as exited:
            migrate.main(["--help"])
        assert exited.value.code == 0
        assert "upgrade" in capsys.readouterr().out

    def test_unreachable_database_exits_1(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        url = f"postgresql+asyncpg://rag:secret@127.0.0.1:{_closed_port()}/rag"
        monkeypatch.setenv("RAG_DATABASE_URL", url)
        get_service_settings.cache_clear()
        try:
            assert migrate.main(["upgrade"]) == 1
        finally:
            get_service_settings.cache_clear()
        err = capsys.readouterr().err
        assert err.startswith("rag-migrate: error: database postgresql+asyncpg://rag:***@127.0.0.1")
        assert "secret" not in err


@pytest.mark.usefixtures("_restore_logging")
def test_unopenable_sqlite_file_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAG_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path.as_posix()}")  # a dir
    get_service_settings.cache_clear()
    try:
        assert migrate.main(["current"]) == 1
    finally:
        get_service_settings.cache_clear()
    assert "unable to open database file" in capsys.readouterr().err


def test_env_py_also_runs_under_the_plain_alembic_command(tmp_path: Path) -> None:
    """Without a connection passed in, env.py opens its own engine (``alembic upgrade head``)."""
    url = f"sqlite+aiosqlite:///{(tmp_path / 'rag.sqlite3').as_posix()}"
    config = build_alembic_config(url)
    command.upgrade(config, "head")
    assert asyncio.run(current(url)) == head_revision()
    command.downgrade(config, "base")
    assert asyncio.run(current(url)) is None


def test_offline_mode_prints_the_postgres_ddl(capsys: pytest.CaptureFixture[str]) -> None:
    """``--sql`` output, for a DBA to review a release's DDL before it runs."""
    command.upgrade(build_alembic_config("postgresql+asyncpg://rag@db/rag"), "head", sql=True)
    ddl = capsys.readouterr().out
    assert "CREATE TABLE messages" in ddl
    assert "sources JSONB NOT NULL" in ddl
    assert "ON DELETE CASCADE" in ddl
