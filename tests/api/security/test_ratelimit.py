"""Rate limits with the in-process store (no Redis): per session, per address, new sessions.

Each test builds its own app (fresh counters) with the limits it is about, over the sample book.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.app import create_app
from api.monitoring.metrics import sample_total
from api.settings import ServiceSettings
from rag.retrieval.embeddings import LocalEmbedding
from tests.utils.http_security import assert_error_body

QUESTION = "What is ROS 2?"
ClientFactory = Callable[..., AbstractContextManager[TestClient]]


def ratelimit_fields(value: str) -> dict[str, dict[str, int]]:
    """``"session";r=0;t=42, "address";r=9;t=86400`` as {name: {param: value}}."""
    fields = {}
    for item in value.split(","):
        name, *params = item.strip().split(";")
        fields[name.strip('"')] = {k: int(v) for k, v in (p.split("=") for p in params)}
    return fields


@pytest.fixture
def make_client(
    sample_index: ServiceSettings, embed_model: LocalEmbedding, tmp_path: Path
) -> ClientFactory:
    @contextmanager
    def make(peer: tuple[str, int] = ("testclient", 50000), **update: Any) -> Iterator[TestClient]:
        db = tmp_path / f"chat-{len(list(tmp_path.iterdir()))}.sqlite3"
        settings = sample_index.model_copy(
            update={"database_url": f"sqlite+aiosqlite:///{db}", **update}
        )
        with TestClient(create_app(settings, embed_model=embed_model), client=peer) as client:
            yield client

    return make


def ask(client: TestClient, session_id: str | None = None, **headers: str):
    body = {"question": QUESTION, **({"session_id": session_id} if session_id else {})}
    return client.post("/v1/chat", json=body, headers=headers)


def refused_scope(client: TestClient) -> dict[str, float]:
    families = client.app_state["metrics"].collect()
    return {
        scope: sample_total(families, "rag_rate_limited_total", scope=scope)
        for scope in ("session", "address", "new_session")
    }


def test_the_eleventh_question_in_a_minute_gets_429_with_retry_after(make_client: ClientFactory):
    with make_client() as client:
        first = ask(client)
        assert first.status_code == 200
        session_id = first.json()["session_id"]
        assert ratelimit_fields(first.headers["RateLimit"])["session"]["r"] == 9
        remaining = []
        for _ in range(9):
            reply = ask(client, session_id)
            assert reply.status_code == 200, reply.text
            remaining.append(ratelimit_fields(reply.headers["RateLimit"])["session"]["r"])
        assert remaining == [8, 7, 6, 5, 4, 3, 2, 1, 0]

        # The 11th, on the streaming route of the same session: refused before any event.
        eleventh = client.post(
            "/v1/chat/stream", json={"question": QUESTION, "session_id": session_id}
        )

        error = assert_error_body(eleventh, 429, "rate_limited")
        assert "10 per 1 minute" in error["message"]
        retry_after = int(eleventh.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        policies = eleventh.headers["RateLimit-Policy"]
        assert '"session";q=10;w=60' in policies
        assert '"address";q=5000;w=86400' in policies
        session = ratelimit_fields(eleventh.headers["RateLimit"])["session"]
        assert session["r"] == 0
        assert 1 <= session["t"] <= 60
        assert refused_scope(client) == {"session": 1, "address": 0, "new_session": 0}

        # Another conversation is counted on its own.
        assert ask(client).status_code == 200


def test_successful_answers_carry_the_ratelimit_headers(make_client: ClientFactory):
    with make_client() as client:
        reply = ask(client)
        assert reply.status_code == 200
        assert reply.headers["RateLimit-Policy"] == (
            '"address";q=5000;w=86400, "new_session";q=120;w=3600, "session";q=10;w=60'
        )
        fields = ratelimit_fields(reply.headers["RateLimit"])
        assert {name: f["r"] for name, f in fields.items()} == {
            "address": 4999,
            "new_session": 119,
            "session": 9,
        }
        follow_up = client.post(
            "/v1/chat/stream", json={"question": QUESTION, "session_id": reply.json()["session_id"]}
        )
        assert follow_up.status_code == 200
        assert follow_up.headers["content-type"].startswith("text/event-stream")
        assert ratelimit_fields(follow_up.headers["RateLimit"]).keys() == {"address", "session"}
        assert ratelimit_fields(follow_up.headers["RateLimit"])["session"]["r"] == 8


def test_new_sessions_are_limited_per_address(make_client: ClientFactory):
    with make_client(rate_limit_new_sessions="3/hour") as client:
        sessions = [ask(client).json()["session_id"] for _ in range(3)]
        fourth = ask(client)
        error = assert_error_body(fourth, 429, "rate_limited")
        assert "new conversations" in error["message"]
        assert 1 <= int(fourth.headers["Retry-After"]) <= 3600
        assert ratelimit_fields(fourth.headers["RateLimit"])["new_session"]["r"] == 0
        # The conversations already started go on.
        assert ask(client, sessions[0]).status_code == 200
        assert refused_scope(client)["new_session"] == 1


@pytest.mark.slow
def test_a_classroom_behind_one_address_is_not_locked_out_by_the_defaults(
    make_client: ClientFactory,
):
    """40 readers behind one NAT each start a conversation and follow it up within the hour; the
    per-session limit still holds for each of them, and new conversations stay bounded."""
    with make_client() as client:  # the default limits
        sessions = []
        for _ in range(40):
            first = ask(client)
            assert first.status_code == 200, first.text
            sessions.append(first.json()["session_id"])
        assert all(ask(client, session_id).status_code == 200 for session_id in sessions)

        # One reader asking fast is still held to 10 questions a minute, alone.
        for _ in range(8):
            assert ask(client, sessions[0]).status_code == 200
        assert_error_body(ask(client, sessions[0]), 429, "rate_limited")
        assert ask(client, sessions[1]).status_code == 200

        # Minting conversations from that address stops at 120 an hour.
        for _ in range(120 - 40):
            assert ask(client).status_code == 200
        refused = ask(client)
        assert_error_body(refused, 429, "rate_limited")
        assert "new conversations" in refused.json()["error"]["message"]
        assert refused_scope(client) == {"session": 1, "address": 0, "new_session": 1}


def test_the_address_limit_covers_every_reader_route(make_client: ClientFactory):
    with make_client(rate_limit_address="5/minute") as client:
        reply = ask(client)  # 1
        session_id, message_id = reply.json()["session_id"], reply.json()["message_id"]
        history = client.get(f"/v1/sessions/{session_id}/messages")  # 2
        assert history.status_code == 200
        address = ratelimit_fields(history.headers["RateLimit"])["address"]
        assert address["r"] == 3
        assert 1 <= address["t"] <= 60
        assert history.headers["RateLimit-Policy"] == '"address";q=5;w=60'
        rated = client.post(f"/v1/messages/{message_id}/feedback", json={"rating": "up"})  # 3
        assert rated.status_code == 200
        assert ratelimit_fields(rated.headers["RateLimit"])["address"]["r"] == 2
        deleted = client.delete(f"/v1/sessions/{session_id}")  # 4
        assert deleted.status_code == 204
        assert ratelimit_fields(deleted.headers["RateLimit"])["address"]["r"] == 1
        assert ask(client).status_code == 200  # 5

        for refused in (
            ask(client),
            client.get(f"/v1/sessions/{session_id}/messages"),
            client.post(f"/v1/messages/{message_id}/feedback", json={"rating": "down"}),
            client.delete(f"/v1/sessions/{session_id}"),
        ):
            error = assert_error_body(refused, 429, "rate_limited")
            assert "from your network" in error["message"]
            assert int(refused.headers["Retry-After"]) >= 1
        assert refused_scope(client)["address"] == 4
        # Operations routes are not reader routes.
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200


def test_a_rotating_forwarded_for_from_an_untrusted_client_keeps_one_count(
    make_client: ClientFactory,
):
    with make_client(peer=("203.0.113.9", 40000), rate_limit_address="3/minute") as client:
        statuses = [
            ask(client, **{"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(5)
        ]
    assert statuses == [200, 200, 200, 429, 429]


def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(make_client: ClientFactory):
    peer = ("10.1.2.3", 40000)
    with make_client(peer=peer, rate_limit_address="2/minute", trusted_proxies=["10.0.0.0/8"]) as c:
        # Different readers behind the proxy: each has its own count.
        readers = [ask(c, **{"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(4)]
        # One reader forging entries to the left of what the proxy appended: one count.
        forged = [
            ask(c, **{"X-Forwarded-For": f"192.0.2.{i}, 198.51.100.77"}).status_code
            for i in range(3)
        ]
        # Requests from the proxy itself without the header: the proxy's own count.
        direct = [ask(c).status_code for _ in range(3)]
    assert readers == [200, 200, 200, 200]
    assert forged == [200, 200, 429]
    assert direct == [200, 200, 429]


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("RAG_RATE_LIMIT_SESSION", "often", "not a rate limit"),
        ("RAG_RATE_LIMIT_ADDRESS", "0/day", "at least 1"),
        ("RAG_RATE_LIMIT_NEW_SESSIONS", "20 per fortnight", "not a rate limit"),
        ("RAG_TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal", "not an IP address or CIDR"),
        ("RAG_REDIS_URL", "http://127.0.0.1:6379", "redis://"),
    ],
)
def test_bad_limit_settings_refuse_to_start(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str, fragment: str
):
    monkeypatch.setenv(field, value)
    with pytest.raises(ValidationError) as excinfo:
        ServiceSettings(_env_file=None)
    message = str(excinfo.value)
    assert field.removeprefix("RAG_").lower() in message
    assert fragment in message


def test_limits_read_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAG_RATE_LIMIT_SESSION", "5/second")
    monkeypatch.setenv("RAG_RATE_LIMIT_ADDRESS", "100/hour")
    monkeypatch.setenv("RAG_TRUSTED_PROXIES", "10.0.0.1, 2001:db8::/32")
    settings = ServiceSettings(_env_file=None)
    assert (settings.rate_limit_session, settings.rate_limit_address) == ("5/second", "100/hour")
    assert settings.trusted_proxies == ["10.0.0.1", "2001:db8::/32"]
    assert settings.rate_limit_new_sessions == "120/hour"
