"""A different retriever: LlamaIndex's own ``VectorIndexRetriever`` over the same Qdrant index.

Any ``BaseRetriever`` that returns the indexed chunks (their metadata carries ``url``, ``title``,
``section``, ``source_path``) can replace the default hybrid ``QdrantRetriever``. This one is the
stock dense retriever of a ``VectorStoreIndex``: no keyword fusion. Qdrant's local mode has only
a synchronous client (one per data folder), so the async path runs the sync search in a worker
thread, under the index lock that every user of that client takes.
"""

from __future__ import annotations

import asyncio

from llama_index.core import VectorStoreIndex
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle
from qdrant_client import QdrantClient
from typing_extensions import override

from rag.retrieval.book_index import BookIndex
from rag.retrieval.embeddings import LocalEmbedding
from rag.retrieval.vector_store import build_vector_store


class ThreadedRetriever(BaseRetriever):
    """Run a synchronous retriever off the event loop, one call at a time."""

    def __init__(self, inner: BaseRetriever, index: BookIndex) -> None:
        super().__init__()
        self._inner = inner
        self._index = index

    @override
    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        with self._index.lock():
            return self._inner.retrieve(query_bundle)

    @override
    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._retrieve, query_bundle)


def build_stock_retriever(
    client: QdrantClient,
    collection: str,
    *,
    embed_model: LocalEmbedding,
    top_k: int,
    index: BookIndex,
) -> BaseRetriever:
    """Dense top-k search through LlamaIndex's ``VectorStoreIndex`` (embed model passed in)."""
    store = build_vector_store(client, collection)
    vector_index = VectorStoreIndex.from_vector_store(store, embed_model=embed_model)
    return ThreadedRetriever(vector_index.as_retriever(similarity_top_k=top_k), index)
