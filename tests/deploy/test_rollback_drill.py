"""The rollback drill: version A serves behind a proxy; B, which never gets ready and brings a
migration, is released; the traffic stays on A, every request succeeds, B's migration is rolled
back on the real PostgreSQL, and the time from the bad release to A serving alone is measured."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from api.settings import ServiceSettings
from tests.utils.postgres_service import (
    create_database,
    drop_database,
    require_postgres,
    with_database,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MIGRATION_B = '''"""Expand: a nullable column the new version writes (the old one ignores it).

Revision ID: 0099
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0099"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("drill_note", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "drill_note")
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def database() -> Iterator[str]:
    admin = asyncio.run(require_postgres())
    name = asyncio.run(create_database("rag_drill"))
    try:
        yield with_database(admin, name)
    finally:
        asyncio.run(drop_database(name))


def version_b_tree(tmp_path: Path) -> Path:
    """A copy of the code with one more (expand) migration: the version being released."""
    tree = tmp_path / "version-b"
    ignore = shutil.ignore_patterns("__pycache__")
    for package in ("api", "rag", "ingest"):
        shutil.copytree(ROOT / package, tree / package, ignore=ignore)
    (tree / "api/db/migrations/versions/0099_drill_note.py").write_text(MIGRATION_B)
    return tree


def env_file(path: Path, **values: str) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


async def schema_state(url: str) -> tuple[str | None, bool]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            revision = (
                await conn.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar()
            column = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM information_schema.columns "
                        "WHERE table_name = 'messages' AND column_name = 'drill_note'"
                    )
                )
            ).scalar()
            return revision, bool(column)
    finally:
        await engine.dispose()


class Traffic:
    """Readers asking through the proxy, one new connection per request, all drill long."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.results: list[tuple[float, int | str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        questions = ["What is the zero moment point?", "How do series elastic actuators work?"]
        i = 0
        while not self._stop.is_set():
            i += 1
            try:
                if i % 2:
                    reply = httpx.post(
                        f"{self.base}/v1/chat",
                        json={"question": questions[i % 4 // 2]},
                        timeout=30,
                    )
                else:
                    reply = httpx.get(f"{self.base}/readyz", timeout=30)
                self.results.append((time.monotonic(), reply.status_code))
            except httpx.HTTPError as exc:
                self.results.append((time.monotonic(), type(exc).__name__))
            time.sleep(0.1)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def run_script(name: str, *args: str, timeout: float = 300) -> tuple[int, str, float]:
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(DEPLOY / name), *args],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stderr, time.monotonic() - started


def test_a_release_that_fails_readiness_leaves_a_serving_and_its_migration_undone(
    sample_index: ServiceSettings, tmp_path: Path, database: str
):
    state = tmp_path / "state"
    common = {
        "RAG_DATABASE_URL": database,
        "RAG_RATE_LIMIT_SESSION": "10000/minute",
        "RAG_RATE_LIMIT_ADDRESS": "100000/day",
        "RAG_RATE_LIMIT_NEW_SESSIONS": "100000/hour",
        "HF_HUB_OFFLINE": "1",
    }
    env_a = env_file(tmp_path / "a.env", RAG_DATA_DIR=str(sample_index.data_dir), **common)
    # B's index was never built: /readyz stays 503 (an empty data folder of its own)
    env_b = env_file(tmp_path / "b.env", RAG_DATA_DIR=str(tmp_path / "b-data"), **common)
    tree_b = version_b_tree(tmp_path)
    proxy_port = _free_port()
    proxy_cmd = [sys.executable, str(DEPLOY / "local_proxy.py"), "--port", str(proxy_port)]
    proxy = subprocess.Popen([*proxy_cmd, "--state", str(state)], stderr=subprocess.DEVNULL)
    try:
        code, log, took_a = run_script(
            "release.sh",
            *("--platform", "local", "--state", str(state), "--version", "A"),
            *("--workdir", str(ROOT), "--env-file", str(env_a), "--ready-timeout", "240"),
        )
        assert code == 0, log
        live_a = json.loads((state / "live.json").read_text())
        assert asyncio.run(schema_state(database)) == ("0001", False)
        base = f"http://127.0.0.1:{proxy_port}"
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200

        with Traffic(base) as traffic:
            time.sleep(2)
            code, log, took_b = run_script(
                "release.sh",
                *("--platform", "local", "--state", str(state), "--version", "B"),
                *("--workdir", str(tree_b), "--env-file", str(env_b), "--ready-timeout", "20"),
            )
            time.sleep(2)
        assert code == 3, log
        assert "database migrated from 0001 to 0099" in log  # B's migration ran before its check
        # A serves alone: the proxy still points at it, B is gone, the schema is A's again
        assert (state / "upstream").read_text().strip() == f"127.0.0.1:{live_a['port']}"
        assert json.loads((state / "live.json").read_text())["name"] == "A"
        b_port = int(log.split("B started on port ")[1].split()[0])
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{b_port}/healthz", timeout=2)
        assert asyncio.run(schema_state(database)) == ("0001", False)
        statuses = [status for _, status in traffic.results]
        failed = [s for s in statuses if s != 200]
        assert len(statuses) >= 10
        assert not failed, failed
        b_log = (state / "B.log").read_text()
        assert '"route": "/v1/chat"' not in b_log  # no reader ever reached B
        alone_s, undone_s = mark(log, "B stopped"), mark(log, "rolled back B")
        print(  # noqa: T201 - the drill's figures (the goal: A alone within 60 s)
            f"\nrollback drill: A released in {took_a:.1f} s. Bad release B: not ready after "
            f"the 20 s readiness limit, A serving alone {alone_s:.1f} s after the release "
            f"began, migration 0099 downgraded at {undone_s:.1f} s, script done in {took_b:.1f} s; "
            f"{len(statuses)} requests through the proxy, all 200.\n{log}"
        )
    finally:
        live = state / "live.json"
        if live.exists():
            pid = json.loads(live.read_text())["pid"]
            with_pid_stopped(pid)
        proxy.terminate()
        proxy.wait(timeout=10)


def mark(log: str, text_: str) -> float:
    """Seconds since the script started at the first progress line containing ``text_``."""
    for line in log.splitlines():
        if text_ in line:
            return float(line.split(" +", 1)[1].split("s ", 1)[0])
    raise AssertionError(f"{text_!r} not in the release log:\n{log}")


def with_pid_stopped(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
