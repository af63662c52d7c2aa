"""SIGTERM while 20 answers stream: they finish (or, past the drain limit, are stored as
interrupted), nothing new is accepted, and in staging every line the process writes is JSON."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from api.settings import ServiceSettings
from tests.utils.simulator import ModelKnobs, run_simulator

pytestmark = pytest.mark.slow
STREAMS = 20
ADMIN_KEY = "admin-key-for-shutdown-tests-0123"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    base: str
    port: int
    database: Path
    out: Path
    err: Path


def serve(tmp_path: Path, data_dir: Path, sim_url: str, drain_s: float) -> Served:
    port = _free_port()
    database = tmp_path / "chat.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(
        {
            "RAG_ENV": "staging",
            "RAG_DATA_DIR": str(data_dir),
            "RAG_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "RAG_ADMIN_API_KEYS": ADMIN_KEY,
            "RAG_CORS_ORIGINS": "https://book.example",
            "RAG_SESSION_SECRET": "s" * 40,
            "RAG_LLM_BASE_URL": sim_url,
            "RAG_LLM_API_KEY": "test",
            "RAG_LLM_MODEL": "slow",
            "RAG_LLM_MAX_IN_FLIGHT": "64",
            "RAG_LLM_TIMEOUT_S": "120",
            "RAG_LLM_TOTAL_BUDGET_S": "120",
            "RAG_RATE_LIMIT_NEW_SESSIONS": "1000/hour",
            "RAG_CACHE_MAX_ENTRIES": "0",
            "RAG_SHUTDOWN_DRAIN_S": str(drain_s),
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        }
    )
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "--port", str(port)],
            env=env,
            stdout=stdout,
            stderr=stderr,
            cwd=tmp_path,  # no .env from the repository
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            proc.wait()
            pytest.fail(f"rag-serve exited: {err.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return Served(proc, base, port, database, out, err)
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.kill()
    proc.wait(timeout=30)
    pytest.fail("rag-serve was not ready within 400 s")


@dataclass
class StreamOutcome:
    events: list[str] = field(default_factory=list)
    finished_at: float = 0.0
    error: str | None = None


QUESTIONS = [
    "What is the zero moment point?",
    "How does a series elastic actuator measure torque?",
    "What does a PID controller do?",
    "How do robots estimate their pose?",
]


async def one_stream(client: httpx.AsyncClient, question: str, started: asyncio.Event, box):
    outcome = StreamOutcome()
    try:
        async with client.stream("POST", "/v1/chat/stream", json={"question": question}) as reply:
            async for line in reply.aiter_lines():
                if line.startswith("event: "):
                    outcome.events.append(line.removeprefix("event: "))
                    if line == "event: token":
                        box.add(id(outcome))
                        if len(box) >= STREAMS:
                            started.set()
    except httpx.HTTPError as exc:
        outcome.error = type(exc).__name__
    outcome.finished_at = time.monotonic()
    return outcome


async def drill(served: Served) -> tuple[list[StreamOutcome], float, float, float]:
    """Start the streams, SIGTERM once each has a token; returns outcomes and timings."""
    started = asyncio.Event()
    box: set[int] = set()
    limits = httpx.Limits(max_connections=STREAMS + 5)
    async with httpx.AsyncClient(base_url=served.base, timeout=180, limits=limits) as client:
        tasks = [
            asyncio.create_task(one_stream(client, QUESTIONS[i % len(QUESTIONS)], started, box))
            for i in range(STREAMS)
        ]
        # every stream has sent a token: all 20 are under way
        await asyncio.wait_for(started.wait(), timeout=120)
        served.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        refused_after = None
        while time.monotonic() - signalled < 5:
            try:
                async with httpx.AsyncClient(timeout=2) as fresh:
                    await fresh.get(f"{served.base}/healthz")
            except httpx.ConnectError:
                refused_after = time.monotonic() - signalled
                break
            await asyncio.sleep(0.05)
        outcomes = await asyncio.gather(*tasks)
    code = await asyncio.to_thread(served.proc.wait, 120)
    exited = time.monotonic() - signalled
    # uvicorn re-raises the signal once it has shut down cleanly: -SIGTERM is a clean exit
    assert code in (0, -signal.SIGTERM), served.err.read_text()[-2000:]
    assert "Finished server process" in served.err.read_text()
    assert refused_after is not None, "new connections were still accepted 5 s after SIGTERM"
    drained = max(o.finished_at for o in outcomes) - signalled
    return outcomes, refused_after, drained, exited


def assert_json_lines_only(served: Served) -> None:
    for path in (served.out, served.err):
        for line in path.read_text().splitlines():
            if line.strip():
                assert isinstance(json.loads(line), dict), (path.name, line)
    messages = [json.loads(line)["message"] for line in served.err.read_text().splitlines()]
    assert any(m.startswith("rag-serve: serving on") for m in messages)
    assert any("Shutting down" in m for m in messages)  # uvicorn's own lines, as JSON


def stored_answers(database: Path) -> list[tuple[str, bool]]:
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT content, interrupted FROM messages WHERE role = 'assistant'")
        return [(content, bool(flag)) for content, flag in rows.fetchall()]


def test_sigterm_lets_20_streams_finish_and_refuses_new_connections(
    sample_index: ServiceSettings, tmp_path: Path
):
    with run_simulator({"slow": ModelKnobs(ttft_ms=200, tps=25)}) as sim:
        served = serve(tmp_path, sample_index.data_dir, sim.v1_url, drain_s=60)
        try:
            outcomes, refused_after, drained, exited = asyncio.run(drill(served))
        finally:
            if served.proc.poll() is None:
                served.proc.kill()
            served.proc.wait(timeout=30)
    print(  # noqa: T201 - the drill's figures
        f"\nshutdown drill: {STREAMS} streams; new connections refused {refused_after:.2f} s "
        f"after SIGTERM; last answer done {drained:.2f} s after; process exited {exited:.2f} s"
    )
    assert [o.error for o in outcomes] == [None] * STREAMS
    assert all(o.events[-1] == "done" for o in outcomes), [o.events[-3:] for o in outcomes]
    answers = stored_answers(served.database)
    assert len(answers) == STREAMS
    assert not any(interrupted for _, interrupted in answers)
    assert_json_lines_only(served)


def test_past_the_drain_limit_answers_are_stored_as_interrupted(
    sample_index: ServiceSettings, tmp_path: Path
):
    with run_simulator({"slow": ModelKnobs(ttft_ms=100, tps=3)}) as sim:  # ~30 s per answer
        served = serve(tmp_path, sample_index.data_dir, sim.v1_url, drain_s=2)
        try:
            outcomes, _, drained, exited = asyncio.run(drill(served))
        finally:
            if served.proc.poll() is None:
                served.proc.kill()
            served.proc.wait(timeout=30)
    print(  # noqa: T201 - the drill's figures
        f"\nshutdown past the drain limit (2 s): streams cut {drained:.2f} s after SIGTERM, "
        f"process exited {exited:.2f} s after"
    )
    assert not any(o.events and o.events[-1] == "done" for o in outcomes)
    assert drained < 20  # cut at the limit, not run to their end
    answers = stored_answers(served.database)
    assert len(answers) == STREAMS, answers
    assert all(interrupted for _, interrupted in answers)
    assert all(content for content, _ in answers)  # what the reader saw is kept
