"""GET /v1/admin/feedback: readers' ratings with the question and answer, newest first, paged."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.admin.conftest import ADMIN

QUESTIONS = [
    ("What is the zero moment point?", "up", "clear and short"),
    ("What is ROS 2?", "down", None),
    ("How does a series elastic actuator measure torque?", "down", "missed the spring"),
]


@pytest.fixture(scope="module")
def rated(admin_client: TestClient) -> list[dict[str, str | None]]:
    """Three answers rated in order (the last one rated is the newest)."""
    rated = []
    for question, rating, comment in QUESTIONS:
        answer = admin_client.post("/v1/chat", json={"question": question})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        feedback = admin_client.post(
            f"/v1/messages/{body['message_id']}/feedback",
            json={"rating": rating, "comment": comment},
        )
        assert feedback.status_code == 200, feedback.text
        rated.append(
            {
                "message_id": body["message_id"],
                "question": question,
                "answer": body["answer"],
                "rating": rating,
                "comment": comment,
            }
        )
    return rated


def test_feedback_comes_with_question_and_answer_newest_first(
    admin_client: TestClient, rated: list[dict[str, str | None]]
):
    response = admin_client.get("/v1/admin/feedback", headers=ADMIN)
    assert response.status_code == 200
    page = response.json()
    assert page["total"] == 3
    assert (page["limit"], page["offset"]) == (50, 0)
    items = page["items"]
    assert [item["message_id"] for item in items] == [r["message_id"] for r in reversed(rated)]
    for item, expected in zip(items, reversed(rated), strict=True):
        assert item["question"] == expected["question"]
        assert item["answer"] == expected["answer"]
        assert item["rating"] == expected["rating"]
        assert item["comment"] == expected["comment"]
        assert item["model"] == "extractive"
        assert item["session_id"]


def test_filter_by_rating_and_page(admin_client: TestClient, rated: list[dict[str, str | None]]):
    downs = admin_client.get("/v1/admin/feedback?rating=down", headers=ADMIN).json()
    assert downs["total"] == 2
    assert [i["question"] for i in downs["items"]] == [QUESTIONS[2][0], QUESTIONS[1][0]]

    first = admin_client.get("/v1/admin/feedback?limit=1", headers=ADMIN).json()
    second = admin_client.get("/v1/admin/feedback?limit=1&offset=1", headers=ADMIN).json()
    past = admin_client.get("/v1/admin/feedback?limit=1&offset=3", headers=ADMIN).json()
    assert [i["message_id"] for i in first["items"]] == [rated[2]["message_id"]]
    assert [i["message_id"] for i in second["items"]] == [rated[1]["message_id"]]
    assert past["items"] == []
    assert first["total"] == second["total"] == past["total"] == 3


def test_rating_again_moves_it_to_the_top(
    admin_client: TestClient, rated: list[dict[str, str | None]]
):
    oldest = rated[0]
    again = admin_client.post(
        f"/v1/messages/{oldest['message_id']}/feedback", json={"rating": "down"}
    )
    assert again.status_code == 200
    top = admin_client.get("/v1/admin/feedback?limit=1", headers=ADMIN).json()["items"][0]
    assert top["message_id"] == oldest["message_id"]
    assert top["rating"] == "down"
    assert top["question"] == oldest["question"]


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=201", "offset=-1", "offset=1000001", "rating=meh", "limit=ten"],
)
def test_out_of_bounds_paging_is_422(admin_client: TestClient, query: str):
    response = admin_client.get(f"/v1/admin/feedback?{query}", headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
