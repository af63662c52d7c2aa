"""A fresh chat store per test, on SQLite and on PostgreSQL (skipped if it is down, unless CI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api.settings import ServiceSettings
from api.storage import ChatStore
from tests.utils.postgres_service import (
    POSTGRES_URL,
    create_database,
    drop_database,
    unreachable,
    with_database,
)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ChatStore]:
    """A migrated, empty store on each backend."""
    name = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{(tmp_path / 'ledger.sqlite3').as_posix()}"
    else:
        try:
            name = await create_database("rag_metrics")
        except Exception as exc:  # any failure to reach it means: skip (or fail under CI)
            unreachable(exc)
        url = with_database(POSTGRES_URL, name)
    settings = ServiceSettings(_env_file=None, data_dir=tmp_path, database_url=url)
    chat_store = ChatStore.from_settings(settings)
    try:
        await chat_store.migrate()
        yield chat_store
    finally:
        await chat_store.aclose()
        if name is not None:
            await drop_database(name)
