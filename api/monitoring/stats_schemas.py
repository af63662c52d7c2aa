"""The body of ``GET /v1/admin/stats``: live figures of the service, as operators read them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

BreakerState = Literal["closed", "half_open", "open"]


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
