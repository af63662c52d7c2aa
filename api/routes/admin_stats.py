"""``GET /v1/admin/stats`` (admin key): live figures for operators, and the page that draws them.

Counters come from the metrics (every worker's, merged, since the workers started); spend, tokens
and feedback come from the database (every process, kept across restarts). The dashboard page
and its script and stylesheet are public: they hold no data, and the page asks for the admin key,
which it sends only in ``X-API-Key`` to ``/v1/admin/stats``.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from prometheus_client.metrics_core import Metric
from pydantic import BaseModel, Field

from api.db.repositories import DailyUsage
from api.db.session import StorageUnavailableError
from api.deps import AdminDep, MetricsDep, MonitorDep, SettingsDep, StoreDep
from api.monitoring.metrics import (
    RATE_LIMIT_SCOPES,
    STAGES,
    histogram_buckets,
    histogram_quantile,
    sample_total,
)
from api.schemas import ErrorResponse
from rag.observer import ANSWER_OUTCOMES, LLM_OUTCOMES

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[AdminDep])
dashboard_router = APIRouter(prefix="/v1/admin", tags=["admin"])

CHAT_ROUTES = ("/v1/chat", "/v1/chat/stream")
BreakerState = Literal["closed", "half_open", "open"]
_BREAKER_NAMES: dict[int, BreakerState] = {0: "closed", 1: "half_open", 2: "open"}
DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class Quantiles(BaseModel):
    """Percentiles in seconds, estimated from histogram buckets as PromQL does (None: no data)."""

    count: int
    p50: float | None
    p95: float | None
    p99: float | None


class Bucket(BaseModel):
    """A cumulative histogram bucket: observations at or under ``le`` seconds (None: +Inf)."""

    le: float | None
    count: int


class HttpStats(BaseModel):
    """HTTP responses since the workers started."""

    requests: int
    server_errors: int = Field(description="5xx responses.")
    client_errors: int = Field(description="4xx responses other than 429.")
    rate_limited: int = Field(description="429 responses from the service's rate limiter.")
    rate_limited_by_scope: dict[str, int]
    chat_latency_s: Quantiles = Field(description="POST /v1/chat and /v1/chat/stream.")
    chat_latency_buckets: list[Bucket] = Field(
        description="The chat routes' histogram, for percentiles over a window (by difference)."
    )


class AnswerStats(BaseModel):
    """Answers served since the workers started, by outcome, with stage timings."""

    total: int
    by_outcome: dict[str, int]
    stage_latency_s: dict[str, Quantiles]


class CacheStats(BaseModel):
    """Answer cache look-ups since the workers started."""

    hits: int
    misses: int
    hit_rate: float | None


class ModelStats(BaseModel):
    """One model, since the workers started (its dollars per day are under ``spend``)."""

    model: str
    attempts: dict[str, int] = Field(description="LLM attempts by outcome (ok or error code).")
    errors: int = Field(description="Attempts whose outcome is not ok.")
    fallbacks: int = Field(description="Answers that moved on from this model.")
    breaker: BreakerState | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    ttft_s: Quantiles = Field(description="Time to first token of streamed answers.")


class ModelSpend(BaseModel):
    """What one model's answers used over a period (from the database)."""

    model: str
    answers: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


class DaySpend(BaseModel):
    """One UTC day's spend (from the database)."""

    day: date
    cost_usd: float
    answers: int
    prompt_tokens: int
    completion_tokens: int
    by_model: list[ModelSpend]


class SpendStats(BaseModel):
    """LLM spend from the database (every worker and instance), against the daily budget."""

    today_usd: float
    budget_usd: float | None = Field(description="RAG_DAILY_BUDGET_USD; None when unlimited.")
    alert_fraction: float = Field(description="RAG_BUDGET_ALERT_FRACTION.")
    budget_used: float | None = Field(description="today_usd / budget_usd.")
    over_alert: bool = Field(description="Today's spend is past the alert threshold.")
    today_by_model: list[ModelSpend]
    daily: list[DaySpend] = Field(description="The last ``days`` days, oldest first.")


class IndexStats(BaseModel):
    """The served index version."""

    collection: str | None
    version: int | None
    chunks: int | None


class FeedbackStats(BaseModel):
    """Readers' ratings of answers (all time)."""

    up: int
    down: int


class AdminStats(BaseModel):
    """Live figures of the service. ``spend`` and ``feedback`` are None if the database is down."""

    generated_at: datetime
    ready: bool
    workers_merged: bool = Field(description="True when every worker's metrics are merged.")
    http: HttpStats
    answers: AnswerStats
    cache: CacheStats
    models: list[ModelStats]
    spend: SpendStats | None
    index: IndexStats
    feedback: FeedbackStats | None


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


@router.get(
    "/stats",
    response_model=AdminStats,
    responses={401: {"model": ErrorResponse, "description": "No valid admin key in X-API-Key."}},
)
async def read_stats(
    settings: SettingsDep,
    store: StoreDep,
    metrics: MetricsDep,
    monitor: MonitorDep,
    days: int = Query(default=7, ge=1, le=90, description="Days of spend history."),
) -> AdminStats:
    """Requests, errors, latency, answers, cache, models, spend against the budget, index."""
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


_ASSETS = {
    "dashboard.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}


def _asset(name: str) -> Response:
    body = resources.files("api").joinpath("static").joinpath(name).read_bytes()
    headers = {"Cache-Control": "no-cache"}
    if name.endswith(".html"):
        headers["Content-Security-Policy"] = DASHBOARD_CSP
    return Response(body, media_type=_ASSETS[name], headers=headers)


@dashboard_router.get("/dashboard", include_in_schema=False)
async def read_dashboard() -> Response:
    """The admin dashboard page (it asks for the admin key, then polls ``/v1/admin/stats``)."""
    return _asset("dashboard.html")


@dashboard_router.get("/dashboard.js", include_in_schema=False)
async def read_dashboard_script() -> Response:
    """The dashboard's script."""
    return _asset("dashboard.js")


@dashboard_router.get("/dashboard.css", include_in_schema=False)
async def read_dashboard_style() -> Response:
    """The dashboard's stylesheet."""
    return _asset("dashboard.css")
