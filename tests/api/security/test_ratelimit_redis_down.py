"""A configured Redis that is not there, or hangs: readers still get answers, limits still hold.

No Redis server is needed: one test points at a port nothing listens on, the other at a socket
that accepts connections and never answers.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.security.ratelimit import REDIS_TIMEOUT_S
from api.settings import ServiceSettings
from perf.serving import free_port
from rag.retrieval.embeddings import LocalEmbedding

QUESTION = "What is ROS 2?"


def app_settings(sample_index: ServiceSettings, tmp_path: Path, redis_url: str) -> ServiceSettings:
    return sample_index.model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'chat.sqlite3'}",
            "redis_url": redis_url,
            "rate_limit_session": "2/minute",
        }
    )


def ask_three_times(client: TestClient) -> list[int]:
    first = client.post("/v1/chat", json={"question": QUESTION})
    body = {"question": QUESTION, "session_id": first.json().get("session_id")}
    return [first.status_code] + [client.post("/v1/chat", json=body).status_code for _ in range(2)]


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port whose connections are accepted by the kernel and never answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


def test_redis_unreachable_at_start_up(
    sample_index: ServiceSettings,
    embed_model: LocalEmbedding,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.WARNING, logger="api")
    settings = app_settings(sample_index, tmp_path, f"redis://127.0.0.1:{free_port()}/0")
    with TestClient(create_app(settings, embed_model=embed_model)) as client:
        statuses = ask_three_times(client)
        assert client.app_state["rate_limiter"].degraded
    assert statuses == [200, 200, 429]
    messages = [r.getMessage() for r in caplog.records]
    assert any("rate-limit store unreachable at start-up" in m for m in messages), messages
    assert any("counting in this process until it is back" in m for m in messages), messages


def test_a_hung_redis_costs_a_bounded_wait_not_an_outage(
    sample_index: ServiceSettings, embed_model: LocalEmbedding, tmp_path: Path, silent_listener: int
):
    settings = app_settings(sample_index, tmp_path, f"redis://127.0.0.1:{silent_listener}/0")
    with TestClient(create_app(settings, embed_model=embed_model)) as client:
        started = time.monotonic()
        statuses = ask_three_times(client)
        elapsed = time.monotonic() - started
        assert client.app_state["rate_limiter"].degraded
    assert statuses == [200, 200, 429]
    # One request waits for Redis (connect, then one retry), the next ones count in-process
    # without trying it again; a generous bound that an untimed client would blow through.
    assert elapsed < 20 * REDIS_TIMEOUT_S + 10
