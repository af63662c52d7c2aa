"""Conversations on PostgreSQL for real: rag-serve as a process, its database behind a TCP proxy.

The proxy (``tests/utils/tcp_proxy.py``) sits between the service and PostgreSQL, so a test can
"stop the database" (close the listener and cut every open connection) and start it again on the
same port without touching the server the rest of the suite uses. The module gets a database of
its own, created empty (the service migrates it at start-up) and dropped afterwards. PostgreSQL
comes from ``RAG_TEST_POSTGRES_URL``; when it is unreachable the module skips, naming it, unless
``RAG_REQUIRE_SERVICES=1``, where it fails.

The tests run in order and share one conversation set: the concurrent chats write it, the restart
and the outage check that it survives.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from api.settings import ServiceSettings
from perf.serving import run_service
from tests.utils.postgres_service import (
    POSTGRES_URL,
    create_database,
    drop_database,
    require_postgres,
)
from tests.utils.session_ids import signed_session_id as sid
from tests.utils.simulator import ModelKnobs, Simulator, run_simulator
from tests.utils.tcp_proxy import TcpProxy

# The server is checked first, so an unreachable one skips before the book is indexed.
pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("reachable_postgres")]

SAMPLE_QA = Path(__file__).resolve().parents[2] / "sample_book" / "qa.jsonl"

SESSIONS = 20
CHATS_PER_SESSION = 10
IN_FLIGHT = 20
DB_TIMEOUT_S = 2  # RAG_DB_CONNECT_TIMEOUT_S and RAG_DB_POOL_TIMEOUT_S
OUTAGE_ANSWER_S = 3 * DB_TIMEOUT_S + 2  # an outage must be reported well before a client gives up
RECOVERY_S = 10.0


# --- the database, behind the proxy ---------------------------------------------------------


@pytest.fixture(scope="session")
def reachable_postgres() -> str:
    """The admin URL of the test PostgreSQL server, after checking it answers (else skip/fail)."""
    return asyncio.run(require_postgres())


@pytest.fixture(scope="module")
def database(reachable_postgres: str) -> Iterator[str]:
    """The name of a new, empty PostgreSQL database, dropped after the module."""
    name = asyncio.run(create_database())
    try:
        yield name
    finally:
        asyncio.run(drop_database(name))


@pytest.fixture(scope="module")
def proxy(database: str) -> Iterator[TcpProxy]:
    """A TCP proxy on a free loopback port, forwarding to the PostgreSQL server."""
    url = make_url(POSTGRES_URL)
    tcp = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    tcp.start()
    try:
        yield tcp
    finally:
        tcp.stop()


@pytest.fixture(scope="module")
def llm() -> Iterator[Simulator]:
    with run_simulator({"fast": ModelKnobs(ttft_ms=0, tps=0)}) as simulator:
        yield simulator


# --- the service ------------------------------------------------------------------------------


@dataclass
class Service:
    """rag-serve as a process that a test can stop and start again (on a new port)."""

    data_dir: Path
    env: dict[str, str]
    base: str = ""
    _stack: ExitStack = field(default_factory=ExitStack)

    def start(self) -> None:
        self.base, _pid = self._stack.enter_context(run_service(self.data_dir, self.env))

    def stop(self) -> None:
        self._stack.close()
        self.base = ""


@pytest.fixture(scope="module")
def service(
    database: str, proxy: TcpProxy, llm: Simulator, sample_index: ServiceSettings
) -> Iterator[Service]:
    url = make_url(POSTGRES_URL).set(host="127.0.0.1", port=proxy.port, database=database)
    env = {
        "RAG_DATABASE_URL": url.render_as_string(hide_password=False),
        "RAG_LLM_BASE_URL": llm.v1_url,
        "RAG_LLM_API_KEY": "test",
        "RAG_LLM_MODEL": "fast",
        "RAG_CACHE_MAX_ENTRIES": "0",
        "RAG_LLM_MAX_IN_FLIGHT": str(2 * IN_FLIGHT),
        "RAG_DB_CONNECT_TIMEOUT_S": str(DB_TIMEOUT_S),
        "RAG_DB_POOL_TIMEOUT_S": str(DB_TIMEOUT_S),
    }
    svc = Service(sample_index.data_dir, env)
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


# --- the conversations --------------------------------------------------------------------------


@dataclass
class Exchange:
    session_id: str
    question: str
    status: int = 0
    message_id: str = ""
    answer: str = ""
    error: str = ""


def _questions() -> list[str]:
    lines = SAMPLE_QA.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


async def _chat_all(base: str, exchanges: list[Exchange]) -> None:
    """POST every exchange's question, ``IN_FLIGHT`` at a time, recording each answer."""
    gate = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)

    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def chat(exchange: Exchange) -> None:
            async with gate:
                body = {"question": exchange.question, "session_id": exchange.session_id}
                try:
                    response = await client.post("/v1/chat", json=body)
                except httpx.HTTPError as exc:
                    exchange.error = repr(exc)
                    return
            exchange.status = response.status_code
            if response.status_code != 200:
                exchange.error = response.text[:500]
                return
            data = response.json()
            assert data["session_id"] == exchange.session_id
            exchange.message_id, exchange.answer = data["message_id"], data["answer"]

        await asyncio.gather(*(chat(exchange) for exchange in exchanges))


@pytest.fixture(scope="module")
def conversations(service: Service) -> dict[str, list[Exchange]]:
    """200 chats over 20 sessions, shuffled so each session's chats race each other."""
    questions = _questions()
    assert len(questions) >= CHATS_PER_SESSION
    rng = random.Random(20240601)  # noqa: S311 - a reproducible test order
    by_session = {
        sid(f"s{i:02d}"): [
            Exchange(sid(f"s{i:02d}"), question)
            for question in rng.sample(questions, CHATS_PER_SESSION)
        ]
        for i in range(SESSIONS)
    }
    order = [exchange for exchanges in by_session.values() for exchange in exchanges]
    rng.shuffle(order)
    asyncio.run(_chat_all(service.base, order))
    return by_session


def _messages(base: str, session_id: str) -> list[dict]:
    response = httpx.get(f"{base}/v1/sessions/{session_id}/messages", timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["session_id"] == session_id
    return body["messages"]


def _assert_history(messages: list[dict], exchanges: list[Exchange]) -> None:
    """Question, its own answer, question, its own answer...: each exchange once, none else."""
    assert len(messages) == 2 * len(exchanges)
    assert [m["role"] for m in messages] == ["user", "assistant"] * len(exchanges)
    ids = [m["id"] for m in messages]
    assert len(set(ids)) == len(ids), "a message id appears twice"
    by_question = {exchange.question: exchange for exchange in exchanges}
    stored_questions = [m["content"] for m in messages[0::2]]
    assert sorted(stored_questions) == sorted(by_question), "questions lost or duplicated"
    for question, answer in zip(messages[0::2], messages[1::2], strict=True):
        exchange = by_question[question["content"]]
        assert answer["id"] == exchange.message_id, f"{question['content']!r} got another answer"
        assert answer["content"] == exchange.answer
        assert not answer["interrupted"]
        assert not question["interrupted"]


def _snapshot(base: str) -> dict[str, list[dict]]:
    return {sid(f"s{i:02d}"): _messages(base, sid(f"s{i:02d}")) for i in range(SESSIONS)}


# --- the tests ------------------------------------------------------------------------------


def test_concurrent_chats_keep_every_exchange_in_order(
    service: Service, conversations: dict[str, list[Exchange]]
):
    exchanges = [exchange for session in conversations.values() for exchange in session]
    failed = [(e.session_id, e.status, e.error) for e in exchanges if e.status != 200]
    assert not failed, f"{len(failed)} of {len(exchanges)} chats failed, e.g. {failed[:3]}"
    assert all(exchange.answer.strip() for exchange in exchanges)
    message_ids = [exchange.message_id for exchange in exchanges]
    assert len(set(message_ids)) == len(message_ids)
    for session_id, session in conversations.items():
        _assert_history(_messages(service.base, session_id), session)


def test_history_survives_a_restart(service: Service, conversations: dict[str, list[Exchange]]):
    before = _snapshot(service.base)
    service.stop()
    service.start()
    assert httpx.get(f"{service.base}/readyz", timeout=10).status_code == 200
    after = _snapshot(service.base)
    assert after == before
    for session_id, session in conversations.items():
        _assert_history(after[session_id], session)


def _assert_storage_unavailable(response: httpx.Response, elapsed_s: float) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "storage_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert elapsed_s < OUTAGE_ANSWER_S


def test_database_outage_answers_503_and_recovers_by_itself(
    service: Service, proxy: TcpProxy, conversations: dict[str, list[Exchange]]
):
    before = _snapshot(service.base)
    question = _questions()[0]
    with httpx.Client(base_url=service.base, timeout=30) as client:
        proxy.stop()
        try:
            for name in ("s00", "s01", "new-during-outage"):
                started = time.monotonic()
                reply = client.post(
                    "/v1/chat", json={"question": question, "session_id": sid(name)}
                )
                _assert_storage_unavailable(reply, time.monotonic() - started)

            started = time.monotonic()
            reply = client.post(
                "/v1/chat/stream", json={"question": question, "session_id": sid("s02")}
            )
            _assert_storage_unavailable(reply, time.monotonic() - started)

            started = time.monotonic()
            reply = client.get(f"/v1/sessions/{sid('s00')}/messages")
            _assert_storage_unavailable(reply, time.monotonic() - started)

            started = time.monotonic()
            ready = client.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.json()["checks"]["database"] == "unavailable"
            assert time.monotonic() - started < OUTAGE_ANSWER_S
        finally:
            proxy.start()

        # The service was not restarted: it must find the database again by itself.
        deadline = time.monotonic() + RECOVERY_S
        statuses: list[int] = []
        while True:
            ready_status = client.get("/readyz").status_code
            reply = client.post("/v1/chat", json={"question": question, "session_id": sid("s00")})
            statuses.append(reply.status_code)
            assert reply.status_code in (200, 503), reply.text
            if reply.status_code == 200 and ready_status == 200:
                break
            assert time.monotonic() < deadline, f"not recovered in {RECOVERY_S} s: {statuses}"
            time.sleep(0.25)
        recovered = reply.json()

    after = _snapshot(service.base)
    # Nothing asked during the outage was stored, and nothing from before it was lost.
    s00 = sid("s00")
    assert {key: msgs for key, msgs in after.items() if key != s00} == {
        key: msgs for key, msgs in before.items() if key != s00
    }
    assert after[s00][:-2] == before[s00]
    _assert_history(after[s00][:-2], conversations[s00])
    question_row, answer_row = after[s00][-2:]
    assert (question_row["role"], question_row["content"]) == ("user", question)
    assert (answer_row["role"], answer_row["id"]) == ("assistant", recovered["message_id"])
    missing = httpx.get(
        f"{service.base}/v1/sessions/{sid('new-during-outage')}/messages", timeout=10
    )
    assert missing.status_code == 404
