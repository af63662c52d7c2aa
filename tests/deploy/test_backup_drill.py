"""The restore drill on the real PostgreSQL: conversations and feedback written through the API,
``deploy/backup.sh``, ``deploy/restore.sh`` into a fresh database and an empty index folder,
then identical row counts and content checksums and the same top-5 sources for 20 questions."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from qdrant_client import QdrantClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from api.app import create_app
from api.settings import ServiceSettings
from rag.engine import build_qa
from rag.retrieval.embeddings import LocalEmbedding
from tests.utils.postgres_service import (
    create_database,
    drop_database,
    require_postgres,
    with_database,
)
from tests.utils.services import require_service

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
TABLES = ("alembic_version", "chat_sessions", "messages", "feedback")
QUESTIONS = [
    json.loads(line)["question"]
    for line in (ROOT / "sample_book/qa.jsonl").read_text().splitlines()
    if line.strip()
][:20]


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    tools = ("pg_dump", "pg_restore", "psql", "flock", "tar")
    missing = [tool for tool in tools if shutil.which(tool) is None]
    require_service(not missing, f"{', '.join(missing)} not found (Debian: postgresql-client)")
    admin = asyncio.run(require_postgres())
    names = [asyncio.run(create_database("rag_backup")) for _ in range(2)]
    try:
        yield with_database(admin, names[0]), with_database(admin, names[1])
    finally:
        for name in names:
            asyncio.run(drop_database(name))


async def table_digests(url: str) -> dict[str, tuple[int, str]]:
    """Rows and an md5 of every row's text, in a stable order, per table."""
    engine = create_async_engine(url, poolclass=NullPool)
    digests = {}
    try:
        async with engine.connect() as conn:
            for table in TABLES:
                row = (
                    await conn.execute(
                        text(
                            f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' "  # noqa: S608
                            f"ORDER BY t::text)), '') FROM {table} t"
                        )
                    )
                ).one()
                digests[table] = (int(row[0]), str(row[1]))
    finally:
        await engine.dispose()
    return digests


def top5(settings: ServiceSettings, embed_model: LocalEmbedding) -> list[list[str]]:
    client = QdrantClient(path=str(settings.qdrant_path))
    try:
        qa = build_qa(settings, client=client, embed_model=embed_model)

        async def run() -> list[list[str]]:
            found = []
            for question in QUESTIONS:
                nodes = await qa.retrieve(question)
                found.append([n.node.node_id for n in nodes[:5]])
            await qa.aclose()
            return found

        return asyncio.run(run())
    finally:
        client.close()


def script(name: str, *args: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(DEPLOY / name), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done, time.monotonic() - started


def test_backup_then_restore_gives_the_same_rows_and_the_same_sources(
    sample_index: ServiceSettings,
    embed_model: LocalEmbedding,
    tmp_path: Path,
    databases: tuple[str, str],
):
    source_url, target_url = databases
    data_dir = tmp_path / "data"
    shutil.copytree(sample_index.qdrant_path, data_dir / "qdrant")  # the service's own index
    settings = sample_index.model_copy(
        update={
            "data_dir": data_dir,
            "database_url": source_url,
            "rate_limit_session": "1000/minute",
            "rate_limit_new_sessions": "1000/hour",
            "cache_max_entries": 0,
        }
    )
    with TestClient(create_app(settings, embed_model=embed_model)) as client:
        for i, question in enumerate(QUESTIONS[:6]):
            first = client.post("/v1/chat", json={"question": question})
            assert first.status_code == 200, first.text
            session = first.json()["session_id"]
            follow = client.post(
                "/v1/chat", json={"question": "Can you say more?", "session_id": session}
            )
            assert follow.status_code == 200, follow.text
            rating = {"rating": "up" if i % 2 else "down", "comment": f"comment {i}"}
            fb = client.post(f"/v1/messages/{first.json()['message_id']}/feedback", json=rating)
            assert fb.status_code in (200, 201), fb.text
    before = asyncio.run(table_digests(source_url))
    assert before["messages"][0] == 24
    assert before["feedback"][0] == 6

    backups = tmp_path / "backups"
    backups.mkdir()
    stale = backups / "rag-db-20000101T000000Z.dump"
    stale.write_bytes(b"old")
    os.utime(stale, (time.time() - 20 * 86400,) * 2)
    env = {"RAG_DATABASE_URL": source_url, "RAG_DATA_DIR": str(data_dir)}
    done, backup_s = script("backup.sh", "--out", str(backups), "--retention-days", "14", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    dumps = sorted(backups.glob("rag-db-*.dump"))
    archives = sorted(backups.glob("rag-index-*.tar.gz"))
    assert len(dumps) == 1, done.stdout
    assert len(archives) == 1, done.stdout
    assert not stale.exists()  # past the retention
    assert "expired" in done.stdout

    restored_dir = tmp_path / "restored"
    done, restore_s = script(
        "restore.sh",
        *("--dump", str(dumps[0]), "--index", str(archives[0]), "--data-dir", str(restored_dir)),
        env={"RAG_DATABASE_URL": target_url},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert asyncio.run(table_digests(target_url)) == before

    again, _ = script("restore.sh", "--dump", str(dumps[0]), env={"RAG_DATABASE_URL": target_url})
    assert again.returncode == 2  # never over live data
    assert "not empty" in again.stderr

    original = top5(settings, embed_model)
    restored = top5(settings.model_copy(update={"data_dir": restored_dir}), embed_model)
    assert all(len(ids) == 5 for ids in original)
    assert restored == original
    print(  # noqa: T201 - the drill's figures
        f"\nrestore drill: backup {backup_s:.2f} s ({dumps[0].stat().st_size} B dump, "
        f"{archives[0].stat().st_size} B index); restore {restore_s:.2f} s; "
        f"{before['messages'][0]} messages, {before['feedback'][0]} feedback; 20/20 top-5 equal"
    )


def test_backup_refuses_to_copy_an_index_in_use(
    sample_index: ServiceSettings, tmp_path: Path, databases: tuple[str, str]
):
    data_dir = tmp_path / "data"
    shutil.copytree(sample_index.qdrant_path, data_dir / "qdrant")
    holder = QdrantClient(path=str(data_dir / "qdrant"))  # as a running rag-serve holds it
    try:
        env = {"RAG_DATABASE_URL": databases[0], "RAG_DATA_DIR": str(data_dir)}
        done, _ = script("backup.sh", "--out", str(tmp_path / "b"), env=env)
    finally:
        holder.close()
    assert done.returncode == 3, done.stdout + done.stderr
    assert "is open" in done.stderr
    assert list((tmp_path / "b").glob("rag-db-*.dump"))
    assert not list((tmp_path / "b").glob("rag-index-*"))
