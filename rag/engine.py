"""The question-answering pipeline, assembled from LlamaIndex parts by ``build_*`` factories.

retrieve (dense + keyword, fused) -> similarity cut-off -> SelectedTextPostprocessor (per
request) -> top k -> numbered passages -> LLM (the extractive answerer by default) -> citation
check -> sources.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.llms.llm import LLM
from llama_index.core.postprocessor import SimilarityPostprocessor
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import ResponseHandlingException

from rag.answer.cache import AnswerCache, cache_key
from rag.answer.condense import Turn, condense, condense_with_llm
from rag.answer.prompts import NOT_COVERED, build_messages
from rag.answer.result import (
    AnswerResult,
    SourceRef,
    StreamEvent,
    finish_answer,
    passages_of,
    source_ref,
)
from rag.llm.budget import DailyBudget
from rag.llm.models import EXTRACTIVE_MODEL, build_extractive_llm, build_llm
from rag.llm.usage import cost_usd, count_tokens, estimate_prompt_tokens
from rag.observer import AnswerOutcome, NullObserver, PipelineObserver
from rag.retrieval.embeddings import LocalEmbedding
from rag.retrieval.postprocessors import SelectedTextPostprocessor, TopKPostprocessor
from rag.retrieval.retriever import QdrantRetriever
from rag.retrieval.scopes import BookScope, UnknownScopeError, resolve_scope
from rag.retrieval.vector_store import (
    SCOPES_KEY,
    active_collection,
    build_vector_store,
    collection_metadata,
)
from rag.safety.answer_guard import AnswerGuard
from rag.safety.markdown import normalise_hosts
from rag.settings import Settings

_QUERY_SELECTION_CHARS = 1000
logger = logging.getLogger(__name__)


class IndexNotReadyError(RuntimeError):
    """No index has been published yet for the configured collection."""


class TextbookQA:
    """Answers questions from the indexed book; one instance is shared by all requests.

    Args:
        retriever: the retriever (its ``lock`` also guards this object's index look-ups).
        llm: the answering model (the extractive answerer, or a FallbackLLM).
        fallback_llm: what answers, degraded, when the daily budget is spent.
        cache: answers by question, selection and index version; None disables caching.
        budget: the daily LLM spending limit; None for no limit.
        prices: USD per million (input, output) tokens by model name.
        history_max_turns: turns of the conversation kept (for condensing and the prompt).
        history_max_tokens: token cap on those turns (oldest dropped first).
        observer: told of cache look-ups, answers served and the tokens they used.
        link_hosts: hosts of the book's site, which answers may link to (others are removed).
    """

    def __init__(
        self,
        *,
        retriever: QdrantRetriever,
        llm: LLM,
        client: QdrantClient,
        collection: str,
        top_k: int,
        min_relevance: float,
        lock: threading.Lock,
        fallback_llm: LLM | None = None,
        cache: AnswerCache | None = None,
        budget: DailyBudget | None = None,
        prices: Mapping[str, Sequence[float]] | None = None,
        history_max_turns: int = 4,
        history_max_tokens: int = 1500,
        observer: PipelineObserver | None = None,
        link_hosts: Sequence[str] = (),
    ) -> None:
        self.retriever = retriever
        self.llm = llm
        self.client = client
        self.collection = collection
        self.top_k = top_k
        self.min_relevance = min_relevance
        self.lock = lock
        self.fallback_llm = fallback_llm or llm
        self.cache = cache
        self.budget = budget
        self.prices = prices or {}
        self.history_max_turns = history_max_turns
        self.history_max_tokens = history_max_tokens
        self.observer: PipelineObserver = observer or NullObserver()
        self.link_hosts = normalise_hosts(link_hosts)
        self._scopes: dict[str, Mapping[str, Any]] = {}

    @property
    def model_name(self) -> str:
        """Name of the model that writes the answers."""
        return self.llm.metadata.model_name

    def published_collection(self) -> str | None:
        """The collection the alias points at: the published index version (None before any)."""
        with self.lock:
            return active_collection(self.client, self.collection)

    def is_ready(self) -> bool:
        """True once an index version is published for the collection."""
        return self.published_collection() is not None

    def resolve_scope(self, version: str | None, locale: str | None) -> BookScope:
        """The doc version and locale to answer from: checked, defaults filled in (blocking).

        Before the first ingest any values are accepted (retrieval then reports the missing
        index; a selection-only answer needs none).

        Raises:
            UnknownScopeError: The index does not hold that version or locale.
        """
        with self.lock:
            live = active_collection(self.client, self.collection)
            if live is None:
                return BookScope(version=version or "current", locale=locale or "en")
            described = self._scopes.get(live)
            if described is None:
                described = collection_metadata(self.client, live).get(SCOPES_KEY) or {}
                self._scopes = {live: described}  # index versions are immutable once published
        return resolve_scope(described, version, locale)

    def _postprocessors(
        self, selected_text: str | None, page_url: str | None
    ) -> list[BaseNodePostprocessor]:
        steps: list[BaseNodePostprocessor] = [
            SimilarityPostprocessor(similarity_cutoff=self.min_relevance)
        ]
        if selected_text:
            steps.append(SelectedTextPostprocessor(selected_text=selected_text, page_url=page_url))
        steps.append(TopKPostprocessor(top_k=self.top_k))
        return steps

    async def retrieve(
        self,
        question: str,
        *,
        selected_text: str | None = None,
        selection_only: bool = False,
        page_url: str | None = None,
        scope: BookScope | None = None,
    ) -> list[NodeWithScore]:
        """The passages an answer is built from, best first (the selection pinned first).

        ``scope`` (the reader's doc version and locale) limits the search to its chunks.
        """
        if selected_text and selection_only:
            pin = SelectedTextPostprocessor(selected_text=selected_text, page_url=page_url)
            return [pin.selection_node()]
        if not await asyncio.to_thread(self.is_ready):
            raise IndexNotReadyError(f"no index published for collection {self.collection!r}")
        embed_strs = [question]
        if selected_text:
            embed_strs = [f"{question}\n{selected_text[:_QUERY_SELECTION_CHARS]}"]
        bundle = QueryBundle(query_str=question, custom_embedding_strs=embed_strs)
        retriever = self.retriever
        if scope is not None and (query_filter := scope.query_filter()) is not None:
            retriever = retriever.scoped(query_filter)
        nodes = await retriever.aretrieve(bundle)
        for step in self._postprocessors(selected_text, page_url):
            nodes = await step.apostprocess_nodes(nodes, query_bundle=bundle)
        return nodes

    async def _cache_key(
        self,
        question: str,
        selected_text: str | None,
        selection_only: bool,
        scope: BookScope | None = None,
    ) -> str | None:
        if self.cache is None:
            return None
        version = await asyncio.to_thread(self.published_collection)
        if version is None:
            return None
        return cache_key(
            question=question,
            selected_text=selected_text,
            selection_only=selection_only,
            book_version=version,
            doc_version=scope.version if scope is not None else "",
            locale=scope.locale if scope is not None else "",
        )

    async def aclose(self) -> None:
        """Release the model clients' connections (call on shutdown)."""
        close = getattr(self.llm, "aclose", None)
        if close is not None:
            await close()

    def _cached(self, key: str | None) -> AnswerResult | None:
        """The cached answer for ``key``, marked as such and costing nothing this time."""
        if self.cache is None or key is None:
            return None
        hit = self.cache.get(key)
        self.observer.cache_lookup(hit=hit is not None)
        if hit is not None:
            hit.cached = True
            hit.retrieval_ms = hit.generation_ms = 0.0
            hit.usage.update(prompt_tokens=0, completion_tokens=0, cost_usd=0.0, estimated=False)
        return hit

    def _answering_llm(self) -> tuple[LLM, bool]:
        """The model for the next answer, and whether it is the fallback because of the budget."""
        if self.budget is not None and self.llm is not self.fallback_llm and self.budget.exceeded():
            return self.fallback_llm, True
        return self.llm, False

    async def standalone_question(self, question: str, history: Sequence[Turn]) -> str:
        """The question as retrieval should see it: follow-ups rewritten with their context."""
        if not history:
            return question
        llm, _ = self._answering_llm()
        if llm.metadata.model_name == EXTRACTIVE_MODEL:
            return condense(question, history)
        return await condense_with_llm(llm, question, history)

    def _bounded(self, history: Sequence[Turn]) -> list[Turn]:
        """The most recent turns that fit the history limits (turns and tokens)."""
        kept: list[Turn] = []
        budget = self.history_max_tokens
        for turn in reversed(history[-self.history_max_turns :] if self.history_max_turns else []):
            budget -= count_tokens(turn.question) + count_tokens(turn.answer)
            if budget < 0:
                break
            kept.insert(0, turn)
        return kept

    async def _plan(
        self,
        question: str,
        history: Sequence[Turn],
        selected_text: str | None,
        selection_only: bool,
        scope: BookScope | None = None,
    ) -> tuple[list[Turn], str, str | None]:
        """The bounded history, the standalone question and the cache key of a request."""
        bounded = self._bounded(history)
        standalone = await self.standalone_question(question, bounded)
        key = await self._cache_key(standalone, selected_text, selection_only, scope)
        return bounded, standalone, key

    def _complete(
        self, result: AnswerResult, key: str | None, *, started: float, retrieved: float
    ) -> None:
        """Stamp the timings, cache the answer unless it is degraded, and report it."""
        result.retrieval_ms = (retrieved - started) * 1000
        result.generation_ms = (time.perf_counter() - retrieved) * 1000
        if key is not None and self.cache is not None and not result.degraded:
            self.cache.put(key, result)
        self.observer.answer_served(
            outcome=_outcome(result),
            retrieval_s=result.retrieval_ms / 1000,
            generation_s=result.generation_ms / 1000,
            total_s=time.perf_counter() - started,
        )

    def _served_from_cache(self, started: float) -> None:
        self.observer.answer_served(
            outcome="cached",
            retrieval_s=None,
            generation_s=None,
            total_s=time.perf_counter() - started,
        )

    async def answer(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        selected_text: str | None = None,
        selection_only: bool = False,
        page_url: str | None = None,
        scope: BookScope | None = None,
    ) -> AnswerResult:
        """Retrieve, then answer with citations checked against the sources given."""
        started = time.perf_counter()
        history, standalone, key = await self._plan(
            question, history, selected_text, selection_only, scope
        )
        if (hit := self._cached(key)) is not None:
            self._served_from_cache(started)
            return hit
        nodes = await self.retrieve(
            standalone,
            selected_text=selected_text,
            selection_only=selection_only,
            page_url=page_url,
            scope=scope,
        )
        retrieved = time.perf_counter()
        if nodes:
            messages = build_messages(standalone, passages_of(nodes), history=history)
            llm, over_budget = self._answering_llm()
            response = await llm.achat(messages)
            extra = {"model": llm.metadata.model_name, **response.additional_kwargs}
            text = response.message.content or ""
            result = self._finish(messages, text, nodes, extra, over_budget=over_budget)
        else:
            result = AnswerResult(answer=NOT_COVERED, sources=[], model=self.model_name)
        self._complete(result, key, started=started, retrieved=retrieved)
        return result

    async def stream_answer(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        selected_text: str | None = None,
        selection_only: bool = False,
        page_url: str | None = None,
        scope: BookScope | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Retrieve, then stream: the passages, the answer's deltas, and the checked result.

        The deltas are the model's text once ``rag.safety.answer_guard`` has checked it (words that
        could start a system-prompt leak, and markup, are held until known to be safe; nothing more
        after a leak); the final ``AnswerResult`` also has its citations checked (a refusal carries
        no sources), so a client shows the deltas and then the final answer.
        A cached answer is replayed as one delta.
        """
        started = time.perf_counter()
        history, standalone, key = await self._plan(
            question, history, selected_text, selection_only, scope
        )
        if (hit := self._cached(key)) is not None:
            self._served_from_cache(started)
            yield StreamEvent(sources=hit.sources)
            yield StreamEvent(delta=hit.answer)
            yield StreamEvent(result=hit)
            return
        nodes = await self.retrieve(
            standalone,
            selected_text=selected_text,
            selection_only=selection_only,
            page_url=page_url,
            scope=scope,
        )
        retrieved = time.perf_counter()
        yield StreamEvent(sources=[source_ref(i, n) for i, n in enumerate(nodes, start=1)])
        if not nodes:
            yield StreamEvent(delta=NOT_COVERED)
            result = AnswerResult(answer=NOT_COVERED, sources=[], model=self.model_name)
        else:
            parts: list[str] = []
            extra: dict[str, Any] = {}
            messages = build_messages(standalone, passages_of(nodes), history=history)
            llm, over_budget = self._answering_llm()
            # deltas are shown only once checked (prompt leak, planted codes, markup)
            shield = AnswerGuard.for_messages(messages, hosts=self.link_hosts).stream()
            gen = await llm.astream_chat(messages)
            async for chunk in gen:
                extra.update(chunk.additional_kwargs)
                if chunk.delta:
                    if not parts:
                        self.observer.llm_first_token(
                            model=str(extra.get("model", llm.metadata.model_name)),
                            seconds=time.perf_counter() - started,
                        )
                    parts.append(chunk.delta)
                    if safe := shield.feed(chunk.delta):
                        yield StreamEvent(delta=safe)
            if tail := shield.finish():
                yield StreamEvent(delta=tail)
            extra.setdefault("model", llm.metadata.model_name)
            result = self._finish(messages, "".join(parts), nodes, extra, over_budget=over_budget)
        self._complete(result, key, started=started, retrieved=retrieved)
        yield StreamEvent(result=result)

    def _finish(
        self,
        messages: Sequence[ChatMessage],
        text: str,
        nodes: list[NodeWithScore],
        extra: Mapping[str, Any],
        *,
        over_budget: bool = False,
    ) -> AnswerResult:
        """The checked answer, with the model, degraded flag, tokens and cost of the call.

        Tokens come from the API; when a model answered without reporting usage (some streams),
        they are counted locally and flagged ``estimated``. The extractive answerer costs nothing.
        """
        model = str(extra.get("model", self.model_name))
        guard = AnswerGuard.for_messages(messages, hosts=self.link_hosts)
        result = finish_answer(text, nodes, model, guard=guard)
        result.degraded = over_budget or bool(extra.get("degraded", False))
        if model == EXTRACTIVE_MODEL:
            return result
        prompt = int(extra.get("prompt_tokens", 0) or 0)
        completion = int(extra.get("completion_tokens", 0) or 0)
        if not prompt:
            prompt, completion = estimate_prompt_tokens(messages), count_tokens(text)
            result.usage["estimated"] = True
        cost = cost_usd(model, prompt, completion, self.prices)
        result.usage.update(prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost)
        self.observer.llm_usage(
            model=model, prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost
        )
        if self.budget is not None:
            self.budget.add(cost)
        return result


def _reading_store(client: QdrantClient, collection: str) -> QdrantVectorStore:
    """The store the retriever parses results with (its queries go through ``client``).

    Building a store asks the server whether the collection exists. A Qdrant server that is down
    at start-up must not stop the service (``/readyz`` reports it until it is back), so the store
    is then built over an empty in-memory client, as if the collection did not exist yet.
    """
    try:
        return build_vector_store(client, collection)
    except ResponseHandlingException as exc:
        logger.warning("Qdrant unreachable at start-up: %s", type(exc).__name__)
        return build_vector_store(QdrantClient(location=":memory:"), collection)


def _outcome(result: AnswerResult) -> AnswerOutcome:
    if result.cached:
        return "cached"
    if result.degraded:
        return "degraded"
    return "answered" if result.sources else "refused"


def build_qa(
    settings: Settings,
    *,
    client: QdrantClient,
    embed_model: LocalEmbedding,
    observer: PipelineObserver | None = None,
) -> TextbookQA:
    """Assemble the pipeline over an open Qdrant client and a loaded embedding model.

    ``observer`` (the service's metrics) hears of model attempts, cache look-ups and answers.
    """
    lock = threading.Lock()
    retriever = QdrantRetriever(
        client=client,
        vector_store=_reading_store(client, settings.collection),
        embed_model=embed_model,
        top_k=settings.candidate_k,
        mode=settings.retrieval_mode,
        max_per_page=settings.max_chunks_per_page or None,
        lock=lock,
    )
    extractive = build_extractive_llm(settings, embed_model=embed_model)
    return TextbookQA(
        retriever=retriever,
        llm=build_llm(settings, last_resort=extractive, observer=observer),
        client=client,
        collection=settings.collection,
        top_k=settings.top_k,
        min_relevance=settings.min_relevance,
        lock=lock,
        fallback_llm=extractive,
        cache=AnswerCache(max_entries=settings.cache_max_entries, ttl_s=settings.cache_ttl_s)
        if settings.cache_max_entries
        else None,
        budget=DailyBudget(settings.daily_budget_usd) if settings.daily_budget_usd else None,
        prices=settings.llm_prices,
        history_max_turns=settings.history_max_turns,
        history_max_tokens=settings.history_max_tokens,
        observer=observer,
        link_hosts=settings.book_hosts,
    )


__all__ = [
    "AnswerResult",
    "BookScope",
    "IndexNotReadyError",
    "SourceRef",
    "StreamEvent",
    "TextbookQA",
    "UnknownScopeError",
    "build_llm",
    "build_qa",
]
