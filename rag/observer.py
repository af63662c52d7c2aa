"""What the answering pipeline reports while it works, for the service's metrics.

``rag`` knows nothing of Prometheus: the engine and ``FallbackLLM`` call a ``PipelineObserver``
passed in by whoever builds them (``api.monitoring.metrics.Metrics`` in the service, nothing
elsewhere).
"""

from __future__ import annotations

from typing import Literal, Protocol

from typing_extensions import override

#: Codes of an LLM attempt's outcome ("ok", or why it failed or was not made).
LLMOutcome = Literal[
    "ok",
    "rate_limit",
    "insufficient_quota",
    "server_error",
    "timeout",
    "connection",
    "malformed",
    "breaker_open",
    "queue_full",
    "other",
]
LLM_OUTCOMES: tuple[LLMOutcome, ...] = (
    "ok",
    "rate_limit",
    "insufficient_quota",
    "server_error",
    "timeout",
    "connection",
    "malformed",
    "breaker_open",
    "queue_full",
    "other",
)

#: How an answer was served.
AnswerOutcome = Literal["answered", "refused", "degraded", "cached"]
ANSWER_OUTCOMES: tuple[AnswerOutcome, ...] = ("answered", "refused", "degraded", "cached")

#: A circuit breaker's state as a number: 0 closed, 1 half-open, 2 open.
BREAKER_LEVELS = {"closed": 0, "half_open": 1, "open": 2}


class PipelineObserver(Protocol):
    """Receives what the pipeline did; every method must be cheap and must not raise."""

    def llm_attempt(self, *, model: str, outcome: LLMOutcome, duration_s: float) -> None:
        """One call to a model (or one not made: ``breaker_open``, ``queue_full``)."""

    def llm_fallback(self, *, from_model: str) -> None:
        """An answer moved on from ``from_model`` to the next model or the last resort."""

    def llm_breaker(self, *, model: str, state: str) -> None:
        """A model's circuit breaker is now in ``state`` (closed, half_open, open)."""

    def llm_usage(
        self, *, model: str, prompt_tokens: int, completion_tokens: int, cost_usd: float
    ) -> None:
        """Tokens and dollars one answer used."""

    def llm_first_token(self, *, model: str, seconds: float) -> None:
        """A streamed answer's first text, ``seconds`` after the answer began."""

    def cache_lookup(self, *, hit: bool) -> None:
        """The answer cache was asked for an answer."""

    def answer_served(
        self,
        *,
        outcome: AnswerOutcome,
        retrieval_s: float | None,
        generation_s: float | None,
        total_s: float,
    ) -> None:
        """An answer was given; stage times are None when the stage did not run (cached)."""


class NullObserver(PipelineObserver):
    """Observes nothing (the CLI, the evaluation, tests that do not look)."""

    @override
    def llm_attempt(self, *, model: str, outcome: LLMOutcome, duration_s: float) -> None:
        return None

    @override
    def llm_fallback(self, *, from_model: str) -> None:
        return None

    @override
    def llm_breaker(self, *, model: str, state: str) -> None:
        return None

    @override
    def llm_usage(
        self, *, model: str, prompt_tokens: int, completion_tokens: int, cost_usd: float
    ) -> None:
        return None

    @override
    def llm_first_token(self, *, model: str, seconds: float) -> None:
        return None

    @override
    def cache_lookup(self, *, hit: bool) -> None:
        return None

    @override
    def answer_served(
        self,
        *,
        outcome: AnswerOutcome,
        retrieval_s: float | None,
        generation_s: float | None,
        total_s: float,
    ) -> None:
        return None
