"""The question-answering pipeline: ``TextbookQA`` runs the steps of one answer in order.

retrieve (dense + keyword, fused) -> similarity cut-off -> SelectedTextPostprocessor (per
request) -> top k -> numbered passages -> LLM (the extractive answerer by default) -> citation
check -> sources.

One async generator, ``TextbookQA.events``, runs that sequence for an ``AnswerRequest``
(``rag.answer.request``) and yields typed ``StreamEvent``s (the sources, the answer's checked
deltas, the final result): the stream route relays them, the JSON route and ``answer`` keep the
result (``collect``). Each step hands the next its data (the nodes, the ``Prompt`` with its
passages, the sources built once), so nothing is read back out of a prompt.

The steps live by concept: the retrieval (``rag.retrieval.book_search``, whose
``BookRetrieval`` ``TextbookQA`` extends), the condensing of follow-ups (``rag.answer.condense``),
the model call with the budget's fallback and the priced result (``rag.answer.generate``), the
cache replay and the report of a served answer (``rag.answer.served``). ``build_qa``
(``rag.assembly``) wires the default parts from settings. Their public names are re-exported here.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence

from llama_index.core.llms.llm import LLM

from rag.answer.cache import AnswerCache, cache_key
from rag.answer.condense import Turn, condense, condense_with_llm, is_follow_up
from rag.answer.generate import Generation, answering_llm
from rag.answer.prompts import NOT_COVERED, build_prompt
from rag.answer.request import AnswerRequest, recent_turns
from rag.answer.result import (
    AnswerResult,
    SourceRef,
    StreamEvent,
    collect,
    passages_of,
    source_ref,
)
from rag.answer.served import cached_answer, complete, served_from_cache
from rag.assembly import build_qa
from rag.llm.budget import DailyBudget
from rag.llm.models import EXTRACTIVE_MODEL, build_llm
from rag.observer import NullObserver, PipelineObserver
from rag.retrieval.book_index import BookIndex
from rag.retrieval.book_search import BookRetrieval, IndexNotReadyError
from rag.retrieval.retriever import QdrantRetriever
from rag.retrieval.scopes import BookScope, UnknownScopeError
from rag.safety.answer_guard import AnswerGuard
from rag.safety.markdown import normalise_hosts


class TextbookQA(BookRetrieval):
    """Answers questions from the indexed book; one instance is shared by all requests.

    Args:
        retriever: the retriever (it searches through ``index``).
        llm: the answering model (the extractive answerer, or a FallbackLLM).
        index: the Qdrant client and the served collection.
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
        index: BookIndex,
        top_k: int,
        min_relevance: float,
        fallback_llm: LLM | None = None,
        cache: AnswerCache | None = None,
        budget: DailyBudget | None = None,
        prices: Mapping[str, Sequence[float]] | None = None,
        history_max_turns: int = 4,
        history_max_tokens: int = 1500,
        observer: PipelineObserver | None = None,
        link_hosts: Sequence[str] = (),
    ) -> None:
        super().__init__(retriever=retriever, index=index, top_k=top_k, min_relevance=min_relevance)
        self.llm = llm
        self.fallback_llm = fallback_llm or llm
        self.cache = cache
        self.budget = budget
        self.prices = prices or {}
        self.history_max_turns = history_max_turns
        self.history_max_tokens = history_max_tokens
        self.observer: PipelineObserver = observer or NullObserver()
        self.link_hosts = normalise_hosts(link_hosts)

    @property
    def model_name(self) -> str:
        """Name of the model that writes the answers."""
        return self.llm.metadata.model_name

    async def _cache_key(
        self,
        question: str,
        selected_text: str | None,
        selection_only: bool,
        scope: BookScope | None = None,
    ) -> str | None:
        if self.cache is None:
            return None
        version = await self.served_collection()
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

    def _answering_llm(self) -> tuple[LLM, bool]:
        """The model for the next answer, and whether it is the fallback because of the budget."""
        return answering_llm(self.llm, self.fallback_llm, self.budget)

    async def standalone_question(self, question: str, history: Sequence[Turn]) -> str:
        """The question as retrieval should see it: follow-ups rewritten with their context.

        A question that stands alone (no pronoun or opener that leans on the conversation, and
        topic words of its own) is kept as it is: rewriting it with the model would cost a model
        call and could only blur it with the earlier topic.
        """
        if not history or not is_follow_up(question):
            return question
        llm, _ = self._answering_llm()
        if llm.metadata.model_name == EXTRACTIVE_MODEL:
            return condense(question, history)
        return await condense_with_llm(llm, question, history)

    async def events(self, request: AnswerRequest) -> AsyncIterator[StreamEvent]:
        """Answer ``request``: the sources, the answer's deltas (when streamed), the result.

        The deltas are the model's text once ``rag.safety.answer_guard`` has checked it (words that
        could start a system-prompt leak, and markup, are held until known to be safe; nothing more
        after a leak); the final ``AnswerResult`` also has its citations checked (a refusal carries
        no sources), so a client shows the deltas and then the final answer.
        A cached answer is replayed as one delta.
        """
        started = time.perf_counter()
        history = recent_turns(
            request.history,
            max_turns=self.history_max_turns,
            max_tokens=self.history_max_tokens,
        )
        standalone = await self.standalone_question(request.question, history)
        key = await self._cache_key(
            standalone, request.selected_text, request.selection_only, request.scope
        )
        if (hit := cached_answer(self.cache, key, self.observer)) is not None:
            served_from_cache(self.observer, started=started)
            yield StreamEvent(sources=hit.sources)
            yield StreamEvent(delta=hit.answer)
            yield StreamEvent(result=hit)
            return
        nodes = await self.retrieve(
            standalone,
            selected_text=request.selected_text,
            selection_only=request.selection_only,
            page_url=request.page_url,
            scope=request.scope,
        )
        retrieved = time.perf_counter()
        sources = [source_ref(i, n) for i, n in enumerate(nodes, start=1)]
        yield StreamEvent(sources=sources)
        if not nodes:
            if request.stream:
                yield StreamEvent(delta=NOT_COVERED)
            result = AnswerResult(answer=NOT_COVERED, sources=[], model=self.model_name)
        else:
            prompt = build_prompt(standalone, passages_of(nodes), history=history)
            llm, over_budget = self._answering_llm()
            guard = AnswerGuard.for_prompt(prompt, hosts=self.link_hosts)
            generation = Generation(llm, prompt, guard, observer=self.observer, started=started)
            async for delta in generation.deltas(stream=request.stream):
                yield StreamEvent(delta=delta)
            result = generation.result(
                nodes, sources, over_budget=over_budget, prices=self.prices, budget=self.budget
            )
        complete(
            result,
            key,
            cache=self.cache,
            observer=self.observer,
            started=started,
            retrieved=retrieved,
        )
        yield StreamEvent(result=result)

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
        request = AnswerRequest(
            question,
            history=history,
            selected_text=selected_text,
            selection_only=selection_only,
            page_url=page_url,
            scope=scope,
        )
        return await collect(self.events(request))

    def stream_answer(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        selected_text: str | None = None,
        selection_only: bool = False,
        page_url: str | None = None,
        scope: BookScope | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """``events`` of a streamed request: the passages, the answer's deltas, the result."""
        request = AnswerRequest(
            question,
            history=history,
            selected_text=selected_text,
            selection_only=selection_only,
            page_url=page_url,
            scope=scope,
            stream=True,
        )
        return self.events(request)


__all__ = [
    "AnswerRequest",
    "AnswerResult",
    "BookScope",
    "IndexNotReadyError",
    "SourceRef",
    "StreamEvent",
    "TextbookQA",
    "UnknownScopeError",
    "build_llm",
    "build_qa",
    "collect",
]
