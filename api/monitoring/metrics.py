"""Prometheus metrics of the service: every metric name is defined here.

The names, labels and types are a contract with ``deploy/prometheus`` (alert rules) and
``deploy/grafana`` (dashboard): prefix ``rag_``, base units, ``_total`` counters, no session or
user ids in labels, route templates (``<unmatched>`` for paths no route serves).

One ``Metrics`` object is built per app, with its own registry (several apps in one process, as
in tests, do not collide). With ``PROMETHEUS_MULTIPROC_DIR`` set, prometheus-client keeps every
value in per-process files there, and a scrape merges the files of all workers
(``MultiProcessCollector``); ``rag-serve --workers N`` sets that directory up itself. Gauges use
the ``live*`` modes, so a dead worker's files are dropped by :func:`sweep_dead_workers` and its
last values stop counting.
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import Request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    values,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from typing_extensions import override

from rag.observer import (
    ANSWER_OUTCOMES,
    BREAKER_LEVELS,
    LLM_OUTCOMES,
    AnswerOutcome,
    LLMOutcome,
    PipelineObserver,
)

logger = logging.getLogger(__name__)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 30, 60)
UNMATCHED_ROUTE = "<unmatched>"
STAGES = ("retrieval", "generation", "total")
CACHE_RESULTS = ("hit", "miss")
RATE_LIMIT_SCOPES = ("session", "address", "new_session")
TOKEN_KINDS = ("prompt", "completion")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LIVE_GAUGE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def multiprocess_dir_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The multiprocess directory, read where prometheus-client itself reads it."""
    return (os.environ if environ is None else environ).get(MULTIPROC_ENV) or None


def sweep_dead_workers(path: str) -> list[int]:
    """Drop the live-gauge files of worker processes that no longer exist; their pids."""
    dead = []
    for name in os.listdir(path):
        match = _LIVE_GAUGE_FILE.match(name)
        if match is None:
            continue
        pid = int(match.group(1))
        if pid not in dead and not _alive(pid):
            mark_process_dead(pid, path)
            dead.append(pid)
    return dead


def clear_multiprocess_dir(path: str) -> None:
    """Remove every value file (do this before workers start, as prometheus-client asks)."""
    for name in glob.glob(os.path.join(path, "*.db")):
        os.remove(name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Metrics(PipelineObserver):
    """The service's metrics, in their own registry; also the pipeline's ``PipelineObserver``.

    Args:
        multiprocess_dir: ``PROMETHEUS_MULTIPROC_DIR`` when several workers share the metrics;
            it must have been set in the environment before prometheus-client was imported.
    """

    def __init__(self, *, multiprocess_dir: str | None = None) -> None:
        disable_created_metrics()  # no ``*_created`` series: they are the same in every mode
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "rag_http_requests_total",
            "HTTP responses, by method, route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "rag_http_request_duration_seconds",
            "Time from the request to the end of its response.",
            ["method", "route"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.answer_stage = Histogram(
            "rag_answer_stage_duration_seconds",
            "Time of each stage of an answer (retrieval, generation, total).",
            ["stage"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.first_token = Histogram(
            "rag_llm_time_to_first_token_seconds",
            "Streamed answers: from the start of the answer to its first text.",
            ["model"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.answers = Counter(
            "rag_answers_total", "Answers served, by outcome.", ["outcome"], registry=r
        )
        self.llm_requests = Counter(
            "rag_llm_requests_total",
            "LLM attempts, by model and outcome (ok or an error code).",
            ["model", "outcome"],
            registry=r,
        )
        self.llm_tokens = Counter(
            "rag_llm_tokens_total", "Tokens used, by model and kind.", ["model", "kind"], registry=r
        )
        self.llm_cost = Counter(
            "rag_llm_cost_usd_total", "Dollars spent, by model.", ["model"], registry=r
        )
        self.llm_fallbacks = Counter(
            "rag_llm_fallbacks_total",
            "Answers that moved on from this model to the next route.",
            ["from_model"],
            registry=r,
        )
        self.breaker = Gauge(
            "rag_llm_breaker_state",
            "Circuit breaker of a model: 0 closed, 1 half-open, 2 open.",
            ["model"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.cache = Counter(
            "rag_cache_requests_total", "Answer cache look-ups, by result.", ["result"], registry=r
        )
        self.rate_limited_requests = Counter(
            "rag_rate_limited_total",
            "Requests refused with 429 by the service's rate limiter, by scope.",
            ["scope"],
            registry=r,
        )
        self.index_chunks = Gauge(
            "rag_index_chunks",
            "Points in the served index version.",
            multiprocess_mode="livemax",
            registry=r,
        )
        self.index_version = Gauge(
            "rag_index_version",
            "Number N of the served index version (collection textbook__vN).",
            multiprocess_mode="livemax",
            registry=r,
        )
        self.ready = Gauge(
            "rag_ready",
            "1 when /readyz would answer ok, else 0.",
            multiprocess_mode="livemin",
            registry=r,
        )
        self.spend_today = Gauge(
            "rag_llm_spend_today_usd",
            "Today's (UTC) LLM spend, all models, from the database.",
            multiprocess_mode="livemax",
            registry=r,
        )
        self.daily_budget = Gauge(
            "rag_daily_budget_usd",
            "RAG_DAILY_BUDGET_USD (0 when unset).",
            multiprocess_mode="livemax",
            registry=r,
        )
        self.budget_alert_fraction = Gauge(
            "rag_budget_alert_fraction",
            "RAG_BUDGET_ALERT_FRACTION: the share of the budget that raises an alert.",
            multiprocess_mode="livemax",
            registry=r,
        )
        for outcome in ANSWER_OUTCOMES:
            self.answers.labels(outcome)
        for stage in STAGES:
            self.answer_stage.labels(stage)
        for result in CACHE_RESULTS:
            self.cache.labels(result)
        for scope in RATE_LIMIT_SCOPES:
            self.rate_limited_requests.labels(scope)

    @classmethod
    def from_environment(cls) -> Metrics:
        """Multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set (and was at import)."""
        path = multiprocess_dir_from_env()
        if path and not getattr(values.ValueClass, "_multiprocess", False):
            logger.warning(
                "%s was set after prometheus-client was imported: metrics are this process's",
                MULTIPROC_ENV,
            )
            path = None
        return cls(multiprocess_dir=path)

    # --- set-up ------------------------------------------------------------------------------

    def watch_models(self, models: Iterable[str]) -> None:
        """Create the per-model series at zero, so rates and alerts see them from the start."""
        for model in models:
            self.llm_requests.labels(model, "ok")
            for kind in TOKEN_KINDS:
                self.llm_tokens.labels(model, kind)
            self.llm_cost.labels(model)
            self.llm_fallbacks.labels(model)

    def set_budget(self, *, daily_budget_usd: float | None, alert_fraction: float) -> None:
        """The configured daily budget (0 for none) and its alert fraction."""
        self.daily_budget.set(daily_budget_usd or 0.0)
        self.budget_alert_fraction.set(alert_fraction)

    # --- HTTP --------------------------------------------------------------------------------

    def observe_request(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """One HTTP response (unknown methods are counted as ``OTHER``)."""
        method = method if method in _METHODS else "OTHER"
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_duration.labels(method, route).observe(seconds)

    def rate_limited(self, scope: str) -> None:
        """A request refused with 429 by our limiter (``session``, ``address``, ``new_session``)."""
        self.rate_limited_requests.labels(scope if scope in RATE_LIMIT_SCOPES else "other").inc()

    # --- state gauges --------------------------------------------------------------------------

    def set_ready(self, ready: bool) -> None:
        """Whether /readyz would answer ok."""
        self.ready.set(1 if ready else 0)

    def set_index(self, *, chunks: int, version: int) -> None:
        """Size and version number of the served index."""
        self.index_chunks.set(chunks)
        self.index_version.set(version)

    def set_spend_today(self, usd: float) -> None:
        """Today's spend as stored in the database."""
        self.spend_today.set(usd)

    # --- PipelineObserver --------------------------------------------------------------------

    @override
    def llm_attempt(self, *, model: str, outcome: LLMOutcome, duration_s: float) -> None:
        self.llm_requests.labels(model, outcome if outcome in LLM_OUTCOMES else "other").inc()

    @override
    def llm_fallback(self, *, from_model: str) -> None:
        self.llm_fallbacks.labels(from_model).inc()

    @override
    def llm_breaker(self, *, model: str, state: str) -> None:
        self.breaker.labels(model).set(BREAKER_LEVELS.get(state, 0))

    @override
    def llm_usage(
        self, *, model: str, prompt_tokens: int, completion_tokens: int, cost_usd: float
    ) -> None:
        self.llm_tokens.labels(model, "prompt").inc(max(prompt_tokens, 0))
        self.llm_tokens.labels(model, "completion").inc(max(completion_tokens, 0))
        self.llm_cost.labels(model).inc(max(cost_usd, 0.0))

    @override
    def llm_first_token(self, *, model: str, seconds: float) -> None:
        self.first_token.labels(model).observe(seconds)

    @override
    def cache_lookup(self, *, hit: bool) -> None:
        self.cache.labels("hit" if hit else "miss").inc()

    @override
    def answer_served(
        self,
        *,
        outcome: AnswerOutcome,
        retrieval_s: float | None,
        generation_s: float | None,
        total_s: float,
    ) -> None:
        self.answers.labels(outcome).inc()
        if retrieval_s is not None:
            self.answer_stage.labels("retrieval").observe(retrieval_s)
        if generation_s is not None:
            self.answer_stage.labels("generation").observe(generation_s)
        self.answer_stage.labels("total").observe(total_s)

    # --- reading -------------------------------------------------------------------------------

    def _source(self) -> CollectorRegistry:
        """The registry to read: this process's, or every worker's files merged."""
        if self.multiprocess_dir is None:
            return self.registry
        sweep_dead_workers(self.multiprocess_dir)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=self.multiprocess_dir)
        return merged

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The scrape body and its content type, in the format the ``Accept`` header prefers."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self._source()), content_type

    def collect(self) -> list[Metric]:
        """Every metric family with its samples (all workers' in multiprocess mode)."""
        return list(self._source().collect())

    def close_process(self) -> None:
        """This worker is stopping: its live gauges stop counting (multiprocess mode)."""
        if self.multiprocess_dir is not None and os.path.isdir(self.multiprocess_dir):
            mark_process_dead(os.getpid(), self.multiprocess_dir)


def sample_total(families: Iterable[Metric], sample: str, **labels: Any) -> float:
    """Sum of the samples named ``sample`` whose labels match ``labels``.

    A label's wanted value may be a string, or a collection of accepted strings.
    """
    total = 0.0
    for family in families:
        for item in family.samples:
            if item.name != sample:
                continue
            if all(_matches(item.labels.get(key), want) for key, want in labels.items()):
                total += item.value
    return total


def histogram_buckets(
    families: Iterable[Metric], histogram: str, **labels: Any
) -> list[tuple[float, float]]:
    """Cumulative ``(upper bound, count)`` pairs of a histogram, summed over matching series."""
    counts: dict[float, float] = {}
    for family in families:
        for item in family.samples:
            if item.name != f"{histogram}_bucket":
                continue
            if all(_matches(item.labels.get(key), want) for key, want in labels.items()):
                bound = float(item.labels["le"])
                counts[bound] = counts.get(bound, 0.0) + item.value
    return sorted(counts.items())


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of cumulative buckets, interpolated as PromQL's histogram_quantile.

    None without observations; the highest finite bound when it falls in the ``+Inf`` bucket.
    """
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            if count == lower_count:
                return bound
            share = (rank - lower_count) / (count - lower_count)
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound


def _matches(value: str | None, want: Any) -> bool:
    if isinstance(want, str):
        return value == want
    return value in want


def get_metrics(request: Request) -> Metrics:
    """The app's metrics (a FastAPI dependency)."""
    metrics: Metrics = request.state.metrics
    return metrics
