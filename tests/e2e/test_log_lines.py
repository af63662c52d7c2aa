"""Every log line of a scripted session is JSON, carries its request id, and holds no secret.

``rag-ingest`` runs as a process, then ``rag-serve`` (``perf.serving.run_service``) serves a
session over HTTP: a chat, a stream, a chat whose first model fails, feedback, a 422, a 404,
admin calls with and without a key, and an ingest job through the admin API. The LLM is the
simulator, reached through the real ``openai`` client. Both processes' stderr is read line by
line and every line is parsed as JSON.

Request ids: a line written while a request is served carries that request's id (the ids below
are sent in ``X-Request-ID``; the readiness polls of ``run_service`` get generated ones). A line
that belongs to no request has ``request_id: null``: the lifecycle lines (start-up up to
uvicorn's "Uvicorn running on", shutdown from its "Shutting down") and, in between, only the
status monitor's periodic refresh (``BACKGROUND``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.settings import ServiceSettings
from perf.serving import run_service
from tests.conftest import ROOT, SAMPLE_BOOK
from tests.utils.simulator import Simulator

ADMIN_KEY = "adm-e2e-5d1c7a9f3b2e8064"
WRONG_KEY = "wrong-e2e-0a9b8c7d6e5f"
LLM_KEY = "sk-e2e-9QmX2vT7rL4pN8wK"
SESSION_SECRET = "e2e-session-secret-7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a21"  # noqa: S105 - fake
SECRETS = (ADMIN_KEY, WRONG_KEY, LLM_KEY, SESSION_SECRET)
QUESTIONS = {
    "chat": "What is the zero moment point?",
    "stream": "How does a series elastic actuator measure torque?",
    "fallback": "What is ROS 2?",
}
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")
#: Loggers of work that belongs to no request while the server serves: the status monitor's
#: periodic refresh (and its database reads).
BACKGROUND = {"api.monitoring.status", "api.db.statements"}
#: Loggers that only ever write while a request is served.
ONLY_IN_REQUESTS = {"api.access", "rag.fallback", "api.ingest_jobs", "ingest.pipeline"}
NEW_LINE = "\n\nA line added for the log test, so that one page changes.\n"


def json_lines(text: str, who: str) -> list[dict[str, Any]]:
    """Every line of ``text`` parsed as a JSON object (the test fails on the first that is not)."""
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"{who} stderr line {number} is not JSON: {line!r}")
        assert isinstance(record, dict), line
        lines.append(record)
    return lines


@pytest.fixture(scope="module")
def workspace(sample_index: ServiceSettings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding a copy of the sample index, and a changed copy of the book."""
    root = tmp_path_factory.mktemp("log-lines")
    shutil.copytree(sample_index.qdrant_path, root / "data" / "qdrant")
    shutil.copytree(SAMPLE_BOOK, root / "book" / "docs")
    intro = root / "book" / "docs" / "intro.md"
    intro.write_text(intro.read_text(encoding="utf-8") + NEW_LINE, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def env(workspace: Path, sim: Simulator) -> dict[str, str]:
    return {
        "RAG_DATA_DIR": str(workspace / "data"),
        "RAG_DOCS_DIR": str(workspace / "book" / "docs"),
        "RAG_ADMIN_API_KEYS": ADMIN_KEY,
        "RAG_SESSION_SECRET": SESSION_SECRET,
        "RAG_LLM_BASE_URL": sim.v1_url,
        "RAG_LLM_API_KEY": LLM_KEY,
        "RAG_LLM_MODEL": "primary",
        "RAG_LLM_FALLBACK_MODELS": "backup",
        "RAG_LLM_BACKOFF_BASE_S": "0.01",
        "RAG_DB_SLOW_STATEMENT_MS": "0",  # every statement logged at INFO: they must carry ids
        "RAG_RATE_LIMIT_NEW_SESSIONS": "1000/hour",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }


@pytest.fixture(scope="module")
def ingest_run(workspace: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``rag-ingest`` on the changed book, before the server holds the index."""
    return subprocess.run(
        [sys.executable, "-m", "ingest", str(workspace / "book" / "docs")],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        check=False,
    )


def session(base: str, sim: Simulator) -> dict[str, tuple[str, int]]:
    """The scripted session; returns {request id: (route template, status)}."""
    sent: dict[str, tuple[str, int]] = {}
    http = httpx.Client(base_url=base, timeout=120)

    def call(name: str, method: str, url: str, route: str, **kwargs: Any) -> httpx.Response:
        request_id = f"e2e-{name}-{len(sent):03d}"
        headers = {"X-Request-ID": request_id, **kwargs.pop("headers", {})}
        response = http.request(method, url, headers=headers, **kwargs)
        assert response.headers["X-Request-ID"] == request_id
        sent[request_id] = (route, response.status_code)
        return response

    chat = call("chat", "POST", "/v1/chat", "/v1/chat", json={"question": QUESTIONS["chat"]})
    assert chat.status_code == 200, chat.text
    assert chat.json()["model"] == "primary"

    request_id = f"e2e-stream-{len(sent):03d}"
    body = {"question": QUESTIONS["stream"]}
    with http.stream(
        "POST", "/v1/chat/stream", json=body, headers={"X-Request-ID": request_id}
    ) as stream:
        events = [line for line in stream.iter_lines() if line.startswith("event: ")]
        sent[request_id] = ("/v1/chat/stream", stream.status_code)
    assert events[-1] == "event: done", events

    sim.configure("primary", error_rate=1, error_kind="unavailable")
    try:
        fallback = call(
            "fallback", "POST", "/v1/chat", "/v1/chat", json={"question": QUESTIONS["fallback"]}
        )
    finally:
        sim.reset()
    assert fallback.status_code == 200
    assert fallback.json()["model"] == "backup"

    rated = call(
        "feedback",
        "POST",
        f"/v1/messages/{chat.json()['message_id']}/feedback",
        "/v1/messages/{message_id}/feedback",
        json={"rating": "up"},
    )
    assert rated.status_code == 200, rated.text
    long = call("invalid", "POST", "/v1/chat", "/v1/chat", json={"question": "x" * 501})
    assert long.status_code == 422
    missing = call("missing", "GET", "/v1/no-such-route", "<unmatched>")
    assert missing.status_code == 404
    no_key = call("nokey", "GET", "/v1/admin/feedback", "/v1/admin/feedback")
    assert no_key.status_code == 401
    wrong = call(
        "wrongkey",
        "GET",
        "/v1/admin/feedback",
        "/v1/admin/feedback",
        headers={"X-API-Key": WRONG_KEY},
    )
    assert wrong.status_code == 401
    admin = {"X-API-Key": ADMIN_KEY}
    feedback = call("admin", "GET", "/v1/admin/feedback", "/v1/admin/feedback", headers=admin)
    assert feedback.status_code == 200
    assert feedback.json()["total"] == 1

    job = call("ingest", "POST", "/v1/admin/ingest", "/v1/admin/ingest", headers=admin)
    assert job.status_code == 202, job.text
    job_id = job.json()["job_id"]
    deadline = time.monotonic() + 300
    while True:
        state = call(
            "job", "GET", f"/v1/admin/ingest/{job_id}", "/v1/admin/ingest/{job_id}", headers=admin
        ).json()
        if state["status"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert state["status"] == "succeeded", state
    assert state["summary"].startswith("index already up to date: 16 files")
    http.close()
    return sent


@pytest.fixture(scope="module")
def served(
    workspace: Path,
    env: dict[str, str],
    sim: Simulator,
    ingest_run: subprocess.CompletedProcess[str],
) -> tuple[list[dict[str, Any]], str, dict[str, tuple[str, int]]]:
    """Run the session against ``rag-serve``; yields (its log lines, raw stderr, requests sent)."""
    assert ingest_run.returncode == 0, ingest_run.stderr[-3000:]
    sim.reset()
    log_path = workspace / "serve.stderr"
    with (
        log_path.open("wb") as log,
        run_service(workspace / "data", env, stderr=log) as (
            base,
            _pid,
        ),
    ):
        sent = session(base, sim)
    text = log_path.read_text(encoding="utf-8")
    return json_lines(text, "rag-serve"), text, sent


def test_rag_ingest_writes_json_lines_and_one_ingest_run_line(
    ingest_run: subprocess.CompletedProcess[str],
):
    assert ingest_run.returncode == 0, ingest_run.stderr[-3000:]
    lines = json_lines(ingest_run.stderr, "rag-ingest")
    assert "\r" not in ingest_run.stderr  # no progress bar: stderr is not a terminal
    [run] = [line for line in lines if line.get("event") == "ingest_run"]
    assert run["level"] == "INFO"
    assert run["outcome"] == "published"
    assert run["version"] == "textbook__v2"
    assert run["files"] == 16
    assert run["files_indexed"] == 1
    assert run["chunks_embedded"] > 0
    assert run["chunks_deleted"] > 0  # the changed page's old chunks did not carry over
    assert run["duration_s"] > 0
    assert run["errors"] == []
    summary = ingest_run.stdout.splitlines()
    assert len(summary) == 1
    assert summary[0].startswith("published textbook__v2: 16 files (1 indexed, 15 unchanged")
    for secret in SECRETS:
        assert secret not in ingest_run.stderr


def test_every_server_line_is_json_with_a_request_id_key(served):
    lines, _, _ = served
    assert len(lines) > 20
    for line in lines:
        assert {"time", "level", "logger", "message", "request_id"} <= set(line), line


def test_lines_without_a_request_id_belong_to_no_request(served):
    lines, _, sent = served
    messages = [(line["logger"], line["message"]) for line in lines]
    serving_from = next(
        i
        for i, (logger, message) in enumerate(messages)
        if logger == "uvicorn.error" and message.startswith("Uvicorn running on")
    )
    serving_to = messages.index(("uvicorn.error", "Shutting down"))
    assert ("uvicorn.error", "Application startup complete.") in messages[:serving_from]
    assert all(line["request_id"] is None for line in lines[: serving_from + 1])
    assert all(line["request_id"] is None for line in lines[serving_to:])
    for line in lines[serving_from + 1 : serving_to]:
        request_id = line["request_id"]
        if request_id is None:
            assert line["logger"] in BACKGROUND, line
        else:
            assert request_id in sent or GENERATED_ID.match(request_id), line
        if line["logger"] in ONLY_IN_REQUESTS:
            assert request_id is not None, line


def test_each_request_has_its_access_line(served):
    lines, _, sent = served
    access = {line["request_id"]: line for line in lines if line["logger"] == "api.access"}
    for request_id, (route, status) in sent.items():
        line = access[request_id]
        assert (line["route"], line["status"]) == (route, status), line
        assert isinstance(line["latency_ms"], int | float)


def test_llm_attempts_and_database_statements_carry_the_request_id(served):
    lines, _, sent = served
    by_request: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_request.setdefault(line["request_id"], []).append(line)
    chat_id = next(rid for rid in sent if rid.startswith("e2e-chat-"))
    fallback_id = next(rid for rid in sent if rid.startswith("e2e-fallback-"))

    [attempt] = [line for line in by_request[chat_id] if line["message"] == "llm attempt"]
    assert (attempt["model"], attempt["outcome"], attempt["fallback"]) == ("primary", "ok", False)
    assert attempt["input_tokens"] > 0
    assert attempt["output_tokens"] > 0
    assert attempt["duration_ms"] >= 0

    attempts = [line for line in by_request[fallback_id] if line["message"] == "llm attempt"]
    assert [a["model"] for a in attempts][-1] == "backup"
    assert all(a["outcome"] != "ok" and a["fallback"] is False for a in attempts[:-1])
    assert attempts[-1]["outcome"] == "ok"
    assert attempts[-1]["fallback"] is True

    statements = [line for line in by_request[chat_id] if line["logger"] == "api.db.statements"]
    assert {"SELECT", "INSERT"} <= {line["kind"] for line in statements}
    assert all(line["duration_ms"] >= 0 for line in statements)


def test_the_ingest_job_logs_under_the_request_that_started_it(served):
    lines, _, sent = served
    ingest_id = next(rid for rid in sent if rid.startswith("e2e-ingest-"))
    mine = [line for line in lines if line["request_id"] == ingest_id]
    [run] = [line for line in mine if line.get("event") == "ingest_run"]
    assert run["outcome"] == "unchanged"
    assert run["files"] == 16
    jobs = [line for line in mine if line.get("event") == "ingest_job"]
    assert [line["message"] for line in jobs] == ["ingest job started", "ingest job succeeded"]


def test_no_secret_and_no_reader_text_in_the_log(served):
    _, text, _ = served
    for secret in SECRETS:
        assert secret not in text
    for question in QUESTIONS.values():
        assert question not in text
