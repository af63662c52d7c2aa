"""``GuardedLLM`` on its own: the sync path's guards, and the ``openai`` clients it owns.

Real ``OpenAILike`` models over HTTP against the simulator, as in ``test_fallback.py``.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

import openai
import pytest

from rag.answer.prompts import build_messages
from rag.engine import build_llm
from rag.llm.breaker import BreakerState, CircuitBreaker
from rag.llm.fallback import FallbackLLM, ModelSkippedError
from rag.llm.guarded import GuardedLLM
from rag.llm.retry import CallPlan, RetryPolicy
from rag.observer import NullObserver
from rag.settings import Settings
from tests.utils.prompts import PASSAGES, QUESTION
from tests.utils.simulator import Simulator, simulator_llm_settings

pytestmark = pytest.mark.anyio
PRIMARY, BACKUP = "primary", "backup"
MESSAGES = build_messages(QUESTION, PASSAGES)


class Attempts(NullObserver):
    """Records what the models report."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, str]] = []
        self.fallbacks: list[str] = []

    def llm_attempt(self, *, model: str, outcome: Any, duration_s: float) -> None:
        del duration_s  # timed by the metrics tests; the order is what matters here
        self.attempts.append((model, outcome))

    def llm_fallback(self, *, from_model: str) -> None:
        self.fallbacks.append(from_model)


@pytest.fixture(autouse=True)
def _fresh_simulator(sim: Simulator) -> None:
    sim.reset()


def build(sim: Simulator, observer: Attempts, **overrides: Any) -> FallbackLLM:
    """``primary`` then ``backup`` on the simulator, with the default attempts and budget."""
    defaults = {"llm_timeout_s": 2.0, "llm_max_attempts": 3, "llm_total_budget_s": 30.0}
    settings = simulator_llm_settings(Settings(_env_file=None), sim, **(defaults | overrides))
    llm = build_llm(settings, observer=observer)
    assert isinstance(llm, FallbackLLM)
    return llm


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_the_sync_path_retries_logs_and_reports_like_the_async_one(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rag.fallback")
    sim.configure(PRIMARY, error_rate=1, error_kind="unavailable")
    observer = Attempts()
    llm = build(sim, observer, llm_max_attempts=2, llm_breaker_failures=1)
    try:
        first = llm.chat(MESSAGES)
        second = llm.chat(MESSAGES)
    finally:
        del llm
        gc.collect()

    assert first.additional_kwargs["model"] == second.additional_kwargs["model"] == BACKUP
    assert sim.requests(PRIMARY) == 2  # two attempts, then its breaker opened
    assert observer.attempts == [
        (PRIMARY, "server_error"),
        (PRIMARY, "server_error"),
        (BACKUP, "ok"),
        (PRIMARY, "breaker_open"),
        (BACKUP, "ok"),
    ]
    assert observer.fallbacks == [PRIMARY, PRIMARY]
    lines = [
        (r.model, r.outcome, getattr(r, "fallback", None))  # type: ignore[attr-defined]  # log record extras
        for r in caplog.records
        if r.name == "rag.fallback" and r.getMessage() == "llm attempt"
    ]
    assert lines[2:] == [
        (BACKUP, "ok", True),
        (PRIMARY, "breaker_open", None),
        (BACKUP, "ok", True),
    ]
    failed = [r for r in caplog.records if getattr(r, "status", None) is not None]
    assert [(r.model, r.status, r.fallback) for r in failed] == [(PRIMARY, 503, False)] * 2  # type: ignore[attr-defined]  # log record extras


def test_a_spent_deadline_fails_a_sync_call_before_any_request(sim: Simulator) -> None:
    llm = build(sim, Attempts())
    route = llm.routes[0]
    spent = CallPlan(policy=RetryPolicy(max_attempts=3), deadline=time.monotonic() - 1)

    with pytest.raises(TimeoutError, match="budget spent"):
        route.chat(MESSAGES, spent)
    assert sim.requests(PRIMARY) == 0
    assert route.breaker.state is BreakerState.CLOSED  # one failure of five


async def test_an_open_breaker_skips_the_model_without_a_request(sim: Simulator) -> None:
    observer = Attempts()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=60)
    breaker.record_failure()
    route = GuardedLLM.openai_compatible(
        PRIMARY,
        base_url=sim.v1_url,
        api_key="test",
        timeout_s=2.0,
        breaker=breaker,
        max_in_flight=1,
        observer=observer,
    )
    try:
        with pytest.raises(ModelSkippedError, match="circuit open"):
            await route.achat(
                MESSAGES, CallPlan(policy=RetryPolicy(), deadline=time.monotonic() + 5)
            )
    finally:
        await route.aclose()
    assert sim.requests(PRIMARY) == 0
    assert observer.attempts == [(PRIMARY, "breaker_open")]


async def test_aclose_closes_the_sync_and_async_clients_the_model_owns(sim: Simulator) -> None:
    llm = build(sim, Attempts())
    await llm.achat(MESSAGES)
    clients = [client for route in llm.routes for client in route.clients]
    assert {type(c) for c in clients} == {openai.OpenAI, openai.AsyncOpenAI}
    assert len(clients) == 2 * len(llm.routes)

    await llm.aclose()

    assert all(client.is_closed() for client in clients)
