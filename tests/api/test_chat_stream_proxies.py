"""What proxies between the service and the reader need from ``POST /v1/chat/stream``: no caching,
no buffering (``X-Accel-Buffering: no``), and a comment now and then while the model is thinking,
so an idle connection is not closed before the first token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes import chat
from api.settings import ServiceSettings
from rag.retrieval.embeddings import LocalEmbedding
from tests.utils.simulator import Simulator, simulator_llm_settings


@pytest.fixture(scope="module")
def client(
    sample_index: ServiceSettings,
    embed_model: LocalEmbedding,
    sim: Simulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TestClient]:
    db = tmp_path_factory.mktemp("stream-proxies") / "chat.sqlite3"
    settings = simulator_llm_settings(
        sample_index, sim, database_url=f"sqlite+aiosqlite:///{db}", cache_max_entries=0
    )
    with TestClient(create_app(settings, embed_model=embed_model)) as test_client:
        yield test_client


def test_a_slow_model_gets_keep_alive_comments_before_its_first_token(
    client: TestClient, sim: Simulator, monkeypatch: pytest.MonkeyPatch
):
    sim.reset()
    sim.configure("primary", ttft_ms=1500, tps=0)
    monkeypatch.setattr(chat, "KEEPALIVE_S", 0.2)
    try:
        with client.stream(
            "POST", "/v1/chat/stream", json={"question": "What is the zero moment point?"}
        ) as response:
            assert response.status_code == 200
            assert response.headers["Cache-Control"] == "no-cache"
            assert response.headers["X-Accel-Buffering"] == "no"
            body = response.read().decode()
    finally:
        sim.reset()  # the session's simulator, shared with other modules

    first_token = body.index("event: token")
    assert body.count(": keep-alive\n\n", 0, first_token) >= 3  # 1.5 s of thinking, every 0.2 s
    assert body.rstrip().split("\n\n")[-1].startswith("event: done")


def test_a_fast_answer_has_no_keep_alive(client: TestClient, sim: Simulator):
    sim.reset()
    with client.stream(
        "POST", "/v1/chat/stream", json={"question": "How does a series elastic actuator work?"}
    ) as response:
        body = response.read().decode()

    assert ": keep-alive" not in body
    assert "event: done" in body
