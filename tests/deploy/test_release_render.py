"""``release.sh`` / ``rollback.sh`` against Render's API, as deploy.yml calls them.

Render cannot be reached from here: a mock of its REST API (the deploy, deploy-status and
rollback endpoints) answers on loopback, at the HTTP boundary; the scripts are run for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


class MockRender:
    """Deploys of one service; a new deploy reports ``outcome`` after one poll in progress."""

    def __init__(self, outcome: str) -> None:
        self.outcome = outcome
        self.calls: list[tuple[str, str, Any]] = []
        self.polls: dict[str, int] = {}
        mock = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(201 if self.command == "POST" else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                mock.calls.append(("GET", self.path, self.headers.get("Authorization")))
                if self.path.startswith("/v1/services/srv-1/deploys?"):
                    self._reply([{"deploy": {"id": "dep-a", "status": "live"}, "cursor": "c"}])
                    return
                deploy = self.path.rsplit("/", 1)[1]
                polls = mock.polls[deploy] = mock.polls.get(deploy, 0) + 1
                status = "live" if deploy == "dep-c" else mock.outcome
                self._reply({"id": deploy, "status": status if polls > 1 else "update_in_progress"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"null")
                mock.calls.append(("POST", self.path, body))
                self._reply({"id": "dep-b" if self.path.endswith("/deploys") else "dep-c"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def posts(self) -> list[tuple[str, Any]]:
        return [(path, body) for method, path, body in self.calls if method == "POST"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def render_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RENDER_API_KEY": "rnd_test",
        "RENDER_SERVICE_ID": "srv-1",
        "RENDER_POLL_S": "0.05",
        "RUNNER_TEMP": str(tmp_path),
        "DEPLOY_DOWNGRADE_CMD": f"touch {tmp_path}/downgraded-to-{{revision}}",
        "DEPLOY_DB_REVISION": "0001",
    }


def run(script: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(DEPLOY / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_failed_deploy_is_rolled_back_once(render_env: dict[str, str], tmp_path: Path):
    mock = MockRender("update_failed")
    try:
        env = {**render_env, "RENDER_API_URL": mock.url}
        done = run("release.sh", "production", "ghcr.io/o/rag@sha256:b", env=env)
        assert done.returncode == 3, done.stderr
        assert mock.posts() == [
            ("/v1/services/srv-1/deploys", {"imageUrl": "ghcr.io/o/rag@sha256:b"}),
            ("/v1/services/srv-1/rollback", {"deployId": "dep-a"}),
        ]
        assert (tmp_path / "downgraded-to-0001").exists()  # the schema follows the code back
        assert all(auth == "Bearer rnd_test" for m, _, auth in mock.calls if m == "GET")
        again = run("rollback.sh", "production", env=env)  # deploy.yml's failure() step
        assert again.returncode == 0, again.stderr
        assert "already rolled back" in again.stderr
        assert len(mock.posts()) == 2
    finally:
        mock.close()


def test_a_live_deploy_that_fails_its_smoke_test_is_rolled_back(render_env: dict[str, str]):
    mock = MockRender("live")
    try:
        env = {**render_env, "RENDER_API_URL": mock.url}
        assert run("release.sh", "staging", "img:b", env=env).returncode == 0
        done = run("rollback.sh", "staging", env=env)
        assert done.returncode == 0, done.stderr
        assert mock.posts()[-1] == ("/v1/services/srv-1/rollback", {"deployId": "dep-a"})
        assert mock.polls["dep-c"] >= 2  # waited for the rollback deploy to be live
    finally:
        mock.close()


def test_usage_errors_exit_2(render_env: dict[str, str]):
    env = {k: v for k, v in render_env.items() if k != "RENDER_API_KEY"}
    done = run("release.sh", "staging", "img:b", env=env)
    assert done.returncode == 2
    assert "RENDER_API_KEY" in done.stderr
    assert run("release.sh", "--help", env=env).returncode == 0
    assert run("rollback.sh", "--platform", "local", env=env).returncode == 2  # no --state
