"""schemathesis against the running service's OpenAPI schema, every check, the simulator as LLM.

The same command runs by hand with ``make fuzz``. The service runs as ``rag-serve`` on loopback
over a copy of the sample book's index, with an admin key (so ``ignored_auth`` can prove the
admin routes refuse requests without it) and rate limits high enough not to interfere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.settings import ServiceSettings
from perf.serving import run_service
from tests.utils.simulator import Simulator

CONFIG = Path(__file__).with_name("schemathesis.toml")
ADMIN_KEY = "fuzz-admin-key-0123456789"
MAX_EXAMPLES = 20
TINY_BOOK = """---
title: Balance
---

# Balance

## The zero moment point

The zero moment point (ZMP) is the point on the ground where the net moment of the inertial and
gravity forces has no horizontal component. A walking robot stays balanced while the ZMP is
inside its support polygon.
"""


def schemathesis_command(base_url: str, report: Path) -> list[str]:
    """The fuzzing command: all checks, bounded examples, the same examples every run."""
    cli = Path(sys.executable).with_name("schemathesis")
    return [
        str(cli),
        "--config-file",
        str(CONFIG),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--request-timeout",
        "30",
        "--workers",
        "1",
        "--no-color",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
    ]


@pytest.fixture(scope="module")
def service(
    sample_index: ServiceSettings, sim: Simulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    data = tmp_path_factory.mktemp("fuzz-data")
    # A copy: the embedded index admits one process, and other tests may hold the original.
    shutil.copytree(
        sample_index.qdrant_path, data / "qdrant", ignore=shutil.ignore_patterns(".lock")
    )
    docs = tmp_path_factory.mktemp("fuzz-docs")
    (docs / "balance.md").write_text(TINY_BOOK)  # what POST /v1/admin/ingest may index
    env = {
        "RAG_LLM_BASE_URL": sim.v1_url,
        "RAG_LLM_API_KEY": "test",
        "RAG_LLM_MODEL": "primary",
        "RAG_ADMIN_API_KEYS": ADMIN_KEY,
        "RAG_DOCS_DIR": str(docs),
        "RAG_RATE_LIMIT_SESSION": "100000/minute",
        "RAG_RATE_LIMIT_ADDRESS": "1000000/day",
        "RAG_RATE_LIMIT_NEW_SESSIONS": "100000/hour",
        "RAG_LOG_LEVEL": "WARNING",
        "TRANSFORMERS_OFFLINE": "1",
    }
    with run_service(data, env) as (base_url, _pid):
        yield base_url


@pytest.fixture(scope="module")
def session_id(service: str) -> str:
    """A conversation the service holds, for the session routes to read and delete."""
    reply = httpx.post(f"{service}/v1/chat", json={"question": "What is the ZMP?"}, timeout=30)
    reply.raise_for_status()
    return str(reply.json()["session_id"])


def scenario_results(report: Path) -> tuple[dict[str, Counter[int]], dict[str, Counter[str]]]:
    """Per operation: the response statuses seen, and each check's outcomes."""
    statuses: dict[str, Counter[int]] = {}
    checks: dict[str, Counter[str]] = {}
    for line in report.read_text().splitlines():
        event: dict[str, Any] = json.loads(line)
        if "ScenarioFinished" not in event:
            continue
        recorder = event["ScenarioFinished"]["recorder"]
        label = recorder["label"]
        for interaction in recorder.get("interactions", {}).values():
            response = interaction.get("response") or {}
            statuses.setdefault(label, Counter())[response.get("status_code", 0)] += 1
        for results in recorder.get("checks", {}).values():
            for check in results:
                checks.setdefault(label, Counter())[f"{check['name']}:{check['status']}"] += 1
    return statuses, checks


@pytest.mark.slow
def test_schemathesis_finds_no_failure(service: str, session_id: str, tmp_path: Path):
    report = tmp_path / "schemathesis.ndjson"
    env = {**os.environ, "FUZZ_ADMIN_KEY": ADMIN_KEY, "FUZZ_SESSION_ID": session_id}

    done = subprocess.run(
        schemathesis_command(service, report),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    output = done.stdout[-12000:] + done.stderr[-4000:]
    assert done.returncode == 0, output
    statuses, checks = scenario_results(report)
    server_errors = {
        op: n
        for op, seen in statuses.items()
        if (n := sum(count for status, count in seen.items() if status >= 500))
    }
    assert server_errors == {}, output
    failed = {
        op: [c for c in results if c.endswith((":failure", ":error"))]
        for op, results in checks.items()
    }
    assert not any(failed.values()), failed
    admin = [op for op in statuses if " /v1/admin/" in op]
    assert admin, "no admin operation was fuzzed"
    for op in admin:
        assert checks[op]["ignored_auth:success"] > 0, op
        assert statuses[op][401] > 0, f"{op}: never refused a request without the key"
    assert any(status < 300 for status in statuses["GET /v1/sessions/{session_id}/messages"])
