"""The figures of ``GET /v1/admin/stats``, read from the metrics registry and the database.

Counters come from the metrics (every worker's, merged, since the workers started); spend, tokens
and feedback come from the database (every process, kept across restarts).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

from prometheus_client.metrics_core import Metric

from api.db.repositories import DailyUsage
from api.db.session import StorageUnavailableError
from api.monitoring.metrics import (
    RATE_LIMIT_SCOPES,
    STAGES,
    Metrics,
    histogram_buckets,
    histogram_quantile,
    sample_total,
)
from api.monitoring.stats_schemas import (
    AdminStats,
    AnswerStats,
    BreakerState,
    Bucket,
    CacheStats,
    DaySpend,
    FeedbackStats,
    HttpStats,
    IndexStats,
    ModelSpend,
    ModelStats,
    Quantiles,
    SpendStats,
)
from api.monitoring.status import StatusMonitor
from api.settings import ServiceSettings
from api.storage import ChatStore
from rag.observer import ANSWER_OUTCOMES, LLM_OUTCOMES

CHAT_ROUTES = ("/v1/chat", "/v1/chat/stream")
_BREAKER_NAMES: dict[int, BreakerState] = {0: "closed", 1: "half_open", 2: "open"}


async def collect_stats(
    settings: ServiceSettings,
    store: ChatStore,
    metrics: Metrics,
    monitor: StatusMonitor,
    *,
    days: int,
) -> AdminStats:
    """Every figure of the service now, with ``days`` days of spend history."""
    await monitor.refresh()
    families = metrics.collect()
    today = datetime.now(UTC).date()
    spend: SpendStats | None = None
    feedback: FeedbackStats | None = None
    try:
        rows = await store.daily_usage(since=today - timedelta(days=days - 1), until=today)
        counts = await store.feedback_counts()
    except StorageUnavailableError:
        pass  # the metrics still answer; spend and feedback are None
    else:
        spend = spend_stats(
            rows,
            today=today,
            days=days,
            budget_usd=settings.daily_budget_usd,
            alert_fraction=settings.budget_alert_fraction,
        )
        feedback = FeedbackStats(up=counts["up"], down=counts["down"])
    return AdminStats(
        generated_at=datetime.now(UTC),
        ready=monitor.ready,
        workers_merged=metrics.multiprocess_dir is not None,
        http=_http_stats(families),
        answers=_answer_stats(families),
        cache=_cache_stats(families),
        models=[_model_stats(families, model) for model in _models(families)],
        spend=spend,
        index=IndexStats(
            collection=monitor.index.collection,
            version=monitor.index.version,
            chunks=monitor.index.chunks,
        ),
        feedback=feedback,
    )


def _quantiles(buckets: list[tuple[float, float]]) -> Quantiles:
    return Quantiles(
        count=int(buckets[-1][1]) if buckets else 0,
        p50=histogram_quantile(0.5, buckets),
        p95=histogram_quantile(0.95, buckets),
        p99=histogram_quantile(0.99, buckets),
    )


def _model_spend(model: str, rows: list[DailyUsage]) -> ModelSpend:
    return ModelSpend(
        model=model,
        answers=sum(r.answers for r in rows),
        prompt_tokens=sum(r.prompt_tokens for r in rows),
        completion_tokens=sum(r.completion_tokens for r in rows),
        cost_usd=round(sum(r.cost_usd for r in rows), 8),
    )


def _by_model(rows: list[DailyUsage]) -> list[ModelSpend]:
    models = sorted({r.model for r in rows})
    return [_model_spend(m, [r for r in rows if r.model == m]) for m in models]


def spend_stats(
    rows: list[DailyUsage],
    *,
    today: date,
    days: int,
    budget_usd: float | None,
    alert_fraction: float,
) -> SpendStats:
    """Spend per day (zero-filled) and per model today, against the budget."""
    daily = []
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        of_day = [r for r in rows if r.day == day]
        total = _model_spend("", of_day)
        daily.append(
            DaySpend(
                day=day,
                cost_usd=total.cost_usd,
                answers=total.answers,
                prompt_tokens=total.prompt_tokens,
                completion_tokens=total.completion_tokens,
                by_model=_by_model(of_day),
            )
        )
    today_usd = daily[-1].cost_usd
    used = today_usd / budget_usd if budget_usd else None
    return SpendStats(
        today_usd=today_usd,
        budget_usd=budget_usd,
        alert_fraction=alert_fraction,
        budget_used=used,
        over_alert=used is not None and used > alert_fraction,
        today_by_model=daily[-1].by_model,
        daily=daily,
    )


def _http_stats(families: list[Metric]) -> HttpStats:
    statuses = {item.labels.get("status", "") for f in families for item in f.samples}
    chat = histogram_buckets(families, "rag_http_request_duration_seconds", route=CHAT_ROUTES)
    return HttpStats(
        requests=_count(families, "rag_http_requests_total"),
        server_errors=_count(
            families, "rag_http_requests_total", status={s for s in statuses if s[:1] == "5"}
        ),
        client_errors=_count(
            families,
            "rag_http_requests_total",
            status={s for s in statuses if s[:1] == "4" and s != "429"},
        ),
        rate_limited=_count(families, "rag_rate_limited_total"),
        rate_limited_by_scope={
            scope: _count(families, "rag_rate_limited_total", scope=scope)
            for scope in RATE_LIMIT_SCOPES
        },
        chat_latency_s=_quantiles(chat),
        chat_latency_buckets=[
            Bucket(le=le if math.isfinite(le) else None, count=int(n)) for le, n in chat
        ],
    )


def _answer_stats(families: list[Metric]) -> AnswerStats:
    by_outcome = {o: _count(families, "rag_answers_total", outcome=o) for o in ANSWER_OUTCOMES}
    return AnswerStats(
        total=sum(by_outcome.values()),
        by_outcome=by_outcome,
        stage_latency_s={
            stage: _quantiles(
                histogram_buckets(families, "rag_answer_stage_duration_seconds", stage=stage)
            )
            for stage in STAGES
        },
    )


def _cache_stats(families: list[Metric]) -> CacheStats:
    hits = _count(families, "rag_cache_requests_total", result="hit")
    misses = _count(families, "rag_cache_requests_total", result="miss")
    return CacheStats(
        hits=hits, misses=misses, hit_rate=hits / (hits + misses) if hits + misses else None
    )


def _model_stats(families: list[Metric], model: str) -> ModelStats:
    attempts = {
        outcome: _count(families, "rag_llm_requests_total", model=model, outcome=outcome)
        for outcome in LLM_OUTCOMES
    }
    levels = [
        item.value
        for f in families
        for item in f.samples
        if item.name == "rag_llm_breaker_state" and item.labels.get("model") == model
    ]
    ttft = histogram_buckets(families, "rag_llm_time_to_first_token_seconds", model=model)
    return ModelStats(
        model=model,
        attempts={outcome: n for outcome, n in attempts.items() if n},
        errors=sum(n for outcome, n in attempts.items() if outcome != "ok"),
        fallbacks=_count(families, "rag_llm_fallbacks_total", from_model=model),
        breaker=_BREAKER_NAMES.get(int(max(levels))) if levels else None,
        prompt_tokens=_count(families, "rag_llm_tokens_total", model=model, kind="prompt"),
        completion_tokens=_count(families, "rag_llm_tokens_total", model=model, kind="completion"),
        cost_usd=round(sample_total(families, "rag_llm_cost_usd_total", model=model), 8),
        ttft_s=_quantiles(ttft),
    )


def _models(families: list[Metric]) -> list[str]:
    return sorted(
        {
            item.labels.get("model") or item.labels["from_model"]
            for f in families
            for item in f.samples
            if "model" in item.labels or "from_model" in item.labels
        }
    )


def _count(families: list[Metric], sample: str, **labels: object) -> int:
    return int(sample_total(families, sample, **labels))
