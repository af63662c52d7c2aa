import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ServiceSettings
from rag.answer.prompts import NOT_COVERED, cited_indexes
from rag.retrieval.embeddings import LocalEmbedding


@pytest.fixture(scope="module")
def client(sample_index: ServiceSettings, embed_model: LocalEmbedding) -> Iterator[TestClient]:
    with TestClient(create_app(sample_index, embed_model=embed_model)) as test_client:
        yield test_client


def parse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith(":")]
        if not lines:
            continue
        kind = lines[0].removeprefix("event: ")
        data = json.loads(lines[1].removeprefix("data: "))
        events.append((kind, data))
    return events


def test_stream_sends_meta_sources_tokens_then_done(client: TestClient):
    with client.stream(
        "POST", "/v1/chat/stream", json={"question": "What is the zero moment point?"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = parse_events(response.read().decode())
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "meta"
    assert kinds[1] == "sources"
    assert kinds[-1] == "done"
    assert kinds.count("token") >= 3
    tokens = "".join(data["text"] for kind, data in events if kind == "token")
    done = events[-1][1]
    assert tokens == done["answer"]
    assert cited_indexes(done["answer"])
    assert done["session_id"] == events[0][1]["session_id"]
    assert done["message_id"] == events[0][1]["message_id"]
    assert events[1][1]["sources"][0]["url"].startswith("/docs/")


def test_stream_refusal_ends_with_no_sources(client: TestClient):
    with client.stream(
        "POST", "/v1/chat/stream", json={"question": "Best recipe for a chocolate cake?"}
    ) as response:
        events = parse_events(response.read().decode())
    done = events[-1][1]
    assert events[-1][0] == "done"
    assert done["answer"] == NOT_COVERED
    assert done["sources"] == []


def test_stream_validates_like_chat(client: TestClient):
    response = client.post("/v1/chat/stream", json={"question": ""})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
