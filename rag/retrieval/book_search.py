"""The retrieval step of an answer: the served index, the reader's scope, the passages found.

retrieve (dense + keyword, fused) -> similarity cut-off -> SelectedTextPostprocessor (per
request) -> top k. ``TextbookQA`` (``rag.engine``) is a ``BookRetrieval``: a subclass changes
the steps after the search by overriding ``_postprocessors``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from llama_index.core.postprocessor import SimilarityPostprocessor
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle
from qdrant_client import QdrantClient

from rag.retrieval.book_index import BookIndex
from rag.retrieval.postprocessors import SelectedTextPostprocessor, TopKPostprocessor
from rag.retrieval.retriever import QdrantRetriever
from rag.retrieval.scopes import BookScope, resolve_scope
from rag.retrieval.vector_store import SCOPES_KEY, collection_metadata

_QUERY_SELECTION_CHARS = 1000


class IndexNotReadyError(RuntimeError):
    """No index has been published yet for the configured collection."""


class BookRetrieval:
    """Finds the passages of the served index version for a question, in the reader's scope.

    Args:
        retriever: the retriever (it searches through ``index``).
        index: the Qdrant client and the served collection.
        top_k: passages kept for the answer.
        min_relevance: the similarity below which a passage is dropped.
    """

    def __init__(
        self, *, retriever: QdrantRetriever, index: BookIndex, top_k: int, min_relevance: float
    ) -> None:
        self.retriever = retriever
        self.index = index
        self.top_k = top_k
        self.min_relevance = min_relevance
        self._scopes: dict[str, Mapping[str, Any]] = {}

    @property
    def client(self) -> QdrantClient:
        """The Qdrant client (calls through it go under ``index.lock()``)."""
        return self.index.client

    @property
    def collection(self) -> str:
        """The alias readers are served from."""
        return self.index.alias

    def published_collection(self) -> str | None:
        """The collection the alias points at, read now (None before any publish)."""
        return self.index.refresh()

    def is_ready(self) -> bool:
        """True once an index version is published for the collection (read now)."""
        return self.published_collection() is not None

    def resolve_scope(self, version: str | None, locale: str | None) -> BookScope:
        """The doc version and locale to answer from: checked, defaults filled in (blocking).

        Before the first ingest any values are accepted (retrieval then reports the missing
        index; a selection-only answer needs none).

        Raises:
            UnknownScopeError: The index does not hold that version or locale.
        """
        live = self.index.served()
        if live is None:
            return BookScope(version=version or "current", locale=locale or "en")
        described = self._scopes.get(live)
        if described is None:
            metadata = self.index.call(collection_metadata, self.client, live)
            described = metadata.get(SCOPES_KEY) or {}
            self._scopes = {live: described}  # index versions are immutable once published
        return resolve_scope(described, version, locale)

    async def served_collection(self) -> str | None:
        """The served collection from the index's cache, read in a thread when it is stale."""
        if self.index.fresh():
            return self.index.served()
        return await asyncio.to_thread(self.index.served)

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
        if await self.served_collection() is None:
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
