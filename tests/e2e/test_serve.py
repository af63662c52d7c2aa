"""The README's flow for real: ``rag-serve`` as a process on loopback, asked over HTTP."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from api.settings import ServiceSettings
from rag.answer.prompts import cited_indexes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(sample_index: ServiceSettings) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "RAG_DATA_DIR": str(sample_index.data_dir), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"rag-serve exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("rag-serve was not ready within 90 s")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stderr.close()


def test_served_answer_cites_real_book_routes(server: str):
    response = httpx.post(
        f"{server}/v1/chat",
        json={"question": "How does a series elastic actuator measure torque?"},
        timeout=30,
    )
    assert response.status_code == 200
    body = response.json()
    assert cited_indexes(body["answer"])
    urls = [s["url"] for s in body["sources"]]
    assert all(url.startswith("/docs/") for url in urls)
    assert any("actuators-and-drives" in url for url in urls)
    assert response.headers["X-Request-ID"]


def test_served_openapi_and_docs(server: str):
    assert httpx.get(f"{server}/docs", timeout=10).status_code == 200
    paths = httpx.get(f"{server}/openapi.json", timeout=10).json()["paths"]
    assert {"/v1/chat", "/healthz", "/readyz"} <= set(paths)
