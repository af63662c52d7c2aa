"""An answer served: replayed from the cache, or timed, cached and reported once complete."""

from __future__ import annotations

import time

from rag.answer.cache import AnswerCache
from rag.answer.result import AnswerResult
from rag.observer import AnswerOutcome, PipelineObserver


def cached_answer(
    cache: AnswerCache | None, key: str | None, observer: PipelineObserver
) -> AnswerResult | None:
    """The cached answer for ``key``, marked as such and costing nothing this time."""
    if cache is None or key is None:
        return None
    hit = cache.get(key)
    observer.cache_lookup(hit=hit is not None)
    if hit is not None:
        hit.cached = True
        hit.retrieval_ms = hit.generation_ms = 0.0
        hit.usage.update(prompt_tokens=0, completion_tokens=0, cost_usd=0.0, estimated=False)
    return hit


def served_from_cache(observer: PipelineObserver, *, started: float) -> None:
    """Report an answer replayed from the cache (no retrieval, no generation)."""
    observer.answer_served(
        outcome="cached",
        retrieval_s=None,
        generation_s=None,
        total_s=time.perf_counter() - started,
    )


def complete(
    result: AnswerResult,
    key: str | None,
    *,
    cache: AnswerCache | None,
    observer: PipelineObserver,
    started: float,
    retrieved: float,
) -> None:
    """Stamp the timings, cache the answer unless it is degraded, and report it."""
    result.retrieval_ms = (retrieved - started) * 1000
    result.generation_ms = (time.perf_counter() - retrieved) * 1000
    if key is not None and cache is not None and not result.degraded:
        cache.put(key, result)
    observer.answer_served(
        outcome=outcome_of(result),
        retrieval_s=result.retrieval_ms / 1000,
        generation_s=result.generation_ms / 1000,
        total_s=time.perf_counter() - started,
    )


def outcome_of(result: AnswerResult) -> AnswerOutcome:
    """How the answer counts in the metrics: cached, degraded, answered or refused."""
    if result.cached:
        return "cached"
    if result.degraded:
        return "degraded"
    return "answered" if result.sources else "refused"
