"""The test Redis server: reach it (skip, or fail under ``RAG_REQUIRE_SERVICES=1``), give each test
run a key prefix of its own, and delete that prefix's keys afterwards.

The server comes from ``RAG_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``).
"""

from __future__ import annotations

import os
import uuid

import redis

from tests.utils.services import require_service

REDIS_URL = os.environ.get("RAG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_redis() -> str:
    """The test Redis URL once it answers a PING; skips (fails under CI) when it does not."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        reason = f"Redis at {REDIS_URL} is unreachable: {type(exc).__name__}: {exc}"
        require_service(False, reason)
    finally:
        client.close()
    return REDIS_URL


def unique_prefix() -> str:
    """A key prefix no other test run uses."""
    return f"rag-test:{uuid.uuid4().hex[:12]}"


def delete_prefix(url: str, prefix: str) -> int:
    """Delete every key under ``prefix``; how many there were."""
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()
