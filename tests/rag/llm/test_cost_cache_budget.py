"""Tokens and cost, the daily budget and the answer cache, on the real pipeline."""

import asyncio
from collections.abc import Iterator
from datetime import date

import pytest
from pydantic import SecretStr
from qdrant_client import QdrantClient

from rag.answer.cache import AnswerCache, cache_key, normalise_question
from rag.engine import AnswerResult, TextbookQA, build_qa
from rag.llm.budget import DailyBudget
from rag.llm.usage import cost_usd, count_tokens
from rag.retrieval.embeddings import LocalEmbedding
from rag.settings import Settings
from tests.utils.simulator import ModelKnobs, Simulator, run_simulator


def test_cost_uses_the_price_table_per_million_tokens():
    prices = {"m": (1.0, 2.0)}
    assert cost_usd("m", 1_000_000, 500_000, prices) == pytest.approx(2.0)
    assert cost_usd("unpriced", 10_000, 10_000, prices) == 0.0


def test_local_token_count_needs_no_download():
    assert 3 <= count_tokens("The zero moment point") <= 6


def test_budget_counts_today_and_rolls_over_at_midnight():
    today = [date(2026, 1, 1)]
    budget = DailyBudget(1.0, today=lambda: today[0])
    budget.add(0.6)
    assert not budget.exceeded()
    budget.add(0.5)
    assert budget.exceeded()
    today[0] = date(2026, 1, 2)
    assert budget.spent_usd == 0.0
    assert not budget.exceeded()


def test_cache_is_lru_with_a_time_to_live():
    now = [0.0]
    cache = AnswerCache(max_entries=2, ttl_s=10, clock=lambda: now[0])
    for key in "abc":
        cache.put(key, AnswerResult(answer=key, sources=[], model="m"))
    assert cache.get("a") is None  # evicted, least recently used
    assert cache.get("b").answer == "b"
    now[0] = 11.0
    assert cache.get("b") is None  # expired


def test_cache_key_ignores_case_spacing_and_punctuation_but_not_the_book_version():
    key = {"selected_text": None, "selection_only": False, "book_version": "v1"}
    assert cache_key(question="What is  ZMP?", **key) == cache_key(question="what is zmp", **key)
    assert cache_key(question="what is zmp", **key) != cache_key(
        question="what is zmp", **{**key, "book_version": "v2"}
    )
    assert normalise_question("  Why?! ") == "why"


@pytest.fixture
def qa_factory(sample_index: Settings, embed_model: LocalEmbedding) -> Iterator:
    clients: list[QdrantClient] = []

    def make(**updates: object) -> TextbookQA:
        client = QdrantClient(path=str(sample_index.qdrant_path))
        clients.append(client)
        return build_qa(
            sample_index.model_copy(update=updates), client=client, embed_model=embed_model
        )

    yield make
    for client in clients:
        client.close()


def test_repeated_question_comes_from_the_cache(qa_factory):
    qa = qa_factory()
    first = asyncio.run(qa.answer("What is the zero moment point?"))
    second = asyncio.run(qa.answer("what is the Zero Moment Point"))
    assert not first.cached
    assert second.cached
    assert second.answer == first.answer
    assert second.sources == first.sources
    assert second.retrieval_ms == 0.0


def test_cache_can_be_turned_off(qa_factory):
    qa = qa_factory(cache_max_entries=0)
    asyncio.run(qa.answer("What is the zero moment point?"))
    assert not asyncio.run(qa.answer("What is the zero moment point?")).cached


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with run_simulator({"priced": ModelKnobs(ttft_ms=0, tps=0)}) as sim:
        yield sim


def _llm_settings(sim: Simulator, **extra: object) -> dict[str, object]:
    return {
        "llm_base_url": sim.v1_url,
        "llm_api_key": SecretStr("test"),
        "llm_model": "priced",
        "llm_prices": {"priced": (1000.0, 1000.0)},  # absurd prices: one answer spends dollars
        "cache_max_entries": 0,
        **extra,
    }


def test_model_answers_carry_tokens_and_cost(qa_factory, simulator: Simulator):
    qa = qa_factory(**_llm_settings(simulator))

    async def ask() -> AnswerResult:
        try:
            return await qa.answer("What is the zero moment point?")
        finally:
            await qa.aclose()

    result = asyncio.run(ask())
    assert result.model == "priced"
    assert result.usage["prompt_tokens"] > 100
    assert result.usage["completion_tokens"] > 0
    assert result.usage["estimated"] is False
    expected = (result.usage["prompt_tokens"] + result.usage["completion_tokens"]) * 1000 / 1e6
    assert result.usage["cost_usd"] == pytest.approx(expected)


def test_past_the_daily_budget_answers_are_extractive_and_degraded(qa_factory, simulator):
    qa = qa_factory(**_llm_settings(simulator, daily_budget_usd=0.01))
    simulator.reset()

    async def ask_twice() -> tuple[AnswerResult, AnswerResult]:
        try:
            first = await qa.answer("What is the zero moment point?")
            second = await qa.answer("How does a series elastic actuator measure torque?")
        finally:
            await qa.aclose()
        return first, second

    first, second = asyncio.run(ask_twice())
    assert first.model == "priced", first
    assert not first.degraded
    assert first.usage["cost_usd"] > 0.01
    assert qa.budget is not None
    assert qa.budget.exceeded()
    assert second.model == "extractive"
    assert second.degraded
    assert second.sources  # still grounded and cited
    assert simulator.requests("priced") == 1


async def _streamed_result(qa) -> AnswerResult:
    """The final result of one streamed answer; the pipeline is closed afterwards."""
    try:
        events = [e async for e in qa.stream_answer("What is the zero moment point?")]
    finally:
        await qa.aclose()
    return events[-1].result


def test_a_stream_without_usage_is_counted_locally_and_flagged(qa_factory, simulator):
    qa = qa_factory(**_llm_settings(simulator))
    for route in qa.llm.routes:  # ask the API for no usage chunk, as some servers never send one
        route.llm.additional_kwargs = {}

    result = asyncio.run(_streamed_result(qa))
    assert result.model == "priced"
    assert result.usage["estimated"] is True
    assert result.usage["prompt_tokens"] > 100
    assert result.usage["completion_tokens"] > 0
    assert result.usage["cost_usd"] > 0


def test_a_stream_with_usage_reports_the_api_figures(qa_factory, simulator):
    qa = qa_factory(**_llm_settings(simulator))

    result = asyncio.run(_streamed_result(qa))
    assert result.usage["estimated"] is False
    assert result.usage["prompt_tokens"] > 100
