from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ServiceSettings
from rag.answer.prompts import NOT_COVERED, SELECTION_TITLE, cited_indexes
from rag.retrieval.embeddings import LocalEmbedding


@pytest.fixture(scope="module")
def client(sample_index: ServiceSettings, embed_model: LocalEmbedding) -> Iterator[TestClient]:
    with TestClient(create_app(sample_index, embed_model=embed_model)) as test_client:
        yield test_client


def test_answer_cites_sources_whose_urls_are_book_routes(client: TestClient):
    response = client.post("/v1/chat", json={"question": "What is the zero moment point?"})
    assert response.status_code == 200
    body = response.json()
    assert body["sources"], body
    cited = cited_indexes(body["answer"])
    assert cited
    indexes = {s["index"] for s in body["sources"]}
    assert set(cited) <= indexes
    for source in body["sources"]:
        assert source["url"].startswith("/docs/")
        assert source["source_path"].startswith("docs/")
    assert body["model"] == "extractive"
    assert body["degraded"] is False
    assert body["cached"] is False
    assert body["latency_ms"]["total"] >= body["latency_ms"]["retrieval"]
    assert len(body["session_id"]) >= 8
    assert body["message_id"]


def test_session_id_is_kept(client: TestClient):
    first = client.post("/v1/chat", json={"question": "What is ROS 2?"}).json()["session_id"]
    response = client.post("/v1/chat", json={"question": "What is ROS 2?", "session_id": first})
    assert response.json()["session_id"] == first


def test_a_session_id_the_service_did_not_issue_is_refused(client: TestClient):
    response = client.post("/v1/chat", json={"question": "What is ROS 2?", "session_id": "abc-123"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_session"


def test_question_outside_the_book_is_refused_without_sources(client: TestClient):
    response = client.post(
        "/v1/chat", json={"question": "What is the best recipe for a chocolate cake?"}
    )
    body = response.json()
    assert response.status_code == 200
    assert body["answer"] == NOT_COVERED
    assert body["sources"] == []
    assert cited_indexes(body["answer"]) == []


def test_selected_text_is_pinned_as_first_source(client: TestClient):
    selection = "The capture point is where the robot must step to come to a stop."
    response = client.post(
        "/v1/chat",
        json={
            "question": "What does this mean?",
            "selected_text": selection,
            "page_url": "/docs/x",
        },
    )
    body = response.json()
    assert body["sources"][0]["title"] == SELECTION_TITLE
    assert body["sources"][0]["snippet"] == selection
    assert len(body["sources"]) > 1


def test_selection_only_uses_nothing_but_the_selection(client: TestClient):
    selection = "A torque sensor in each joint lets the controller feel contact forces."
    response = client.post(
        "/v1/chat",
        json={
            "question": "Why is this useful?",
            "selected_text": selection,
            "selection_only": True,
        },
    )
    body = response.json()
    assert [s["title"] for s in body["sources"]] == [SELECTION_TITLE]
    assert cited_indexes(body["answer"]) == [1]


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"question": ""}, "question"),
        ({"question": "x" * 501}, "question"),
        ({"question": "ok", "selection_only": True}, "selection_only needs selected_text"),
        ({"question": "ok", "selected_text": "y" * 10_001}, "selected_text"),
        ({"question": "ok", "surprise": 1}, "surprise"),
        ({}, "question"),
    ],
)
def test_invalid_requests_get_the_error_body(client: TestClient, payload: dict, fragment: str):
    response = client.post("/v1/chat", json=payload)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert fragment in error["message"]
    assert error["request_id"] == response.headers["X-Request-ID"]


def test_malformed_json_is_a_422_not_a_crash(client: TestClient):
    response = client.post(
        "/v1/chat", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


def test_unknown_route_uses_the_error_body(client: TestClient):
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_request_id_is_echoed_when_valid_and_replaced_when_not(client: TestClient):
    good = client.get("/healthz", headers={"X-Request-ID": "req-12345678"})
    assert good.headers["X-Request-ID"] == "req-12345678"
    bad = client.get("/healthz", headers={"X-Request-ID": "<script>"})
    assert bad.headers["X-Request-ID"] != "<script>"


def test_health_and_readiness(client: TestClient):
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["index"] == "ok"


def test_openapi_declares_the_limits(client: TestClient):
    schema = client.get("/openapi.json").json()["components"]["schemas"]["ChatRequest"]
    assert schema["properties"]["question"]["maxLength"] == 500
    assert schema["properties"]["selected_text"]["anyOf"][0]["maxLength"] == 10_000


def test_curl_style_body_without_json_content_type_is_read_as_json(client: TestClient):
    response = client.post(
        "/v1/chat",
        content=b'{"question": "What is ROS 2?"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert response.json()["answer"]


def test_form_body_that_is_not_json_is_refused_clearly(client: TestClient):
    response = client.post(
        "/v1/chat",
        content=b"question=hello",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
