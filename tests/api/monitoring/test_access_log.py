"""One JSON access line per request, with route templates and no session id, and HTTP metrics."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.monitoring.logs import configure_logging
from api.settings import ServiceSettings
from rag.retrieval.embeddings import LocalEmbedding
from tests.api.monitoring.support import parse, value


@pytest.fixture(scope="module")
def client(sample_index: ServiceSettings, embed_model: LocalEmbedding) -> Iterator[TestClient]:
    with TestClient(create_app(sample_index, embed_model=embed_model)) as test_client:
        yield test_client


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Configure the service's JSON logging; yields a reader of the access lines so far."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging()
    capsys.readouterr()

    def access_lines() -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
        return [line for line in lines if line["logger"] == "api.access"]

    yield access_lines
    root.handlers[:] = handlers
    root.setLevel(level)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()[:12]


def test_each_request_writes_one_json_line_with_its_request_id(client: TestClient, json_logs):
    ids = [f"req-access-{n:04d}" for n in range(3)]
    for request_id in ids:
        assert client.get("/healthz", headers={"X-Request-ID": request_id}).status_code == 200

    lines = json_logs()
    assert [line["request_id"] for line in lines] == ids
    for line in lines:
        assert line["route"] == "/healthz"
        assert line["method"] == "GET"
        assert line["status"] == 200
        assert line["latency_ms"] >= 0
        assert line["session"] is None


def test_chat_lines_carry_the_session_hash_cached_and_degraded_never_the_id(
    client: TestClient, json_logs
):
    question = {"question": "What does a rotary encoder measure?"}
    first = client.post("/v1/chat", json=question)
    assert first.status_code == 200, first.text
    session_id = first.json()["session_id"]
    again = client.post("/v1/chat", json={**question, "session_id": session_id})
    assert again.json()["cached"] is True
    history = client.get(f"/v1/sessions/{session_id}/messages")
    assert history.status_code == 200

    raw = json_logs()
    assert len(raw) == 3
    chat, cached, listed = raw
    assert chat["route"] == cached["route"] == "/v1/chat"
    assert (chat["cached"], chat["degraded"]) == (False, False)
    assert (cached["cached"], cached["degraded"]) == (True, False)
    assert listed["route"] == "/v1/sessions/{session_id}/messages"
    assert chat["session"] == cached["session"] == listed["session"] == _hash(session_id)
    assert chat["request_id"] == first.headers["X-Request-ID"]
    assert session_id not in json.dumps(raw)
    assert session_id not in client.get("/metrics").text


def test_unknown_paths_share_one_label_and_errors_keep_their_status(client: TestClient, json_logs):
    before = parse(client.get("/metrics").text).values()
    for path in ("/no/such/page", "/another/one", "/v1/sessions/x/y/z"):
        assert client.get(path).status_code == 404
    assert client.post("/v1/chat", json={"question": ""}).status_code == 422
    after = parse(client.get("/metrics").text).values()

    def grew(**labels: str) -> float:
        name = "rag_http_requests_total"
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew(route="<unmatched>", status="404", method="GET") == 3
    assert grew(route="/v1/chat", status="422", method="POST") == 1
    text = client.get("/metrics").text
    assert "/no/such/page" not in text
    assert "/another/one" not in text
    statuses = [line["status"] for line in json_logs() if line["route"] != "/metrics"]
    assert statuses == [404, 404, 404, 422]


def test_request_durations_are_observed_per_route_template(client: TestClient):
    before = value(
        parse(client.get("/metrics").text).values(),
        "rag_http_request_duration_seconds_count",
        route="/readyz",
    )
    for _ in range(2):
        client.get("/readyz")
    after = parse(client.get("/metrics").text)
    assert (
        value(after.values(), "rag_http_request_duration_seconds_count", route="/readyz")
        == before + 2
    )
    assert value(after.values(), "rag_ready") == 1.0
