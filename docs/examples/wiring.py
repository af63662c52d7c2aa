"""Assemble the question-answering pipeline with parts of your own.

``rag.engine.build_qa`` wires the default parts from settings. ``TextbookQA`` takes each part as
an argument, so an extension builds it with its own retriever, model or ``TextbookQA`` subclass;
this helper fills in the defaults for the parts it is not given.
"""

from __future__ import annotations

from llama_index.core.llms.llm import LLM
from llama_index.core.retrievers import BaseRetriever
from qdrant_client import QdrantClient

from rag.engine import TextbookQA
from rag.llm.models import build_extractive_llm
from rag.retrieval.book_index import BookIndex
from rag.retrieval.embeddings import LocalEmbedding
from rag.retrieval.retriever import QdrantRetriever
from rag.retrieval.vector_store import build_vector_store
from rag.settings import Settings


def assemble(
    settings: Settings,
    *,
    client: QdrantClient,
    embed_model: LocalEmbedding,
    retriever: BaseRetriever | None = None,
    llm: LLM | None = None,
    qa_class: type[TextbookQA] = TextbookQA,
    index: BookIndex | None = None,
) -> TextbookQA:
    """A ``TextbookQA`` over an open client: the given parts, the defaults for the others.

    ``index`` owns the client and serialises the calls through it (local Qdrant admits one at a
    time); a retriever of your own that uses the client must call it under ``index.lock()``.
    """
    index = index or BookIndex(client, settings.collection, local=True)
    if retriever is None:
        retriever = QdrantRetriever(
            index=index,
            vector_store=build_vector_store(client, settings.collection),
            embed_model=embed_model,
            top_k=settings.candidate_k,
            mode=settings.retrieval_mode,
        )
    extractive = build_extractive_llm(settings, embed_model=embed_model)
    return qa_class(
        retriever=retriever,  # type: ignore[arg-type]  # any BaseRetriever: only aretrieve is used
        llm=llm or extractive,
        fallback_llm=extractive,
        index=index,
        top_k=settings.top_k,
        min_relevance=settings.min_relevance,
    )
