"""``GuardedLLM``: one model behind a bounded queue, a circuit breaker and retries.

A call waits for one of ``max_in_flight`` slots (at most ``queue_wait_s``), is refused while the
breaker is open, and is retried with jittered exponential backoff on transient errors only,
honouring ``Retry-After``. Each attempt has its own timeout inside the answer's deadline, and is
logged (logger ``rag.fallback``) and reported to the observer with its outcome, duration, tokens
and cost. ``FallbackLLM`` (``rag.llm.fallback``) tries guarded models in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import openai
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, ChatResponseAsyncGen
from llama_index.core.llms.llm import LLM
from llama_index.llms.openai.utils import resolve_openai_credentials
from llama_index.llms.openai_like import OpenAILike
from tenacity import AsyncRetrying, Retrying

from rag.llm.breaker import BreakerState, CircuitBreaker
from rag.llm.errors import (
    FALLBACK_ON,
    EmptyStreamError,
    ModelSkippedError,
    error_code,
    is_quota_error,
)
from rag.llm.retry import CallPlan, retry_arguments
from rag.llm.usage import cost_usd
from rag.observer import LLMOutcome, NullObserver, PipelineObserver

# the attempt log keeps the logger name that README and log queries know
logger = logging.getLogger("rag.fallback")
T = TypeVar("T")


class GuardedLLM:
    """One model with its own queue, breaker, observer and prices.

    ``llm`` is any LlamaIndex ``LLM``; whoever built it closes its clients, except for a model
    built by :meth:`openai_compatible`, which owns its ``openai`` clients and closes them in
    :meth:`aclose`.
    """

    def __init__(
        self,
        name: str,
        llm: LLM,
        breaker: CircuitBreaker,
        max_in_flight: int,
        *,
        observer: PipelineObserver | None = None,
        prices: Mapping[str, Sequence[float]] | None = None,
        clients: Sequence[openai.OpenAI | openai.AsyncOpenAI] = (),
    ) -> None:
        self.name = name
        self.llm = llm
        self.breaker = breaker
        self.max_in_flight = max_in_flight
        self.observer: PipelineObserver = observer or NullObserver()
        self.prices = dict(prices or {})  # for the cost on each attempt's log line
        self.clients = tuple(clients)
        self._gate: asyncio.Semaphore | None = None

    @classmethod
    def openai_compatible(
        cls,
        name: str,
        *,
        base_url: str | None,
        api_key: str,
        timeout_s: float,
        breaker: CircuitBreaker,
        max_in_flight: int,
        observer: PipelineObserver | None = None,
        prices: Mapping[str, Sequence[float]] | None = None,
        **llm_kwargs: Any,
    ) -> GuardedLLM:
        """An OpenAI-compatible chat model whose ``openai`` clients this guarded model owns.

        The clients make no retries: :meth:`achat` retries, within the answer's budget.
        """
        key, base, _ = resolve_openai_credentials(api_key=api_key, api_base=base_url)
        credentials: dict[str, Any] = {
            "api_key": key,
            "base_url": base,
            "timeout": timeout_s,
            "max_retries": 0,
        }
        sync_client, async_client = openai.OpenAI(**credentials), openai.AsyncOpenAI(**credentials)
        llm = OpenAILike(
            model=name,
            api_base=base,
            api_key=key,
            is_chat_model=True,
            timeout=timeout_s,
            max_retries=0,
            openai_client=sync_client,
            async_openai_client=async_client,
            **llm_kwargs,
        )
        return cls(
            name,
            llm,
            breaker,
            max_in_flight,
            observer=observer,
            prices=prices,
            clients=(sync_client, async_client),
        )

    @property
    def gate(self) -> asyncio.Semaphore:
        """The in-flight cap (created on first use, inside the serving event loop)."""
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.max_in_flight)
        return self._gate

    # --- the model's calls ------------------------------------------------------------------

    async def achat(
        self, messages: Sequence[ChatMessage], plan: CallPlan, **kwargs: Any
    ) -> ChatResponse:
        """The model's answer, guarded."""

        async def call() -> ChatResponse:
            return await self.llm.achat(messages, **kwargs)

        return await self.guarded(call, plan)

    async def astream_chat(
        self, messages: Sequence[ChatMessage], plan: CallPlan, **kwargs: Any
    ) -> tuple[ChatResponseAsyncGen, list[ChatResponse]]:
        """A stream opened and read up to its first text (the rest is the caller's to read)."""

        async def call() -> tuple[ChatResponseAsyncGen, list[ChatResponse]]:
            gen = await self.llm.astream_chat(messages, **kwargs)
            return gen, await until_text(gen)

        return await self.guarded(call, plan)

    def chat(self, messages: Sequence[ChatMessage], plan: CallPlan, **kwargs: Any) -> ChatResponse:
        """The sync twin of :meth:`achat`: breaker, retries, log and metrics.

        No queue (it needs an event loop); an attempt is bounded by the client's own timeout.
        """
        with self._breaker_turn() as probe:
            for attempt in Retrying(**retry_arguments(plan, probe=probe)):
                with attempt:
                    result = self._attempt_sync(lambda: self.llm.chat(messages, **kwargs), plan)
            return result

    async def guarded(self, call: Callable[[], Awaitable[T]], plan: CallPlan) -> T:
        """``call`` through the breaker, a queue slot and the retries."""
        with self._breaker_turn() as probe:
            try:
                wait = min(plan.policy.queue_wait_s, max(0.0, plan.deadline - time.monotonic()))
                await asyncio.wait_for(self.gate.acquire(), timeout=wait)
            except TimeoutError as exc:
                self._skipped("queue_full", wait)
                raise ModelSkippedError(f"{self.name}: no free slot in {wait:.1f} s") from exc
            try:
                async for attempt in AsyncRetrying(**retry_arguments(plan, probe=probe)):
                    with attempt:
                        result = await self._attempt(call, plan)
                return result
            finally:
                self.gate.release()

    async def aclose(self) -> None:
        """Close the ``openai`` clients this model owns (none for an ``LLM`` passed in).

        A closed model is not reopened: build a new one.
        """
        for client in self.clients:
            if isinstance(client, openai.AsyncOpenAI):
                await client.close()
            else:
                client.close()

    # --- breaker, retries and the attempt log -----------------------------------------------

    @contextmanager
    def _breaker_turn(self) -> Iterator[bool]:
        """One call as the breaker sees it; yields True for the half-open probe (no retry).

        A listed failure counts against the model, a success for it; anything else (a skip, a
        cancelled call) is not the model's fault and leaves the breaker as it was.
        """
        probe = self.breaker.state is BreakerState.HALF_OPEN
        if not self.breaker.allow():
            self._skipped("breaker_open", 0.0)
            raise ModelSkippedError(f"{self.name}: circuit open")
        ok: bool | None = None
        try:
            yield probe
            ok = True
        except FALLBACK_ON:
            ok = False
            raise
        finally:
            if ok is None:
                self.breaker.abandon()
            elif ok:
                self.breaker.record_success()
            else:
                self.breaker.record_failure()
            self.observer.llm_breaker(model=self.name, state=self.breaker.state.value)

    def _skipped(self, outcome: LLMOutcome, waited_s: float) -> None:
        logger.info("llm attempt", extra={"model": self.name, "outcome": outcome})
        self.observer.llm_attempt(model=self.name, outcome=outcome, duration_s=waited_s)

    def _remaining(self, plan: CallPlan) -> float:
        remaining = plan.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{self.name}: answer time budget spent")
        return remaining

    async def _attempt(self, call: Callable[[], Awaitable[T]], plan: CallPlan) -> T:
        timeout = min(plan.policy.attempt_timeout_s, self._remaining(plan))
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(call(), timeout=timeout)
        except BaseException as exc:
            self._failed(exc, started, plan)
            raise
        self._answered(result, started, plan)
        return result

    def _attempt_sync(self, call: Callable[[], T], plan: CallPlan) -> T:
        self._remaining(plan)
        started = time.perf_counter()
        try:
            result = call()
        except BaseException as exc:
            self._failed(exc, started, plan)
            raise
        self._answered(result, started, plan)
        return result

    def _failed(self, exc: BaseException, started: float, plan: CallPlan) -> None:
        outcome = "quota" if is_quota_error(exc) else type(exc).__name__
        logger.info(
            "llm attempt",
            extra={
                "model": self.name,
                "outcome": outcome,
                "status": getattr(exc, "status_code", None),
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "fallback": plan.fallback,
            },
        )
        if not isinstance(exc, asyncio.CancelledError):  # the reader left: no model error
            self.observer.llm_attempt(
                model=self.name, outcome=error_code(exc), duration_s=time.perf_counter() - started
            )

    def _answered(self, result: object, started: float, plan: CallPlan) -> None:
        self.observer.llm_attempt(
            model=self.name, outcome="ok", duration_s=time.perf_counter() - started
        )
        tokens_in, tokens_out = _reported_usage(result)
        logger.info(
            "llm attempt",
            extra={
                "model": self.name,
                "outcome": "ok",
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "fallback": plan.fallback,  # the answer moved on to this model
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "cost_usd": None
                if tokens_in is None
                else cost_usd(self.name, tokens_in, tokens_out or 0, self.prices),
            },
        )


def _reported_usage(result: object) -> tuple[int | None, int | None]:
    """Tokens a model reported for a whole answer; unknown (None) for a stream just opened."""
    if not isinstance(result, ChatResponse):
        return None, None
    prompt = result.additional_kwargs.get("prompt_tokens")
    completion = result.additional_kwargs.get("completion_tokens")
    if not prompt:
        return None, None
    return int(prompt), int(completion or 0)


async def until_text(gen: ChatResponseAsyncGen) -> list[ChatResponse]:
    """Read a stream up to its first chunk with text (the role chunk before it has none).

    A stream that ends, or breaks, before any text is a failed call: the next model is tried.
    """
    head: list[ChatResponse] = []
    async for item in gen:
        head.append(item)
        if item.delta:
            return head
    # openai.APIError wants the httpx request; a stream that ended early has none to give
    raise EmptyStreamError("the stream ended before any text", request=None, body=None)  # type: ignore[arg-type]  # no request: see above
