"""Conversations over HTTP: history, follow-ups, deletion, feedback (SQLite in the data dir)."""

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ServiceSettings
from rag.retrieval.embeddings import LocalEmbedding


@pytest.fixture(scope="module")
def client(
    sample_index: ServiceSettings,
    embed_model: LocalEmbedding,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TestClient]:
    db = tmp_path_factory.mktemp("db") / "chat.sqlite3"
    settings = sample_index.model_copy(
        update={"database_url": f"sqlite+aiosqlite:///{db}", "cache_max_entries": 0}
    )
    with TestClient(create_app(settings, embed_model=embed_model)) as test_client:
        yield test_client


def chat(client: TestClient, **body: object) -> dict:
    response = client.post("/v1/chat", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_history_lists_each_question_and_answer_in_order(client: TestClient):
    first = chat(client, question="What is a series elastic actuator?")
    sid = first["session_id"]
    second = chat(client, question="Who invented it?", session_id=sid)
    messages = client.get(f"/v1/sessions/{sid}/messages").json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert [m["content"] for m in messages[::2]] == [
        "What is a series elastic actuator?",
        "Who invented it?",
    ]
    assert messages[1]["id"] == first["message_id"]
    assert messages[3]["id"] == second["message_id"]
    assert messages[3]["content"] == second["answer"]
    assert messages[3]["sources"] == second["sources"]


def test_a_follow_up_is_answered_from_the_conversation_topic(client: TestClient):
    sid = chat(client, question="What is Dex-Net?")["session_id"]
    follow_up = chat(client, question="How large was its synthetic dataset?", session_id=sid)
    paths = [s["source_path"] for s in follow_up["sources"]]
    assert "docs/04-humanoids/manipulation-and-grasping.md" in paths[:3]


def test_deleting_a_session_removes_its_messages(client: TestClient):
    reply = chat(client, question="What is ROS 2?")
    sid = reply["session_id"]
    client.post(f"/v1/messages/{reply['message_id']}/feedback", json={"rating": "up"})
    assert client.delete(f"/v1/sessions/{sid}").status_code == 204
    gone = client.get(f"/v1/sessions/{sid}/messages")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"
    assert client.delete(f"/v1/sessions/{sid}").status_code == 404
    feedback = client.post(f"/v1/messages/{reply['message_id']}/feedback", json={"rating": "up"})
    assert feedback.status_code == 404


def test_feedback_is_one_per_answer_and_can_be_changed(client: TestClient):
    reply = chat(client, question="What is the zero moment point?")
    url = f"/v1/messages/{reply['message_id']}/feedback"
    up = client.post(url, json={"rating": "up"})
    assert up.status_code == 200
    assert up.json()["rating"] == "up"
    down = client.post(url, json={"rating": "down", "comment": "Too short."})
    assert down.json() == {**down.json(), "rating": "down", "comment": "Too short."}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"rating": "sideways"}, 422),
        ({"rating": "up", "comment": "x" * 1001}, 422),
        ({"rating": "up", "extra": 1}, 422),
    ],
)
def test_bad_feedback_is_refused(client: TestClient, body: dict, status: int):
    reply = chat(client, question="What is a digital twin?")
    response = client.post(f"/v1/messages/{reply['message_id']}/feedback", json=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == "invalid_request"


def test_feedback_on_unknown_or_user_messages_is_404(client: TestClient):
    assert client.post("/v1/messages/nope/feedback", json={"rating": "up"}).status_code == 404
    sid = chat(client, question="What is MuJoCo?")["session_id"]
    user_id = client.get(f"/v1/sessions/{sid}/messages").json()["messages"][0]["id"]
    assert client.post(f"/v1/messages/{user_id}/feedback", json={"rating": "up"}).status_code == 404


def test_stream_done_equals_the_json_answer_and_is_stored(client: TestClient):
    question = "How do ROS 2 services work?"
    json_answer = chat(client, question=question)
    with client.stream("POST", "/v1/chat/stream", json={"question": question}) as response:
        text = response.read().decode()
    blocks = [b for b in text.strip().split("\n\n") if b.startswith("event: done")]
    done = json.loads(blocks[0].split("data: ", 1)[1])
    assert done["answer"] == json_answer["answer"]
    assert done["sources"] == json_answer["sources"]
    stored = client.get(f"/v1/sessions/{done['session_id']}/messages").json()["messages"]
    assert stored[-1]["id"] == done["message_id"]
    assert stored[-1]["content"] == done["answer"]
    assert not stored[-1]["interrupted"]


def test_invalid_session_id_in_path_is_refused(client: TestClient):
    response = client.get("/v1/sessions/bad%20id/messages")
    assert response.status_code == 422
