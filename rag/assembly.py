"""The pipeline assembled from settings: ``build_qa`` wires the default parts into a ``TextbookQA``.

The retriever reads the served collection through a ``BookIndex``; the answering model is the
configured LLM with the extractive answerer as its last resort (and as the fallback once the
daily budget is spent); the answer cache and the budget are built when the settings enable them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import ResponseHandlingException

from rag.answer.cache import AnswerCache
from rag.llm.budget import DailyBudget
from rag.llm.models import build_extractive_llm, build_llm
from rag.observer import PipelineObserver
from rag.retrieval.book_index import BookIndex
from rag.retrieval.embeddings import LocalEmbedding
from rag.retrieval.retriever import QdrantRetriever
from rag.retrieval.vector_cache import VectorCache
from rag.retrieval.vector_store import build_vector_store
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.engine import TextbookQA

# the pipeline's start-up warnings keep the logger name they have always been filed under
logger = logging.getLogger("rag.engine")


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
    from rag.engine import TextbookQA  # rag.engine re-exports build_qa, so it is read at call time

    index = BookIndex(client, settings.collection, local=not settings.qdrant_url)
    vectors = VectorCache(embed_model)  # query vectors from retrieval, reused by the answerer
    retriever = QdrantRetriever(
        index=index,
        vector_store=_reading_store(client, settings.collection),
        embed_model=embed_model,
        top_k=settings.candidate_k,
        mode=settings.retrieval_mode,
        max_per_page=settings.max_chunks_per_page or None,
        vectors=vectors,
    )
    extractive = build_extractive_llm(settings, embed_model=embed_model, vectors=vectors)
    return TextbookQA(
        retriever=retriever,
        llm=build_llm(settings, last_resort=extractive, observer=observer),
        index=index,
        top_k=settings.top_k,
        min_relevance=settings.min_relevance,
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
