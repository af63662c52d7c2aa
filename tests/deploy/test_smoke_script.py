"""deploy/smoke.sh decides right: a tiny HTTP server on loopback plays a deployment that is, or
is not, fit (the real service passes it in tests/deploy/test_image.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SMOKE = Path(__file__).resolve().parents[2] / "deploy" / "smoke.sh"
CITED = {"answer": "A spring measures it [1].", "sources": [{"index": 1, "url": "/docs/a#b"}]}


class Deployment:
    """What the fake deployment answers; each test sets it."""

    def __init__(self) -> None:
        self.ready = 200
        self.chat: tuple[int, dict] = (200, CITED)
        self.widget: tuple[int, str] = (404, "text/plain")


@pytest.fixture
def deployment() -> Iterator[tuple[Deployment, str]]:
    state = Deployment()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/readyz":
                self._send(state.ready, b'{"status": "ok"}', "application/json")
            elif self.path == "/widget.js":
                status, content_type = state.widget
                self._send(status, b"console.log(1)", content_type)
            else:
                self._send(404, b"{}", "application/json")

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status, body = state.chat
            self._send(status, json.dumps(body).encode(), "application/json")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def smoke(base: str) -> subprocess.CompletedProcess[str]:
    if not shutil.which("curl"):
        pytest.skip("curl not found")
    return subprocess.run(
        ["bash", str(SMOKE), base],
        env={"PATH": "/usr/bin:/bin", "SMOKE_READY_TIMEOUT_S": "2", "SMOKE_REQUEST_TIMEOUT_S": "5"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_fit_deployment_passes(deployment: tuple[Deployment, str]) -> None:
    _, base = deployment
    result = smoke(base)
    assert result.returncode == 0, result.stderr
    assert "cites [1]" in result.stdout
    assert "/widget.js not served" in result.stdout


def test_the_widget_is_checked_once_served(deployment: tuple[Deployment, str]) -> None:
    state, base = deployment
    state.widget = (200, "text/javascript; charset=utf-8")
    assert smoke(base).returncode == 0
    state.widget = (200, "text/html")
    result = smoke(base)
    assert result.returncode == 1
    assert "not JavaScript" in result.stderr


@pytest.mark.parametrize(
    ("ready", "chat", "message"),
    [
        (503, (200, CITED), "/readyz answered 503"),
        (200, (500, {"detail": "boom"}), "POST /v1/chat answered 500"),
        (200, (200, {"answer": "No marker.", "sources": [{"index": 1}]}), "no citation"),
        (200, (200, {"answer": "Cites [2].", "sources": [{"index": 1}]}), "no citation"),
    ],
    ids=["not-ready", "chat-error", "uncited", "citation-without-source"],
)
def test_an_unfit_deployment_fails(
    deployment: tuple[Deployment, str], ready: int, chat: tuple[int, dict], message: str
) -> None:
    state, base = deployment
    state.ready, state.chat = ready, chat
    result = smoke(base)
    assert result.returncode == 1, result.stdout
    assert message in result.stderr


def test_nothing_listening_fails_and_bad_usage_is_2() -> None:
    result = smoke("http://127.0.0.1:9")
    assert result.returncode == 1
    assert "/readyz answered 000" in result.stderr
    usage = subprocess.run(["bash", str(SMOKE)], capture_output=True, text=True, check=False)
    assert usage.returncode == 2
