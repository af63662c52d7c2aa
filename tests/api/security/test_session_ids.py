"""Session ids are issued and signed by the service; made-up or altered ones are refused (400)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.schemas import ChatRequest
from api.security.session_ids import SessionIdSigner
from api.settings import DEV_SESSION_SECRET
from tests.utils.http_security import assert_error_body
from tests.utils.session_ids import signed_session_id

SECRET = "a-test-secret-that-is-long-enough-0123456789"  # noqa: S105 - a test secret
OTHER_SECRET = "another-deployment-secret-0123456789"  # noqa: S105 - a test secret
QUESTION = "What is ROS 2?"


def tampered(session_id: str) -> str:
    """The same id with the last character of its signature changed."""
    return session_id[:-1] + ("A" if session_id[-1] != "A" else "B")


def test_issued_ids_verify_and_fit_the_contract():
    signer = SessionIdSigner(SECRET)
    ids = {signer.issue() for _ in range(200)}
    assert len(ids) == 200
    for session_id in ids:
        assert signer.verify(session_id)
        assert len(session_id) <= 64
        assert ChatRequest(question="q", session_id=session_id).session_id == session_id


@pytest.mark.parametrize(
    "made_up",
    [
        "abc-123",
        "abc.def",
        ".abc",
        "abc.",
        "",
        "é.x",
        "x" * 22 + "." + "y" * 22,
    ],
)
def test_made_up_ids_do_not_verify(made_up: str):
    assert not SessionIdSigner(SECRET).verify(made_up)


def test_altered_ids_and_other_secrets_do_not_verify():
    signer = SessionIdSigner(SECRET)
    session_id = signer.issue()
    random_part, signature = session_id.split(".")
    assert not signer.verify(tampered(session_id))
    assert not signer.verify(f"{random_part}x.{signature}")
    assert not signer.verify(f"{random_part}.{signature[:-2]}")
    assert not SessionIdSigner(SECRET + "!").verify(session_id)
    assert signer.verify(signer.sign(random_part))
    with pytest.raises(ValueError, match="unsigned part"):
        signer.sign("has.dot")


def test_the_test_helper_signs_as_the_service_does():
    assert SessionIdSigner(DEV_SESSION_SECRET).verify(signed_session_id())
    assert SessionIdSigner(DEV_SESSION_SECRET).verify(signed_session_id("s00"))
    assert signed_session_id("s00").startswith("s00.")


# --- over HTTP (the app of tests/api/security/conftest.py) ---------------------------------


def test_a_question_without_session_id_gets_a_signed_one(client: TestClient):
    reply = client.post("/v1/chat", json={"question": QUESTION})
    assert reply.status_code == 200
    session_id = reply.json()["session_id"]
    signer = client.app_state["session_ids"]
    assert signer.verify(session_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}", session_id)

    follow_up = client.post("/v1/chat", json={"question": "And nodes?", "session_id": session_id})
    assert follow_up.status_code == 200
    assert follow_up.json()["session_id"] == session_id
    history = client.get(f"/v1/sessions/{session_id}/messages")
    assert [m["role"] for m in history.json()["messages"]] == ["user", "assistant"] * 2


def test_the_stream_issues_a_signed_session_id(client: TestClient):
    with client.stream("POST", "/v1/chat/stream", json={"question": QUESTION}) as response:
        lines = response.iter_lines()
        first, meta = next(lines), next(lines)
    assert first == "event: meta"
    session_id = re.search(r'"session_id": "([^"]+)"', meta).group(1)  # type: ignore[union-attr]  # meta has a session id
    assert client.app_state["session_ids"].verify(session_id)


@pytest.mark.parametrize(
    "session_id",
    [
        "abc-123",  # the old unsigned form
        signed_session_id(secret=OTHER_SECRET),
        tampered(signed_session_id()),
    ],
)
def test_a_session_id_this_service_did_not_sign_is_refused(client: TestClient, session_id: str):
    for reply in (
        client.post("/v1/chat", json={"question": QUESTION, "session_id": session_id}),
        client.post("/v1/chat/stream", json={"question": QUESTION, "session_id": session_id}),
        client.get(f"/v1/sessions/{session_id}/messages"),
        client.delete(f"/v1/sessions/{session_id}"),
    ):
        error = assert_error_body(reply, 400, "invalid_session")
        assert "without session_id" in error["message"]


def test_a_signed_session_with_no_messages_is_404_not_400(client: TestClient):
    # The conftest app keeps the development secret, so the test helper's ids are valid there.
    session_id = signed_session_id()
    assert_error_body(client.get(f"/v1/sessions/{session_id}/messages"), 404, "not_found")
    assert_error_body(client.delete(f"/v1/sessions/{session_id}"), 404, "not_found")


@pytest.mark.parametrize("session_id", ["a b", "a..b", "a.b.c", "x" * 65, "<script>"])
def test_a_malformed_session_id_is_a_validation_error(client: TestClient, session_id: str):
    reply = client.post("/v1/chat", json={"question": QUESTION, "session_id": session_id})
    assert_error_body(reply, 422, "invalid_request")


def test_openapi_documents_the_session_id_and_the_refusals(client: TestClient):
    schema = client.get("/openapi.json").json()
    field = schema["components"]["schemas"]["ChatRequest"]["properties"]["session_id"]
    assert field["anyOf"][0]["maxLength"] == 64
    for path, method in [
        ("/v1/chat", "post"),
        ("/v1/chat/stream", "post"),
        ("/v1/sessions/{session_id}/messages", "get"),
        ("/v1/sessions/{session_id}", "delete"),
    ]:
        assert {"400", "429"} <= set(schema["paths"][path][method]["responses"]), path
    assert "429" in schema["paths"]["/v1/messages/{message_id}/feedback"]["post"]["responses"]
