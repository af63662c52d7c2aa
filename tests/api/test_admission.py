"""Overload is an answer: past the admission queue, 503 ``overloaded`` with Retry-After, at once.

The queue itself is tested on the event loop; the route behaviour through the real app over the
sample index, with the LLM simulator as a slow model so that answers hold their slots.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.middleware.admission import Admission
from api.settings import ServiceSettings
from rag.retrieval.embeddings import LocalEmbedding
from tests.api.monitoring.support import parse, value
from tests.utils.simulator import Simulator, simulator_llm_settings


def test_requests_past_the_slots_wait_in_order_and_past_the_queue_are_refused():
    async def run() -> None:
        changes: list[tuple[int, int]] = []
        gate = Admission(
            max_in_flight=1, max_queued=1, wait_s=5, on_change=lambda f, q: changes.append((f, q))
        )
        assert await gate.acquire()
        waiting = asyncio.ensure_future(gate.acquire())
        await asyncio.sleep(0)
        assert gate.queued == 1
        assert not await gate.acquire()  # the queue is full: refused at once
        gate.release()  # the slot passes to the waiting request
        assert await waiting
        assert (gate.in_flight, gate.queued) == (1, 0)
        gate.release()
        assert (gate.in_flight, gate.queued) == (0, 0)
        assert changes[-1] == (0, 0)

    asyncio.run(run())


def test_a_queued_request_is_refused_when_no_slot_frees_within_the_wait():
    async def run() -> None:
        gate = Admission(max_in_flight=1, max_queued=4, wait_s=0.2)
        assert await gate.acquire()
        started = time.perf_counter()
        assert not await gate.acquire()
        waited = time.perf_counter() - started
        assert 0.15 < waited < 2
        assert (gate.in_flight, gate.queued) == (1, 0)
        gate.release()
        assert gate.in_flight == 0

    asyncio.run(run())


def test_a_client_that_leaves_the_queue_frees_its_place():
    async def run() -> None:
        gate = Admission(max_in_flight=1, max_queued=1, wait_s=5)
        assert await gate.acquire()
        waiting = asyncio.ensure_future(gate.acquire())
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert gate.queued == 0
        gate.release()
        assert gate.in_flight == 0

    asyncio.run(run())


@pytest.fixture
def slow_model(sim: Simulator) -> Iterator[Simulator]:
    sim.reset()
    sim.configure("primary", ttft_ms=3000, tps=0)
    yield sim
    sim.reset()


def test_past_the_queue_the_service_answers_503_overloaded_within_a_second_and_readyz_is_ok(
    sample_index: ServiceSettings, embed_model: LocalEmbedding, slow_model: Simulator
):
    settings = simulator_llm_settings(
        sample_index,
        slow_model,
        max_in_flight=2,
        admission_queue=1,
        admission_wait_s=0.3,
        llm_timeout_s=5.0,
        rate_limit_session="1000/minute",
        rate_limit_address="100000/day",
        rate_limit_new_sessions="1000/minute",
    )
    with TestClient(create_app(settings, embed_model=embed_model)) as client:

        def one(i: int) -> tuple[float, httpx.Response]:
            started = time.perf_counter()
            response = client.post(
                "/v1/chat", json={"question": f"What is the zero moment point? ({i})"}
            )
            return time.perf_counter() - started, response

        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = [pool.submit(one, i) for i in range(6)]
            time.sleep(0.6)
            ready = client.get("/readyz")  # not queued behind the answers
            in_flight = value(parse(client.get("/metrics").text).values(), "rag_answers_in_flight")
            results = [future.result() for future in futures]
    assert ready.status_code == 200, ready.text
    assert in_flight == 2
    ok = [(s, r) for s, r in results if r.status_code == 200]
    refused = [(s, r) for s, r in results if r.status_code == 503]
    assert len(ok) == 2, [r.text for _, r in results]
    assert len(refused) == 4
    for seconds, response in refused:
        assert response.json()["error"]["code"] == "overloaded"
        assert response.headers["Retry-After"] == "1"
        # refused without waiting for a slot: before the model (3 s) has answered anyone
        assert seconds < min(s for s, _ in ok)
