"""``FallbackLLM``: OpenAI-compatible models tried in order, each guarded, then a last resort.

Per model: a bounded queue (a cap on calls in flight and on the wait for a slot), a circuit
breaker, and tenacity retries with jittered exponential backoff on transient errors only,
honouring ``Retry-After``, inside one time budget for the whole answer. A 4xx such as
``insufficient_quota`` is not retried: the next model answers. On a stream, fallback happens only
before the first token. The last resort (the extractive answerer) answers when every model fails;
its responses are marked ``degraded``. Every attempt is logged with model, outcome and duration.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import openai
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.llm import LLM
from pydantic import PrivateAttr
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)
from tenacity.wait import wait_random_exponential
from typing_extensions import override

from rag.llm.breaker import BreakerState, CircuitBreaker
from rag.llm.usage import cost_usd
from rag.observer import LLMOutcome, NullObserver, PipelineObserver

# the attempt log keeps the logger name that README and log queries know
logger = logging.getLogger("rag.fallback")
T = TypeVar("T")

#: Failures after which the next model is tried; anything else is a bug and propagates. The
#: openai client lets a malformed body out as a JSONDecodeError and a cut stream as an httpx error.
FALLBACK_ON: tuple[type[BaseException], ...] = (
    openai.OpenAIError,
    TimeoutError,
    ConnectionError,
    json.JSONDecodeError,
    httpx.TransportError,
)


class ModelSkippedError(Exception):
    """A model was not called: its breaker is open or no slot freed up in time."""


#: What sends a call on to the next model: a listed failure, or a skip by its breaker or queue.
_NEXT_MODEL_ON: tuple[type[BaseException], ...] = (*FALLBACK_ON, ModelSkippedError)


class EmptyStreamError(openai.APIError):
    """A stream ended, or broke, before any text."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one model, and how long an answer may take in all."""

    max_attempts: int = 3
    attempt_timeout_s: float = 20.0
    total_budget_s: float = 30.0
    backoff_base_s: float = 0.25
    backoff_max_s: float = 4.0
    max_retry_after_s: float = 10.0
    max_in_flight: int = 16
    queue_wait_s: float = 2.0


@dataclass
class ModelRoute:
    """One model with its own breaker and queue."""

    name: str
    llm: LLM
    breaker: CircuitBreaker
    max_in_flight: int
    _gate: asyncio.Semaphore | None = field(default=None, repr=False)

    @property
    def gate(self) -> asyncio.Semaphore:
        """The in-flight cap (created on first use, inside the serving event loop)."""
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.max_in_flight)
        return self._gate


def is_quota_error(exc: BaseException) -> bool:
    """True for 429 ``insufficient_quota``: the account is out of credit, retrying cannot help."""
    return isinstance(exc, openai.RateLimitError) and (
        getattr(exc, "code", None) == "insufficient_quota"
        or "insufficient_quota" in str(getattr(exc, "body", "") or "")
    )


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying on the same model: timeouts, connection drops, 429 rate limits, 5xx."""
    if isinstance(exc, openai.RateLimitError):
        return not is_quota_error(exc)
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code >= 500 or exc.status_code in (408, 409)
    return isinstance(
        exc,
        openai.APITimeoutError
        | openai.APIConnectionError
        | openai.APIResponseValidationError
        | TimeoutError
        | ConnectionError,
    )


def is_retryable(exc: BaseException) -> bool:
    """Worth another try on the same model: transient, but not a timeout.

    A model that hung once is likely to hang again; the rest of the budget goes to the next one.
    """
    return is_transient(exc) and not isinstance(exc, openai.APITimeoutError | TimeoutError)


def error_code(exc: BaseException) -> LLMOutcome:
    """The metrics' code for a failed attempt (``rag.observer.LLM_OUTCOMES``)."""
    if is_quota_error(exc):
        return "insufficient_quota"
    if isinstance(exc, openai.RateLimitError):
        return "rate_limit"
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError | ConnectionError | httpx.TransportError):
        return "connection"
    if isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
        return "server_error"
    if isinstance(exc, EmptyStreamError | openai.APIResponseValidationError | json.JSONDecodeError):
        return "malformed"
    return "other"


def retry_after_s(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait (``Retry-After``), if it said."""
    response = getattr(exc, "response", None)
    raw = response.headers.get("retry-after") if response is not None else None
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def mark(response: ChatResponse, *, model: str, degraded: bool, fallback: bool) -> ChatResponse:
    """Record which model answered on the response (the engine reads these keys)."""
    response.additional_kwargs.update(model=model, degraded=degraded, fallback=fallback)
    return response


class FallbackLLM(LLM):
    """A LlamaIndex ``LLM`` that composes OpenAI-compatible models and a last resort."""

    policy: RetryPolicy = RetryPolicy()
    _routes: list[ModelRoute] = PrivateAttr()
    _last_resort: LLM = PrivateAttr()
    _last_resort_name: str = PrivateAttr()
    _observer: PipelineObserver = PrivateAttr()
    _prices: dict[str, Sequence[float]] = PrivateAttr(default_factory=dict)

    def __init__(
        self,
        routes: list[ModelRoute],
        last_resort: LLM,
        *,
        policy: RetryPolicy | None = None,
        observer: PipelineObserver | None = None,
        prices: Mapping[str, Sequence[float]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(policy=policy or RetryPolicy(), **kwargs)
        self._routes = routes
        self._last_resort = last_resort
        self._last_resort_name = last_resort.metadata.model_name
        self._observer = observer or NullObserver()
        self._prices = dict(prices or {})  # for the cost on each attempt's log line

    @classmethod
    def class_name(cls) -> str:
        return "FallbackLLM"

    @property
    def routes(self) -> list[ModelRoute]:
        """The models, in the order they are tried."""
        return self._routes

    @property
    @override
    def metadata(self) -> LLMMetadata:
        windows = [r.llm.metadata.context_window for r in self._routes]
        windows.append(self._last_resort.metadata.context_window)
        first = self._routes[0].name if self._routes else self._last_resort_name
        return LLMMetadata(
            context_window=min(windows),
            num_output=min(r.llm.metadata.num_output for r in self._routes)
            if self._routes
            else 256,
            is_chat_model=True,
            model_name=first,
        )

    # --- one model, guarded -------------------------------------------------------------------

    def _stop(self, deadline: float, *, probe: bool) -> Callable[[RetryCallState], bool]:
        """Stop at the attempt limit, or when the wait the server asks for outlasts the budget."""
        attempts = stop_after_attempt(1 if probe else self.policy.max_attempts)

        def stop(state: RetryCallState) -> bool:
            if attempts(state):
                return True
            exc = state.outcome.exception() if state.outcome else None
            asked = retry_after_s(exc)
            if asked is None:
                return False
            return time.monotonic() + min(asked, self.policy.max_retry_after_s) >= deadline

        return stop

    def _wait(self, deadline: float) -> Callable[[RetryCallState], float]:
        backoff = wait_random_exponential(
            multiplier=self.policy.backoff_base_s, max=self.policy.backoff_max_s
        )

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            asked = retry_after_s(exc)
            delay = (
                min(asked, self.policy.max_retry_after_s) if asked is not None else backoff(state)
            )
            return max(0.0, min(delay, deadline - time.monotonic()))

        return wait

    async def _guarded(
        self, route: ModelRoute, call: Callable[[], Awaitable[T]], deadline: float
    ) -> T:
        probe = route.breaker.state is BreakerState.HALF_OPEN  # a probe is one request, no retry
        if not route.breaker.allow():
            logger.info("llm attempt", extra={"model": route.name, "outcome": "breaker_open"})
            self._observer.llm_attempt(model=route.name, outcome="breaker_open", duration_s=0.0)
            raise ModelSkippedError(f"{route.name}: circuit open")
        settled = False
        try:
            try:
                wait = min(self.policy.queue_wait_s, max(0.0, deadline - time.monotonic()))
                await asyncio.wait_for(route.gate.acquire(), timeout=wait)
            except TimeoutError as exc:
                logger.info("llm attempt", extra={"model": route.name, "outcome": "queue_full"})
                self._observer.llm_attempt(model=route.name, outcome="queue_full", duration_s=wait)
                raise ModelSkippedError(f"{route.name}: no free slot in {wait:.1f} s") from exc
            try:
                retrying = AsyncRetrying(
                    stop=self._stop(deadline, probe=probe),
                    wait=self._wait(deadline),
                    retry=retry_if_exception(is_retryable),
                    reraise=True,
                )
                async for attempt in retrying:
                    with attempt:
                        result = await self._attempt(route, call, deadline)
                route.breaker.record_success()
                settled = True
                return result
            except FALLBACK_ON:
                route.breaker.record_failure()
                settled = True
                raise
            finally:
                route.gate.release()
        finally:
            if not settled:  # cancelled or skipped: not the model's fault
                route.breaker.abandon()
            self._observer.llm_breaker(model=route.name, state=route.breaker.state.value)

    async def _attempt(
        self, route: ModelRoute, call: Callable[[], Awaitable[T]], deadline: float
    ) -> T:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{route.name}: answer time budget spent")
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(
                call(), timeout=min(self.policy.attempt_timeout_s, remaining)
            )
        except BaseException as exc:
            outcome = "quota" if is_quota_error(exc) else type(exc).__name__
            logger.info(
                "llm attempt",
                extra={
                    "model": route.name,
                    "outcome": outcome,
                    "status": getattr(exc, "status_code", None),
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "fallback": route is not self._routes[0],
                },
            )
            if not isinstance(exc, asyncio.CancelledError):  # the reader left: no model error
                self._observer.llm_attempt(
                    model=route.name,
                    outcome=error_code(exc),
                    duration_s=time.perf_counter() - started,
                )
            raise
        self._observer.llm_attempt(
            model=route.name, outcome="ok", duration_s=time.perf_counter() - started
        )
        tokens_in, tokens_out = _reported_usage(result)
        logger.info(
            "llm attempt",
            extra={
                "model": route.name,
                "outcome": "ok",
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "fallback": route is not self._routes[0],  # the answer moved on to this model
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "cost_usd": None
                if tokens_in is None
                else cost_usd(route.name, tokens_in, tokens_out or 0, self._prices),
            },
        )
        return result

    # --- async API ----------------------------------------------------------------------------

    @llm_chat_callback()
    @override
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        deadline = time.monotonic() + self.policy.total_budget_s
        errors: list[BaseException] = []
        for position, route in enumerate(self._routes):
            try:
                response = await self._guarded(
                    route, functools.partial(route.llm.achat, messages, **kwargs), deadline
                )
            except _NEXT_MODEL_ON as exc:
                errors.append(exc)
                self._observer.llm_fallback(from_model=route.name)
                continue
            return mark(response, model=route.name, degraded=False, fallback=position > 0)
        if errors:
            logger.warning("every model failed; answering extractively", exc_info=errors[-1])
        response = await self._last_resort.achat(messages, **kwargs)
        return mark(response, model=self._last_resort_name, degraded=True, fallback=bool(errors))

    @llm_chat_callback()
    @override
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        deadline = time.monotonic() + self.policy.total_budget_s
        failed = False
        for position, route in enumerate(self._routes):

            async def open_stream(
                r: ModelRoute = route,
            ) -> tuple[ChatResponseAsyncGen, list[ChatResponse]]:
                gen = await r.llm.astream_chat(messages, **kwargs)
                return gen, await _until_text(gen)

            try:
                gen, head = await self._guarded(route, open_stream, deadline)
            except _NEXT_MODEL_ON:
                failed = True
                self._observer.llm_fallback(from_model=route.name)
                continue
            return _relay(gen, head, model=route.name, degraded=False, fallback=position > 0)
        gen = await self._last_resort.astream_chat(messages, **kwargs)
        head = await _until_text(gen)
        return _relay(gen, head, model=self._last_resort_name, degraded=True, fallback=failed)

    @llm_completion_callback()
    @override
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        response = await self.achat([ChatMessage(role=MessageRole.USER, content=prompt)], **kwargs)
        return CompletionResponse(
            text=response.message.content or "", additional_kwargs=response.additional_kwargs
        )

    @llm_completion_callback()
    @override
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        chat = await self.astream_chat(
            [ChatMessage(role=MessageRole.USER, content=prompt)], **kwargs
        )

        async def gen() -> CompletionResponseAsyncGen:
            async for item in chat:
                yield CompletionResponse(
                    text=item.message.content or "",
                    delta=item.delta,
                    additional_kwargs=item.additional_kwargs,
                )

        return gen()

    # --- sync API: the same order and last resort, through each model's sync client ------------

    def _sync_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Sync twin of ``achat``: breaker and retries, no queue (a queue needs an event loop)."""
        deadline = time.monotonic() + self.policy.total_budget_s
        failed = False
        for position, route in enumerate(self._routes):
            probe = route.breaker.state is BreakerState.HALF_OPEN
            if not route.breaker.allow():
                failed = True
                self._observer.llm_fallback(from_model=route.name)
                continue
            retrying = Retrying(
                stop=self._stop(deadline, probe=probe),
                wait=self._wait(deadline),
                retry=retry_if_exception(is_retryable),
                reraise=True,
            )
            try:
                response = retrying(route.llm.chat, messages, **kwargs)
            except FALLBACK_ON:
                route.breaker.record_failure()
                failed = True
                self._observer.llm_fallback(from_model=route.name)
                continue
            route.breaker.record_success()
            return mark(response, model=route.name, degraded=False, fallback=position > 0)
        response = self._last_resort.chat(messages, **kwargs)
        return mark(response, model=self._last_resort_name, degraded=True, fallback=failed)

    @llm_chat_callback()
    @override
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._sync_chat(messages, **kwargs)

    @llm_completion_callback()
    @override
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        response = self._sync_chat([ChatMessage(role=MessageRole.USER, content=prompt)], **kwargs)
        return CompletionResponse(
            text=response.message.content or "", additional_kwargs=response.additional_kwargs
        )

    @llm_chat_callback()
    @override
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        response = self._sync_chat(messages, **kwargs)  # sync callers get the answer in one chunk
        response.delta = response.message.content or ""
        return _one(response)

    @llm_completion_callback()
    @override
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        response = self.complete(prompt, formatted, **kwargs)
        response.delta = response.text
        return _one(response)

    async def aclose(self) -> None:
        """Close the models' pooled connections (the lifespan calls this on shutdown).

        The async clients are dropped too, so a later call (another event loop) opens new ones.
        """
        for route in self._routes:
            client = getattr(route.llm, "_aclient", None)
            if client is not None:
                await client.close()
                # OpenAILike has no public way to drop its cached client; the attribute is private
                route.llm._aclient = None  # type: ignore[attr-defined]


def _reported_usage(result: object) -> tuple[int | None, int | None]:
    """Tokens a model reported for a whole answer; unknown (None) for a stream just opened."""
    if not isinstance(result, ChatResponse):
        return None, None
    prompt = result.additional_kwargs.get("prompt_tokens")
    completion = result.additional_kwargs.get("completion_tokens")
    if not prompt:
        return None, None
    return int(prompt), int(completion or 0)


async def _until_text(gen: ChatResponseAsyncGen) -> list[ChatResponse]:
    """Read a stream up to its first chunk with text (the role chunk before it has none).

    A stream that ends, or breaks, before any text is a failed call: the next model is tried.
    """
    head: list[ChatResponse] = []
    async for item in gen:
        head.append(item)
        if item.delta:
            return head
    # openai.APIError wants the httpx request; a stream that ended early has none to give
    raise EmptyStreamError("the stream ended before any text", request=None, body=None)  # type: ignore[arg-type]


async def _relay(
    gen: ChatResponseAsyncGen,
    head: list[ChatResponse],
    *,
    model: str,
    degraded: bool,
    fallback: bool,
) -> ChatResponseAsyncGen:
    for item in head:
        yield mark(item, model=model, degraded=degraded, fallback=fallback)
    async for item in gen:
        yield mark(item, model=model, degraded=degraded, fallback=fallback)


def _one(item: T) -> Generator[T, None, None]:
    """A generator of one item: the sync stream of a whole answer."""
    yield item
