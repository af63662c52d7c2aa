"""``GET /v1/admin/stats`` after a scripted session, and the public shell of the dashboard."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ServiceSettings
from rag.retrieval.embeddings import LocalEmbedding
from tests.api.monitoring.support import PRIMARY, llm_settings
from tests.utils.simulator import Simulator

KEY = "admin-key-for-stats-tests"
ADMIN = {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def session_log(
    sample_index: ServiceSettings,
    embed_model: LocalEmbedding,
    sim: Simulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    """The service after two chats (one cached), one refused 429, one stream, two ratings."""
    sim.reset()
    database = tmp_path_factory.mktemp("stats") / "stats.sqlite3"
    settings = llm_settings(
        sample_index,
        sim,
        admin_api_keys=[KEY],
        daily_budget_usd=2.0,
        rate_limit_session="1/minute",
        database_url=f"sqlite+aiosqlite:///{database.as_posix()}",
    )
    with TestClient(create_app(settings, embed_model=embed_model)) as client:
        question = {"question": "What is the zero moment point?"}
        first = client.post("/v1/chat", json=question).json()
        cached = client.post("/v1/chat", json=question).json()  # another reader, same question
        again = {"question": "And then?", "session_id": first["session_id"]}
        limited = client.post("/v1/chat", json=again)  # 1 question a minute per session
        stream = client.post(
            "/v1/chat/stream", json={"question": "How does a series elastic actuator work?"}
        )
        done = json.loads(stream.text.split("event: done\ndata: ")[1].split("\n")[0])
        for message, rating in ((first, "up"), (done, "down")):
            rated = client.post(
                f"/v1/messages/{message['message_id']}/feedback", json={"rating": rating}
            )
            assert rated.status_code == 200, rated.text
        assert client.get("/no/such/path").status_code == 404
        yield client, {"first": first, "cached": cached, "limited": limited, "done": done}


@pytest.fixture(scope="module")
def stats(session_log: tuple[TestClient, dict[str, Any]]) -> dict[str, Any]:
    client, _ = session_log
    response = client.get("/v1/admin/stats", params={"days": 3}, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}])
def test_stats_need_an_admin_key(session_log, headers: dict[str, str]):
    client, _ = session_log
    response = client.get("/v1/admin/stats", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("days", [0, 91, "x"])
def test_days_out_of_range_is_refused(session_log, days: object):
    client, _ = session_log
    response = client.get("/v1/admin/stats", params={"days": days}, headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


def test_requests_errors_and_rate_limits(session_log, stats: dict[str, Any]):
    _, log = session_log
    assert log["limited"].status_code == 429
    http = stats["http"]
    assert http["requests"] >= 7
    assert http["server_errors"] == 0
    assert http["client_errors"] >= 1  # the 404 (the 429 is not one)
    assert http["rate_limited"] == 1
    assert http["rate_limited_by_scope"] == {"session": 1, "address": 0, "new_session": 0}
    latency = http["chat_latency_s"]
    assert latency["count"] == 4  # three /v1/chat and one stream
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]
    assert http["chat_latency_buckets"][-1] == {"le": None, "count": 4}


def test_answers_cache_and_models(session_log, stats: dict[str, Any]):
    assert stats["answers"]["total"] == 3
    assert stats["answers"]["by_outcome"] == {
        "answered": 2,
        "refused": 0,
        "degraded": 0,
        "cached": 1,
    }
    assert stats["answers"]["stage_latency_s"]["total"]["count"] == 3
    assert stats["cache"] == {"hits": 1, "misses": 2, "hit_rate": pytest.approx(1 / 3)}
    primary = next(m for m in stats["models"] if m["model"] == PRIMARY)
    assert primary["attempts"] == {"ok": 2}
    assert primary["errors"] == primary["fallbacks"] == 0
    assert primary["breaker"] == "closed"
    assert primary["ttft_s"]["count"] == 1
    assert primary["cost_usd"] > 0


def test_spend_per_model_and_day_from_the_database(session_log, stats: dict[str, Any]):
    _, log = session_log
    paid = [log["first"]["usage"], log["done"]["usage"]]
    spend = stats["spend"]
    assert spend["today_usd"] == pytest.approx(sum(u["cost_usd"] for u in paid))
    assert spend["budget_usd"] == 2.0
    assert spend["budget_used"] == pytest.approx(spend["today_usd"] / 2.0)
    assert spend["over_alert"] is False
    today = datetime.now(UTC).date()
    assert [d["day"] for d in spend["daily"]] == [
        (today - timedelta(days=n)).isoformat() for n in (2, 1, 0)
    ]
    assert [d["cost_usd"] for d in spend["daily"][:2]] == [0, 0]
    [model] = spend["today_by_model"]
    assert model["model"] == PRIMARY
    assert model["answers"] == 3  # the cached answer is stored too, at no cost
    assert model["prompt_tokens"] == sum(u["prompt_tokens"] for u in paid)
    assert model["completion_tokens"] == sum(u["completion_tokens"] for u in paid)
    by_model = {m["model"]: m["cost_usd"] for m in stats["models"]}
    assert by_model == {PRIMARY: pytest.approx(spend["today_usd"]), "backup": 0}


def test_index_feedback_and_readiness(stats: dict[str, Any]):
    assert stats["ready"] is True
    assert stats["index"]["chunks"] > 10
    assert stats["index"]["version"] >= 1
    assert stats["index"]["collection"] == f"textbook__v{stats['index']['version']}"
    assert stats["feedback"] == {"up": 1, "down": 1}
    assert stats["workers_merged"] is False


def test_the_dashboard_is_a_public_shell_that_runs_under_a_strict_policy(session_log):
    client, _ = session_log
    page = client.get("/v1/admin/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "'unsafe-inline'" not in policy
    html = page.text
    assert re.findall(r"<script[^>]*>", html) == ['<script src="dashboard.js" defer>']
    assert "<style" not in html
    assert " style=" not in html
    assert re.search(r"<[^>]*\son[a-z]+\s*=", html) is None  # no inline event handlers
    script = client.get("/v1/admin/dashboard.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "X-API-Key" in script.text
    style = client.get("/v1/admin/dashboard.css")
    assert style.headers["content-type"].startswith("text/css")
    assert "/v1/admin/dashboard" not in client.get("/openapi.json").json()["paths"]
