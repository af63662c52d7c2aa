"""``rag-serve --workers 4``: ``/metrics`` totals are those of the whole server, exactly.

Local Qdrant admits one process, so the workers are pointed at a Qdrant URL where nothing
listens: the client connects lazily, every worker starts, ``/healthz`` answers (readiness says
the vector store is unreachable), and the HTTP counters can be checked against what was sent.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from perf.serving import free_port

pytestmark = pytest.mark.slow
WORKERS = 4
REQUESTS = 60


@dataclass
class Server:
    base: str
    metrics_dir: Path
    stderr: Path
    proc: subprocess.Popen[bytes]


def _started_workers(stderr: Path) -> int:
    return stderr.read_text(errors="replace").count("Application startup complete")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("workers")
    port = free_port()
    env = {
        **os.environ,
        "RAG_DATA_DIR": str(tmp / "data"),
        "RAG_QDRANT_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # rag-serve makes its own
    stdout, stderr = tmp / "stdout.txt", tmp / "stderr.txt"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "--port", str(port), "--workers", str(WORKERS)],
            env=env,
            stdout=out,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 300
        while _started_workers(stderr) < WORKERS:
            if proc.poll() is not None:
                pytest.fail(f"rag-serve exited: {stderr.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"{WORKERS} workers did not start: {stderr.read_text()[-3000:]}")
            time.sleep(0.5)
        match = re.search(r"metrics of \d+ worker\(s\) kept in (\S+)", stdout.read_text())
        assert match, stdout.read_text()
        yield Server(f"http://127.0.0.1:{port}", Path(match.group(1)), stderr, proc)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def http_totals(base: str) -> dict[tuple[str, str, str], float]:
    """``rag_http_requests_total`` by (method, route, status), from one scrape."""
    response = httpx.get(f"{base}/metrics", timeout=30)
    assert response.status_code == 200
    totals = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "rag_http_requests_total":
                labels = sample.labels
                totals[labels["method"], labels["route"], labels["status"]] = sample.value
    return totals


def test_totals_of_four_workers_equal_the_requests_sent(server: Server):
    before = http_totals(server.base)

    def get(path: str) -> int:
        with httpx.Client(timeout=30) as client:  # a new connection each: any worker may take it
            return client.get(f"{server.base}{path}").status_code

    paths = ["/healthz"] * (REQUESTS - 1) + ["/no/such/route"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(get, paths))
    after = http_totals(server.base)

    assert statuses.count(200) == REQUESTS - 1
    assert statuses.count(404) == 1

    def grew(key: tuple[str, str, str]) -> float:
        return after.get(key, 0) - before.get(key, 0)

    assert grew(("GET", "/healthz", "200")) == REQUESTS - 1
    assert grew(("GET", "<unmatched>", "404")) == 1
    assert grew(("GET", "/metrics", "200")) == 1  # the first scrape; this one counts after it
    assert sum(after.values()) - sum(before.values()) == REQUESTS + 1
    served_by = {
        int(m.group(1))
        for name in os.listdir(server.metrics_dir)
        if (m := re.fullmatch(r"counter_(\d+)\.db", name))
    }
    assert len(served_by) >= 2, f"one worker served everything: {served_by}"


def test_every_worker_logs_json_and_one_access_line_per_request(server: Server):
    marker = "req-workers-log-0001"
    assert httpx.get(f"{server.base}/healthz", headers={"X-Request-ID": marker}).status_code == 200
    deadline = time.monotonic() + 10
    while marker not in server.stderr.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = [json.loads(line) for line in server.stderr.read_text().splitlines() if line.strip()]
    loggers = {line["logger"] for line in lines}
    assert "uvicorn.access" not in loggers
    mine = [line for line in lines if line.get("request_id") == marker]
    assert [(line["logger"], line["route"], line["status"]) for line in mine] == [
        ("api.access", "/healthz", 200)
    ]
    started = [line for line in lines if "Application startup complete" in line["message"]]
    assert len(started) == WORKERS  # every worker wrote JSON lines


def test_the_metrics_dir_goes_when_the_server_stops(server: Server):
    assert server.metrics_dir.is_dir()
    server.proc.terminate()
    server.proc.wait(timeout=60)
    assert not server.metrics_dir.exists()
