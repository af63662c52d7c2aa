"""The question-answering pipeline, assembled from LlamaIndex parts by ``build_*`` factories.

retrieve (dense + keyword, fused) -> similarity cut-off -> SelectedTextPostprocessor (per
request) -> top k -> numbered passages -> LLM (the extractive answerer by default) -> citation
check -> sources.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

from llama_index.core.llms.llm import LLM
from llama_index.core.postprocessor import SimilarityPostprocessor
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.llms.openai_like import OpenAILike
from qdrant_client import QdrantClient

from rag.breaker import CircuitBreaker
from rag.embeddings import LocalEmbedding
from rag.fallback import FallbackLLM, ModelRoute, RetryPolicy
from rag.llms import ExtractiveLLM
from rag.postprocessors import SelectedTextPostprocessor, TopKPostprocessor
from rag.prompts import (
    NOT_COVERED,
    Passage,
    build_messages,
    cited_indexes,
    is_not_covered,
    repair_citations,
)
from rag.retrievers import QdrantRetriever
from rag.settings import Settings
from rag.vector_store import active_collection, build_vector_store

SNIPPET_CHARS = 300
_QUERY_SELECTION_CHARS = 1000


class IndexNotReadyError(RuntimeError):
    """No index has been published yet for the configured collection."""


@dataclass(frozen=True)
class SourceRef:
    """A passage given to the answerer, as the HTTP contract lists it."""

    index: int
    title: str
    url: str
    section: str
    snippet: str
    score: float
    source_path: str | None


@dataclass
class AnswerResult:
    """An answer with its sources and timings."""

    answer: str
    sources: list[SourceRef]
    model: str
    degraded: bool = False
    retrieval_ms: float = 0.0
    generation_ms: float = 0.0
    usage: dict[str, Any] = field(
        default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
    )

    def sources_json(self) -> list[dict[str, Any]]:
        """Sources as plain dicts."""
        return [asdict(source) for source in self.sources]


@dataclass(frozen=True)
class StreamEvent:
    """One step of a streamed answer: the sources, a text delta, or the final result."""

    sources: list[SourceRef] | None = None
    delta: str | None = None
    result: AnswerResult | None = None


def _source(index: int, item: NodeWithScore) -> SourceRef:
    meta = item.node.metadata
    text = " ".join(item.node.get_content().split())
    return SourceRef(
        index=index,
        title=str(meta.get("title", "")),
        url=str(meta.get("url", "")),
        section=str(meta.get("section", "")),
        snippet=text[:SNIPPET_CHARS] + ("…" if len(text) > SNIPPET_CHARS else ""),
        score=round(float(item.score or 0.0), 4),
        source_path=meta.get("source_path"),
    )


class TextbookQA:
    """Answers questions from the indexed book; one instance is shared by all requests."""

    def __init__(
        self,
        *,
        retriever: QdrantRetriever,
        llm: LLM,
        client: QdrantClient,
        collection: str,
        top_k: int,
        min_relevance: float,
    ) -> None:
        self.retriever = retriever
        self.llm = llm
        self.client = client
        self.collection = collection
        self.top_k = top_k
        self.min_relevance = min_relevance

    @property
    def model_name(self) -> str:
        """Name of the model that writes the answers."""
        return self.llm.metadata.model_name

    def is_ready(self) -> bool:
        """True once an index version is published for the collection."""
        return active_collection(self.client, self.collection) is not None

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
    ) -> list[NodeWithScore]:
        """The passages an answer is built from, best first (the selection pinned first)."""
        if selected_text and selection_only:
            pin = SelectedTextPostprocessor(selected_text=selected_text, page_url=page_url)
            return [pin.selection_node()]
        if not self.is_ready():
            raise IndexNotReadyError(f"no index published for collection {self.collection!r}")
        embed_strs = [question]
        if selected_text:
            embed_strs = [f"{question}\n{selected_text[:_QUERY_SELECTION_CHARS]}"]
        bundle = QueryBundle(query_str=question, custom_embedding_strs=embed_strs)
        nodes = await self.retriever.aretrieve(bundle)
        for step in self._postprocessors(selected_text, page_url):
            nodes = await step.apostprocess_nodes(nodes, query_bundle=bundle)
        return nodes

    async def answer(
        self,
        question: str,
        *,
        selected_text: str | None = None,
        selection_only: bool = False,
        page_url: str | None = None,
    ) -> AnswerResult:
        """Retrieve, then answer with citations checked against the sources given."""
        started = time.perf_counter()
        nodes = await self.retrieve(
            question, selected_text=selected_text, selection_only=selection_only, page_url=page_url
        )
        retrieved = time.perf_counter()
        result = await self._generate(question, nodes)
        result.retrieval_ms = (retrieved - started) * 1000
        result.generation_ms = (time.perf_counter() - retrieved) * 1000
        return result

    async def stream_answer(
        self,
        question: str,
        *,
        selected_text: str | None = None,
        selection_only: bool = False,
        page_url: str | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Retrieve, then stream: the passages, the answer's deltas, and the checked result.

        The deltas are the model's raw text; the final ``AnswerResult`` has its citations checked
        (a refusal carries no sources), so a client shows the deltas and then the final answer.
        """
        started = time.perf_counter()
        nodes = await self.retrieve(
            question, selected_text=selected_text, selection_only=selection_only, page_url=page_url
        )
        retrieved = time.perf_counter()
        yield StreamEvent(sources=[_source(i, n) for i, n in enumerate(nodes, start=1)])
        if not nodes:
            yield StreamEvent(delta=NOT_COVERED)
            result = AnswerResult(answer=NOT_COVERED, sources=[], model=self.model_name)
        else:
            parts: list[str] = []
            extra: dict[str, Any] = {}
            gen = await self.llm.astream_chat(build_messages(question, _passages(nodes)))
            async for chunk in gen:
                extra.update(chunk.additional_kwargs)
                if chunk.delta:
                    parts.append(chunk.delta)
                    yield StreamEvent(delta=chunk.delta)
            result = self._finish("".join(parts), nodes, extra)
        result.retrieval_ms = (retrieved - started) * 1000
        result.generation_ms = (time.perf_counter() - retrieved) * 1000
        yield StreamEvent(result=result)

    async def _generate(self, question: str, nodes: list[NodeWithScore]) -> AnswerResult:
        if not nodes:
            return AnswerResult(answer=NOT_COVERED, sources=[], model=self.model_name)
        response = await self.llm.achat(build_messages(question, _passages(nodes)))
        return self._finish(response.message.content or "", nodes, response.additional_kwargs)

    def _finish(self, text: str, nodes: list[NodeWithScore], extra: dict[str, Any]) -> AnswerResult:
        """The checked answer, with the model, degraded flag and token usage the LLM reported."""
        result = finish_answer(text, nodes, str(extra.get("model", self.model_name)))
        result.degraded = bool(extra.get("degraded", False))
        result.usage["prompt_tokens"] = int(extra.get("prompt_tokens", 0) or 0)
        result.usage["completion_tokens"] = int(extra.get("completion_tokens", 0) or 0)
        return result


def _passages(nodes: list[NodeWithScore]) -> list[Passage]:
    return [
        Passage(
            index=i,
            title=str(n.node.metadata.get("title", "")),
            section=str(n.node.metadata.get("section", "")),
            text=n.node.get_content(),
        )
        for i, n in enumerate(nodes, start=1)
    ]


def finish_answer(text: str, nodes: list[NodeWithScore], model: str) -> AnswerResult:
    """Check citations against the passages given; a refusal carries no sources."""
    if is_not_covered(text) or not text.strip():
        return AnswerResult(answer=NOT_COVERED, sources=[], model=model)
    answer = repair_citations(text, set(range(1, len(nodes) + 1)))
    sources = [_source(i, n) for i, n in enumerate(nodes, start=1)]
    if not cited_indexes(answer):  # an answer must rest on at least one cited source
        return AnswerResult(answer=NOT_COVERED, sources=[], model=model)
    return AnswerResult(answer=answer, sources=sources, model=model)


def build_llm(settings: Settings) -> LLM:
    """The answering model: the extractive answerer, or configured models falling back to it."""
    extractive = ExtractiveLLM(
        max_units=settings.answer_sentences, min_coverage=settings.min_coverage
    )
    if not settings.llm_model:
        return extractive
    api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "unused"
    routes = []
    for position, name in enumerate([settings.llm_model, *settings.llm_fallback_models]):
        base_url = settings.llm_base_url
        if position > 0 and settings.llm_fallback_base_url:
            base_url = settings.llm_fallback_base_url
        llm = OpenAILike(
            model=name,
            api_base=base_url,
            api_key=api_key,
            is_chat_model=True,
            context_window=settings.llm_context_window,
            max_tokens=settings.llm_max_output_tokens,
            temperature=settings.llm_temperature,
            timeout=settings.llm_timeout_s,
            max_retries=0,  # FallbackLLM retries, with its own budget
            additional_kwargs={"stream_options": {"include_usage": True}},
        )
        breaker = CircuitBreaker(
            failure_threshold=settings.llm_breaker_failures,
            cooldown_s=settings.llm_breaker_cooldown_s,
        )
        routes.append(
            ModelRoute(
                name=name, llm=llm, breaker=breaker, max_in_flight=settings.llm_max_in_flight
            )
        )
    policy = RetryPolicy(
        max_attempts=settings.llm_max_attempts,
        attempt_timeout_s=settings.llm_timeout_s,
        total_budget_s=settings.llm_total_budget_s,
        backoff_base_s=settings.llm_backoff_base_s,
        backoff_max_s=settings.llm_backoff_max_s,
        max_in_flight=settings.llm_max_in_flight,
        queue_wait_s=settings.llm_queue_wait_s,
    )
    return FallbackLLM(routes, extractive, policy=policy)


def build_qa(
    settings: Settings, *, client: QdrantClient, embed_model: LocalEmbedding
) -> TextbookQA:
    """Assemble the pipeline over an open Qdrant client and a loaded embedding model."""
    retriever = QdrantRetriever(
        client=client,
        vector_store=build_vector_store(client, settings.collection),
        embed_model=embed_model,
        top_k=settings.candidate_k,
        mode=settings.retrieval_mode,
        lock=threading.Lock(),
    )
    return TextbookQA(
        retriever=retriever,
        llm=build_llm(settings),
        client=client,
        collection=settings.collection,
        top_k=settings.top_k,
        min_relevance=settings.min_relevance,
    )
