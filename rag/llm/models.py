"""LLMs of the service. ``ExtractiveLLM`` is the offline default and the last resort.

It is a real LlamaIndex ``LLM``: it receives the same chat messages an OpenAI model would, reads the
passages and question back out of them (``rag.answer.prompts.parse_prompt``) and answers
extractively.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
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
from pydantic import Field, PrivateAttr
from typing_extensions import override

from rag.answer.extractive import extractive_answer
from rag.answer.prompts import Passage, parse_prompt
from rag.llm.breaker import CircuitBreaker
from rag.llm.fallback import FallbackLLM
from rag.llm.guarded import GuardedLLM
from rag.llm.retry import RetryPolicy
from rag.observer import PipelineObserver
from rag.retrieval.vector_cache import VectorCache
from rag.settings import Settings

EXTRACTIVE_MODEL = "extractive"


def _pieces(text: str) -> Iterator[str]:
    """Split an answer into stream tokens: words with their trailing whitespace."""
    yield from (m.group(0) for m in re.finditer(r"\S+\s*|\s+", text))


class ExtractiveLLM(LLM):
    """Answers from the passages in the prompt by quoting their best-supported sentences."""

    max_units: int = Field(default=3, ge=1, le=10)
    min_coverage: float = Field(default=0.25, ge=0.0, le=1.0)
    min_similarity: float = Field(default=0.42, ge=0.0, le=1.0)
    _embed_model: BaseEmbedding | None = PrivateAttr(default=None)
    _vectors: VectorCache | None = PrivateAttr(default=None)

    def __init__(
        self,
        *,
        embed_model: BaseEmbedding | None = None,
        vectors: VectorCache | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._embed_model = embed_model
        if embed_model is not None:
            self._vectors = vectors or VectorCache(embed_model)

    def _similarity(self, question: str, texts: list[str]) -> list[float]:
        """Cosine of each text to the question (the embeddings are normalised).

        Vectors come from the cache: a candidate sentence is embedded once, and the question's
        vector is the one retrieval computed.
        """
        assert self._vectors is not None  # noqa: S101 - only called when set
        return self._vectors.cosines(question, texts)

    @classmethod
    def class_name(cls) -> str:
        return "ExtractiveLLM"

    @property
    @override
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=1_000_000,
            num_output=2048,
            is_chat_model=True,
            model_name=EXTRACTIVE_MODEL,
        )

    def _answer(self, prompt: str) -> str:
        return self.answer_passages(*parse_prompt(prompt))

    def answer_passages(self, question: str, passages: list[Passage]) -> str:
        """The answer from passages as ``rag.answer.prompts.Prompt`` holds them (nothing parsed)."""
        return extractive_answer(
            question,
            passages,
            max_units=self.max_units,
            min_coverage=self.min_coverage,
            similarity=self._similarity if self._embed_model is not None else None,
            min_similarity=self.min_similarity,
        )

    def _answer_messages(self, messages: Sequence[ChatMessage]) -> str:
        user = [m for m in messages if m.role == MessageRole.USER]
        return self._answer(user[-1].content or "" if user else "")

    @llm_chat_callback()
    @override
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = self._answer_messages(messages)
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

    @llm_chat_callback()
    @override
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        text = self._answer_messages(messages)

        def gen() -> ChatResponseGen:
            so_far = ""
            for piece in _pieces(text):
                so_far += piece
                yield ChatResponse(
                    message=ChatMessage(role=MessageRole.ASSISTANT, content=so_far), delta=piece
                )

        return gen()

    @llm_completion_callback()
    @override
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self._answer(prompt))

    @llm_completion_callback()
    @override
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        text = self._answer(prompt)

        def gen() -> CompletionResponseGen:
            so_far = ""
            for piece in _pieces(text):
                so_far += piece
                yield CompletionResponse(text=so_far, delta=piece)

        return gen()

    @llm_chat_callback()
    @override
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        # off the event loop: the semantic check embeds a few sentences
        text = await asyncio.to_thread(self._answer_messages, messages)
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

    @llm_chat_callback()
    @override
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        text = await asyncio.to_thread(self._answer_messages, messages)

        async def gen() -> ChatResponseAsyncGen:
            so_far = ""
            for piece in _pieces(text):
                so_far += piece
                yield ChatResponse(
                    message=ChatMessage(role=MessageRole.ASSISTANT, content=so_far), delta=piece
                )

        return gen()

    @llm_completion_callback()
    @override
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        response: CompletionResponse = self.complete(prompt, formatted, **kwargs)
        return response

    @llm_completion_callback()
    @override
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        sync_gen = self.stream_complete(prompt, formatted, **kwargs)

        async def gen() -> CompletionResponseAsyncGen:
            for item in sync_gen:
                yield item

        return gen()


def build_extractive_llm(
    settings: Settings,
    *,
    embed_model: BaseEmbedding | None = None,
    vectors: VectorCache | None = None,
) -> ExtractiveLLM:
    """The offline answerer; with an embedding model it also checks answers semantically.

    ``vectors`` (shared with the retriever) keeps the vectors it compares, computed once.
    """
    return ExtractiveLLM(
        max_units=settings.answer_sentences,
        min_coverage=settings.min_coverage,
        min_similarity=settings.min_similarity,
        embed_model=embed_model,
        vectors=vectors,
    )


def build_llm(
    settings: Settings,
    *,
    last_resort: LLM | None = None,
    observer: PipelineObserver | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> LLM:
    """The answering model: the extractive answerer, or configured models falling back to it.

    ``observer`` hears of every model attempt, fallback and breaker change; ``clock`` times the
    breakers' cool-downs (a test passes a clock it moves by hand).
    """
    extractive = last_resort or build_extractive_llm(settings)
    if not settings.llm_model:
        return extractive
    api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "unused"
    routes = []
    for position, name in enumerate([settings.llm_model, *settings.llm_fallback_models]):
        base_url = settings.llm_base_url
        if position > 0 and settings.llm_fallback_base_url:
            base_url = settings.llm_fallback_base_url
        breaker = CircuitBreaker(
            failure_threshold=settings.llm_breaker_failures,
            cooldown_s=settings.llm_breaker_cooldown_s,
            clock=clock,
        )
        routes.append(
            GuardedLLM.openai_compatible(
                name,
                base_url=base_url,
                api_key=api_key,
                timeout_s=settings.llm_timeout_s,
                breaker=breaker,
                max_in_flight=settings.llm_max_in_flight,
                observer=observer,
                prices=settings.llm_prices,
                context_window=settings.llm_context_window,
                max_tokens=settings.llm_max_output_tokens,
                temperature=settings.llm_temperature,
                additional_kwargs={"stream_options": {"include_usage": True}},
            )
        )
    policy = RetryPolicy(
        max_attempts=settings.llm_max_attempts,
        attempt_timeout_s=settings.llm_timeout_s,
        total_budget_s=settings.llm_total_budget_s,
        backoff_base_s=settings.llm_backoff_base_s,
        backoff_max_s=settings.llm_backoff_max_s,
        max_retry_after_s=settings.llm_max_retry_after_s,
        max_in_flight=settings.llm_max_in_flight,
        queue_wait_s=settings.llm_queue_wait_s,
    )
    return FallbackLLM(routes, extractive, policy=policy, observer=observer)
