"""Shared rate limits on a real Redis: two ``rag-serve`` processes, and Redis going away.

Every test run uses a key prefix of its own in Redis (``RAG_RATE_LIMIT_KEY_PREFIX``), emptied
before each test and deleted at the end. Redis comes from ``RAG_TEST_REDIS_URL``; the module
skips when it is unreachable, unless ``RAG_REQUIRE_SERVICES=1`` (CI), where it fails.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from api.app import create_app
from api.security.ratelimit import RateLimitHooks, build_rate_limiter
from api.settings import ServiceSettings
from perf.serving import run_service
from rag.retrieval.embeddings import LocalEmbedding
from tests.utils.redis_service import delete_prefix, require_redis, unique_prefix
from tests.utils.tcp_proxy import TcpProxy

# Redis is checked first, so an unreachable one skips before the book is indexed.
pytestmark = [pytest.mark.redis, pytest.mark.usefixtures("redis_url")]

QUESTION = "What is ROS 2?"


@pytest.fixture(scope="session")
def redis_url() -> str:
    return require_redis()


@pytest.fixture(scope="module")
def prefix(redis_url: str) -> Iterator[str]:
    name = unique_prefix()
    try:
        yield name
    finally:
        delete_prefix(redis_url, name)


@pytest.fixture(autouse=True)
def fresh_counts(redis_url: str, prefix: str) -> None:
    delete_prefix(redis_url, prefix)


def keys_under(url: str, prefix: str) -> list[bytes]:
    with redis.Redis.from_url(url) as client:
        return list(client.scan_iter(match=f"{prefix}:*"))


# --- two server processes sharing Redis -----------------------------------------------------


@pytest.fixture(scope="module")
def servers(
    sample_index: ServiceSettings,
    redis_url: str,
    prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str]]:
    """Two rag-serve processes, each over its own copy of the sample index, one Redis."""
    env = {
        "RAG_REDIS_URL": redis_url,
        "RAG_RATE_LIMIT_KEY_PREFIX": prefix,
        "RAG_RATE_LIMIT_SESSION": "10/minute",
        "RAG_RATE_LIMIT_ADDRESS": "1000/day",
        "RAG_RATE_LIMIT_NEW_SESSIONS": "5/hour",
        "RAG_TRUSTED_PROXIES": "",
    }
    with ExitStack() as stack:
        bases = []
        for name in ("a", "b"):
            data_dir = tmp_path_factory.mktemp(f"instance-{name}")
            shutil.copytree(sample_index.qdrant_path, data_dir / "qdrant")
            base, _pid = stack.enter_context(run_service(data_dir, env))
            bases.append(base)
        yield bases[0], bases[1]


def test_two_instances_accept_exactly_10_of_20_alternating_requests(
    servers: tuple[str, str], redis_url: str, prefix: str
):
    first = httpx.post(f"{servers[0]}/v1/chat", json={"question": QUESTION}, timeout=60)
    assert first.status_code == 200, first.text
    session_id = first.json()["session_id"]
    replies = [first]
    for i in range(1, 20):
        body = {"question": QUESTION, "session_id": session_id}
        replies.append(httpx.post(f"{servers[i % 2]}/v1/chat", json=body, timeout=60))

    statuses = [reply.status_code for reply in replies]
    assert statuses == [200] * 10 + [429] * 10, statuses
    assert keys_under(redis_url, prefix), "nothing was counted in Redis"

    # The 11th: refused with the error body, Retry-After and the RateLimit headers.
    eleventh = replies[10]
    error = eleventh.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["request_id"] == eleventh.headers["X-Request-ID"]
    assert 1 <= int(eleventh.headers["Retry-After"]) <= 60
    assert '"session";q=10;w=60' in eleventh.headers["RateLimit-Policy"]
    assert '"session";r=0;t=' in eleventh.headers["RateLimit"]
    # The 10th, accepted, was the last of the quota (the refusals alternate between instances).
    assert '"session";r=0;' in replies[9].headers["RateLimit"]


def test_a_rotating_forwarded_for_from_an_untrusted_client_does_not_reset_the_count(
    servers: tuple[str, str],
):
    statuses = []
    for i in range(10):
        forged = f"198.51.{i}.{uuid.uuid4().int % 250 + 1}"
        reply = httpx.post(
            f"{servers[i % 2]}/v1/chat",
            json={"question": QUESTION},
            headers={"X-Forwarded-For": forged},
            timeout=60,
        )
        statuses.append(reply.status_code)
        if reply.status_code == 429:
            assert "new conversations" in reply.json()["error"]["message"]
    # RAG_RATE_LIMIT_NEW_SESSIONS=5/hour for the one real address, whatever the header says.
    assert statuses == [200] * 5 + [429] * 5, statuses


# --- Redis going away under one app -------------------------------------------------------


def via_proxy(url: str, port: int) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}"))


@pytest.fixture
def proxy(redis_url: str) -> Iterator[TcpProxy]:
    url = urlsplit(redis_url)
    tcp = TcpProxy((url.hostname or "127.0.0.1", url.port or 6379))
    tcp.start()
    try:
        yield tcp
    finally:
        tcp.stop()


def test_redis_down_fails_over_to_in_process_limits(
    sample_index: ServiceSettings,
    embed_model: LocalEmbedding,
    tmp_path: Path,
    proxy: TcpProxy,
    redis_url: str,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
):
    settings = sample_index.model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'chat.sqlite3'}",
            "redis_url": via_proxy(redis_url, proxy.port),
            "rate_limit_key_prefix": prefix,
            "rate_limit_session": "4/minute",
        }
    )
    caplog.set_level(logging.WARNING, logger="api.security.ratelimit")
    with TestClient(create_app(settings, embed_model=embed_model)) as client:
        first = client.post("/v1/chat", json={"question": QUESTION})
        assert first.status_code == 200
        session_id = first.json()["session_id"]
        assert keys_under(redis_url, prefix), "the first question was not counted in Redis"

        proxy.stop()  # Redis is gone: every open connection cut, nothing listens
        body = {"question": QUESTION, "session_id": session_id}
        statuses = [client.post("/v1/chat", json=body).status_code for _ in range(5)]

        # Readers keep getting answers, and the limit still holds, counted in this process
        # from zero (one question went to Redis before it failed).
        assert statuses == [200, 200, 200, 200, 429], statuses
        assert client.app_state["rate_limiter"].degraded
    warnings = [r.getMessage() for r in caplog.records if "rate-limit store" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "unreachable" in warnings[0]
    assert "counting in this process" in warnings[0]


@pytest.mark.anyio
async def test_the_limiter_goes_back_to_redis_when_it_returns(
    base_settings: ServiceSettings,
    proxy: TcpProxy,
    redis_url: str,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
):
    errors: list[None] = []
    settings = base_settings.model_copy(
        update={"redis_url": via_proxy(redis_url, proxy.port), "rate_limit_key_prefix": prefix}
    )
    limiter = build_rate_limiter(
        settings, RateLimitHooks(on_storage_error=lambda: errors.append(None)), shared_retry_s=0.3
    )
    policy = limiter.policies.session
    key = f"{prefix}:{policy.item.key_for(policy.name, 'k')}"
    caplog.set_level(logging.WARNING, logger="api.security.ratelimit")
    with redis.Redis.from_url(redis_url) as direct:
        try:
            assert (await limiter.hit(policy, "k")).remaining == 9
            assert direct.llen(key) == 1

            proxy.stop()
            during = await limiter.hit(policy, "k")
            assert during.allowed
            assert during.remaining == 9  # a fresh in-process count
            assert limiter.degraded
            assert len(errors) == 1
            assert not await limiter.check()

            proxy.start()
            await asyncio.sleep(0.4)  # past shared_retry_s
            after = await limiter.hit(policy, "k")
            assert not limiter.degraded
            assert direct.llen(key) == 2  # counted in Redis again
            assert after.remaining == 8
            assert await limiter.check()
        finally:
            await limiter.aclose()
    messages = [r.getMessage() for r in caplog.records]
    assert any("reachable again" in m for m in messages), messages
