"""A reader who leaves mid-answer: rag-serve as a process, a slow simulated model, a real client.

The client reads the ``meta`` event and a couple of tokens, then closes the connection. The
service must stop generating (the simulator's request ends long before the paced answer could
have), keep the question and the part of the answer produced so far marked ``interrupted``, and go
on serving the session.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from api.settings import ServiceSettings
from perf.llm_sim.answer import estimate_tokens
from perf.serving import run_service
from tests.utils.session_ids import signed_session_id
from tests.utils.simulator import ModelKnobs, Simulator, run_simulator

MODEL = "slow"
SLOW = {"ttft_ms": 50, "tps": 10}  # 10 tokens/s: an answer takes several seconds
QUESTION = "How does a series elastic actuator measure torque?"
TOKENS_BEFORE_LEAVING = 2
SETTLE_S = 5.0
ABANDON_S = 1.5  # the model's request must be closed this soon after the reader leaves
T = TypeVar("T")


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with run_simulator({MODEL: ModelKnobs(**SLOW)}) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def server(
    sample_index: ServiceSettings, sim: Simulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    database = tmp_path_factory.mktemp("stream-disconnect") / "rag.sqlite3"
    env = {
        "RAG_LLM_BASE_URL": sim.v1_url,
        "RAG_LLM_API_KEY": "test",
        "RAG_LLM_MODEL": MODEL,
        "RAG_CACHE_MAX_ENTRIES": "0",
        "RAG_DATABASE_URL": f"sqlite+aiosqlite:///{Path(database).as_posix()}",
    }
    with run_service(sample_index.data_dir, env) as (base, _pid):
        yield base


def _events(response: httpx.Response) -> Iterator[tuple[str, dict]]:
    """The server-sent events of a response as (event, data), as they arrive."""
    event = ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield event, json.loads(line.removeprefix("data: "))


def _full_stream(base: str, question: str) -> tuple[list[str], dict]:
    """Stream an answer to the end in a new session: (its tokens, the done event)."""
    tokens: list[str] = []
    body = {"question": question, "session_id": signed_session_id()}
    with httpx.stream("POST", f"{base}/v1/chat/stream", json=body, timeout=60) as response:
        assert response.status_code == 200
        for event, data in _events(response):
            if event == "token":
                tokens.append(data["text"])
            elif event == "done":
                return tokens, data
            elif event == "error":
                pytest.fail(f"the stream failed: {data}")
    pytest.fail("the stream ended without a done event")


def _poll(check: Callable[[], T | None], timeout_s: float = SETTLE_S) -> T | None:
    """Call ``check`` until it returns something truthy (returned) or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


@dataclass
class Abandoned:
    """What happened when a reader left a slow stream after a couple of tokens."""

    session_id: str
    meta: dict
    seen: list[str]
    started_at: float  # when the request was sent (time.monotonic)
    left_at: float  # when the client had closed the connection
    settled_at: float | None  # when the simulator had nothing in flight any more
    stats: dict  # the model's counters then
    messages: list[dict] | None  # the session's history once the exchange was stored


@pytest.fixture(scope="module")
def abandoned(server: str, sim: Simulator) -> Abandoned:
    sim.reset()
    session_id = signed_session_id()
    seen: list[str] = []
    meta: dict = {}
    body = {"question": QUESTION, "session_id": session_id}
    started_at = time.monotonic()
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", f"{server}/v1/chat/stream", json=body) as response,
    ):
        assert response.status_code == 200
        for event, data in _events(response):
            if event == "meta":
                meta = data
            elif event == "token":
                seen.append(data["text"])
                if len(seen) == TOKENS_BEFORE_LEAVING:
                    break
            elif event in ("done", "error"):
                pytest.fail(f"the stream ended before the reader left: {event} {data}")
    # leaving the block closes the response mid-body, so httpx drops the connection
    left_at = time.monotonic()

    def idle() -> dict | None:
        stats = sim.model_stats(MODEL)
        return stats if stats["requests"] and not stats["in_flight"] else None

    stats = _poll(idle)
    settled_at = time.monotonic() if stats else None

    def stored() -> list[dict] | None:
        reply = httpx.get(f"{server}/v1/sessions/{session_id}/messages", timeout=10)
        if reply.status_code != 200:
            return None
        messages = reply.json()["messages"]
        return messages if len(messages) == 2 else None

    return Abandoned(
        session_id=session_id,
        meta=meta,
        seen=seen,
        started_at=started_at,
        left_at=left_at,
        settled_at=settled_at,
        stats=stats or sim.model_stats(MODEL),
        messages=_poll(stored),
    )


def test_leaving_mid_stream_stops_the_model_and_keeps_the_partial_answer(
    server: str, sim: Simulator, abandoned: Abandoned
):
    assert abandoned.meta["session_id"] == abandoned.session_id
    assert len(abandoned.seen) == TOKENS_BEFORE_LEAVING

    # The question and what was said of the answer are kept, marked interrupted.
    assert abandoned.messages, "the interrupted exchange was not stored"
    question, answer = abandoned.messages
    assert (question["role"], question["content"]) == ("user", QUESTION)
    assert answer["role"] == "assistant"
    assert answer["id"] == abandoned.meta["message_id"]
    assert answer["interrupted"] is True
    partial = answer["content"]
    assert partial.startswith("".join(abandoned.seen))
    assert partial.strip()

    # ...and it is a prefix of what the model would have said (the same prompt, at full speed).
    sim.configure(MODEL, ttft_ms=0, tps=0)
    tokens, done = _full_stream(server, QUESTION)
    full = "".join(tokens)
    assert full.startswith(partial)
    assert len(partial) < len(full)
    assert not done["degraded"]

    # The model stopped: its one request left the simulator long before the paced answer could
    # have ended (the simulator's own pacing: ttft, then estimated tokens / tps).
    natural_s = SLOW["ttft_ms"] / 1000 + sum(map(estimate_tokens, tokens)) / SLOW["tps"]
    assert abandoned.left_at - abandoned.started_at + ABANDON_S < natural_s, "answer too short"
    assert abandoned.settled_at is not None, f"still generating: {abandoned.stats}"
    assert abandoned.settled_at - abandoned.left_at < ABANDON_S
    assert abandoned.stats["requests"] == 1
    assert abandoned.stats["in_flight"] == 0

    # The session goes on: a new chat in it works and is stored after the interrupted one.
    reply = httpx.post(
        f"{server}/v1/chat",
        json={"question": QUESTION, "session_id": abandoned.session_id},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    history = httpx.get(f"{server}/v1/sessions/{abandoned.session_id}/messages", timeout=10)
    after = history.json()["messages"]
    assert after[:2] == abandoned.messages
    assert [m["role"] for m in after[2:]] == ["user", "assistant"]
    assert after[3]["id"] == reply.json()["message_id"]
    assert after[3]["interrupted"] is False


def test_the_simulator_counts_the_abandoned_stream_as_a_disconnect(abandoned: Abandoned):
    assert abandoned.settled_at is not None
    assert abandoned.stats["disconnects"] == 1
    assert abandoned.stats["completed"] == 0
