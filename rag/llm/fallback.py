"""``FallbackLLM``: guarded models tried in order, then a last resort.

Each model is a :class:`~rag.llm.guarded.GuardedLLM` (queue, breaker, retries, attempt log); one
time budget covers the whole answer. A failure listed in ``FALLBACK_ON``, or a skip by a model's
breaker or queue, moves the answer on to the next model: a 4xx such as ``insufficient_quota`` is
not retried there. On a stream, fallback happens only before the first token. The last resort (the
extractive answerer) answers when every model fails; its responses are marked ``degraded``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Sequence
from typing import Any, TypeVar

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
from typing_extensions import override

from rag.llm.errors import (
    FALLBACK_ON,
    NEXT_MODEL_ON,
    EmptyStreamError,
    ModelSkippedError,
    error_code,
    is_quota_error,
    is_retryable,
    is_transient,
    retry_after_s,
)
from rag.llm.guarded import GuardedLLM, until_text
from rag.llm.retry import CallPlan, RetryPolicy
from rag.observer import NullObserver, PipelineObserver

logger = logging.getLogger("rag.fallback")
T = TypeVar("T")

__all__ = [
    "FALLBACK_ON",
    "EmptyStreamError",
    "FallbackLLM",
    "GuardedLLM",
    "ModelSkippedError",
    "RetryPolicy",
    "error_code",
    "is_quota_error",
    "is_retryable",
    "is_transient",
    "mark",
    "retry_after_s",
]


def mark(response: ChatResponse, *, model: str, degraded: bool, fallback: bool) -> ChatResponse:
    """Record which model answered on the response (the engine reads these keys)."""
    response.additional_kwargs.update(model=model, degraded=degraded, fallback=fallback)
    return response


class FallbackLLM(LLM):
    """A LlamaIndex ``LLM`` that composes guarded models and a last resort.

    ``observer`` hears of each move to the next model; every model reports its own attempts to
    the observer it was built with.
    """

    policy: RetryPolicy = RetryPolicy()
    _routes: list[GuardedLLM] = PrivateAttr()
    _last_resort: LLM = PrivateAttr()
    _last_resort_name: str = PrivateAttr()
    _observer: PipelineObserver = PrivateAttr()

    def __init__(
        self,
        routes: list[GuardedLLM],
        last_resort: LLM,
        *,
        policy: RetryPolicy | None = None,
        observer: PipelineObserver | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(policy=policy or RetryPolicy(), **kwargs)
        self._routes = routes
        self._last_resort = last_resort
        self._last_resort_name = last_resort.metadata.model_name
        self._observer = observer or NullObserver()

    @classmethod
    def class_name(cls) -> str:
        return "FallbackLLM"

    @property
    def routes(self) -> list[GuardedLLM]:
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

    def _plans(self) -> Generator[tuple[GuardedLLM, CallPlan], None, None]:
        """Each model in order, with what this answer allows it (one deadline for all)."""
        deadline = time.monotonic() + self.policy.total_budget_s
        for position, route in enumerate(self._routes):
            yield route, CallPlan(policy=self.policy, deadline=deadline, fallback=position > 0)

    # --- async API ----------------------------------------------------------------------------

    @llm_chat_callback()
    @override
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        errors: list[BaseException] = []
        for route, plan in self._plans():
            try:
                response = await route.achat(messages, plan, **kwargs)
            except NEXT_MODEL_ON as exc:
                errors.append(exc)
                self._observer.llm_fallback(from_model=route.name)
                continue
            return mark(response, model=route.name, degraded=False, fallback=plan.fallback)
        if errors:
            logger.warning("every model failed; answering extractively", exc_info=errors[-1])
        response = await self._last_resort.achat(messages, **kwargs)
        return mark(response, model=self._last_resort_name, degraded=True, fallback=bool(errors))

    @llm_chat_callback()
    @override
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        failed = False
        for route, plan in self._plans():
            try:
                gen, head = await route.astream_chat(messages, plan, **kwargs)
            except NEXT_MODEL_ON:
                failed = True
                self._observer.llm_fallback(from_model=route.name)
                continue
            return _relay(gen, head, model=route.name, degraded=False, fallback=plan.fallback)
        gen = await self._last_resort.astream_chat(messages, **kwargs)
        head = await until_text(gen)
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

    # --- sync API: the same order, guards and last resort, through each model's sync client ---

    def _sync_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        failed = False
        for route, plan in self._plans():
            try:
                response = route.chat(messages, plan, **kwargs)
            except NEXT_MODEL_ON:
                failed = True
                self._observer.llm_fallback(from_model=route.name)
                continue
            return mark(response, model=route.name, degraded=False, fallback=plan.fallback)
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
        """Close the models' own clients (the lifespan calls this on shutdown)."""
        for route in self._routes:
            await route.aclose()


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
