"""``Metrics`` as the pipeline's observer: LLM attempts by outcome code, fallbacks, breakers,
tokens and cost, time to first token, cache look-ups and answers, against the real simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from qdrant_client import QdrantClient

from api.monitoring.metrics import Metrics, sample_total
from api.settings import ServiceSettings
from rag.answer.prompts import build_messages
from rag.engine import TextbookQA, build_llm, build_qa
from rag.llm.fallback import FallbackLLM
from tests.api.monitoring.support import BACKUP, PRIMARY, llm_settings
from tests.utils.prompts import PASSAGES, QUESTION
from tests.utils.simulator import Simulator

pytestmark = pytest.mark.anyio
MESSAGES = build_messages(QUESTION, PASSAGES)


@pytest.fixture(autouse=True)
def _fresh_simulator(sim: Simulator) -> None:
    sim.reset()


@pytest.fixture
async def make_llm(
    sim: Simulator, base_settings: ServiceSettings
) -> AsyncIterator[Callable[..., tuple[FallbackLLM, Metrics]]]:
    built: list[FallbackLLM] = []

    def make(**overrides: Any) -> tuple[FallbackLLM, Metrics]:
        metrics = Metrics()
        llm = build_llm(llm_settings(base_settings, sim, **overrides), observer=metrics)
        assert isinstance(llm, FallbackLLM)
        built.append(llm)
        return llm, metrics

    yield make
    for llm in built:
        await llm.aclose()


def count(metrics: Metrics, sample: str, **labels: str) -> float:
    return sample_total(metrics.collect(), sample, **labels)


async def test_an_answer_from_the_primary_is_one_ok_attempt(make_llm):
    llm, metrics = make_llm()
    await llm.achat(MESSAGES)

    assert count(metrics, "rag_llm_requests_total", model=PRIMARY, outcome="ok") == 1
    assert count(metrics, "rag_llm_requests_total") == 1
    assert count(metrics, "rag_llm_fallbacks_total") == 0
    assert count(metrics, "rag_llm_breaker_state", model=PRIMARY) == 0


@pytest.mark.parametrize(
    ("kind", "code", "attempts"),
    [
        ("rate_limit", "rate_limit", 2),  # retried once (llm_max_attempts=2)
        ("insufficient_quota", "insufficient_quota", 1),  # never retried
        ("server_error", "server_error", 2),
        ("unavailable", "server_error", 2),
        ("malformed", "malformed", 1),  # a body that does not parse is not retried
        ("hang", "timeout", 1),  # a model that hung is not retried
    ],
)
async def test_failed_attempts_are_counted_by_code_and_the_answer_falls_back(
    make_llm, sim: Simulator, kind: str, code: str, attempts: int
):
    sim.configure(PRIMARY, error_rate=1, error_kind=kind, retry_after_s=0)
    llm, metrics = make_llm(llm_timeout_s=0.5)

    response = await llm.achat(MESSAGES)

    assert response.additional_kwargs["model"] == BACKUP
    assert count(metrics, "rag_llm_requests_total", model=PRIMARY, outcome=code) == attempts
    assert count(metrics, "rag_llm_requests_total", model=PRIMARY) == attempts
    assert count(metrics, "rag_llm_requests_total", model=BACKUP, outcome="ok") == 1
    assert count(metrics, "rag_llm_fallbacks_total", from_model=PRIMARY) == 1
    assert count(metrics, "rag_llm_fallbacks_total", from_model=BACKUP) == 0


async def test_a_broken_stream_counts_and_falls_back_before_the_first_token(
    make_llm, sim: Simulator
):
    sim.configure(PRIMARY, error_rate=1, error_kind="stream_cut", cut_after_tokens=0)
    llm, metrics = make_llm(llm_max_attempts=1)

    gen = await llm.astream_chat(MESSAGES)
    chunks = [chunk async for chunk in gen]

    assert chunks[-1].additional_kwargs["model"] == BACKUP
    failed = count(metrics, "rag_llm_requests_total", model=PRIMARY) - count(
        metrics, "rag_llm_requests_total", model=PRIMARY, outcome="ok"
    )
    assert failed == 1
    assert count(metrics, "rag_llm_fallbacks_total", from_model=PRIMARY) == 1


async def test_an_open_breaker_shows_and_skipped_calls_count_as_breaker_open(
    make_llm, sim: Simulator
):
    sim.configure(PRIMARY, error_rate=1, error_kind="server_error")
    llm, metrics = make_llm(llm_max_attempts=1, llm_breaker_failures=1, llm_breaker_cooldown_s=60)

    await llm.achat(MESSAGES)
    assert count(metrics, "rag_llm_breaker_state", model=PRIMARY) == 2  # open
    await llm.achat(MESSAGES)

    assert count(metrics, "rag_llm_requests_total", model=PRIMARY, outcome="server_error") == 1
    assert count(metrics, "rag_llm_requests_total", model=PRIMARY, outcome="breaker_open") == 1
    assert count(metrics, "rag_llm_fallbacks_total", from_model=PRIMARY) == 2
    assert sim.requests(PRIMARY) == 1
    assert count(metrics, "rag_llm_breaker_state", model=BACKUP) == 0


async def test_every_model_down_falls_back_to_the_extractive_answer(make_llm, sim: Simulator):
    for name in (PRIMARY, BACKUP):
        sim.configure(name, error_rate=1, error_kind="insufficient_quota")
    llm, metrics = make_llm()

    response = await llm.achat(MESSAGES)

    assert response.additional_kwargs["degraded"] is True
    assert count(metrics, "rag_llm_fallbacks_total", from_model=PRIMARY) == 1
    assert count(metrics, "rag_llm_fallbacks_total", from_model=BACKUP) == 1
    assert count(metrics, "rag_llm_requests_total", outcome="insufficient_quota") == 2


@pytest.fixture
async def qa_with_metrics(
    sample_index: ServiceSettings, embed_model, sim: Simulator
) -> AsyncIterator[tuple[TextbookQA, Metrics]]:
    client = QdrantClient(path=str(sample_index.qdrant_path))
    metrics = Metrics()
    qa = build_qa(
        llm_settings(sample_index, sim), client=client, embed_model=embed_model, observer=metrics
    )
    try:
        yield qa, metrics
    finally:
        await qa.aclose()
        client.close()


async def test_the_engine_reports_answers_stages_tokens_cost_cache_and_first_token(
    qa_with_metrics, sim: Simulator
):
    qa, metrics = qa_with_metrics
    question = "What is the zero moment point?"

    first = await qa.answer(question)
    events = [event async for event in qa.stream_answer("How does a series elastic actuator work?")]
    again = await qa.answer(question)
    outside = await qa.answer("What is the capital of Australia?")

    assert not first.cached
    assert again.cached
    assert events[-1].result is not None
    assert count(metrics, "rag_answers_total", outcome="answered") == 2
    assert count(metrics, "rag_answers_total", outcome="cached") == 1
    assert not outside.sources  # not in the book
    assert count(metrics, "rag_answers_total", outcome="refused") == 1
    assert count(metrics, "rag_cache_requests_total", result="hit") == 1
    assert count(metrics, "rag_cache_requests_total", result="miss") == 3
    stage = "rag_answer_stage_duration_seconds_count"
    assert count(metrics, stage, stage="total") == 4
    assert count(metrics, stage, stage="retrieval") == 3  # the cached answer retrieved nothing
    assert count(metrics, "rag_llm_time_to_first_token_seconds_count", model=PRIMARY) == 1
    usage = [first.usage, events[-1].result.usage]
    prompt = sum(u["prompt_tokens"] for u in usage) + outside.usage["prompt_tokens"]
    assert count(metrics, "rag_llm_tokens_total", model=PRIMARY, kind="prompt") == prompt
    cost = sum(u["cost_usd"] for u in usage) + outside.usage["cost_usd"]
    assert count(metrics, "rag_llm_cost_usd_total", model=PRIMARY) == pytest.approx(cost)
    assert cost > 0
