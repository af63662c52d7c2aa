"""Retrievers over the Qdrant index."""

from __future__ import annotations

import asyncio
import threading

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import VectorStoreQuery
from llama_index.vector_stores.qdrant import QdrantVectorStore
from typing_extensions import override

from rag.embeddings import LocalEmbedding


class DenseRetriever(BaseRetriever):
    """Nearest chunks by cosine similarity of MiniLM embeddings.

    The sync Qdrant client serves both paths: in local mode a data folder admits one client per
    process, so async retrieval runs the sync call in a worker thread, serialised by ``lock``.
    """

    def __init__(
        self,
        *,
        vector_store: QdrantVectorStore,
        embed_model: LocalEmbedding,
        top_k: int,
        lock: threading.Lock | None = None,
    ) -> None:
        super().__init__()
        self._store = vector_store
        self._embed_model = embed_model
        self._top_k = top_k
        self._lock = lock or threading.Lock()

    @override
    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        strings = query_bundle.embedding_strs or [query_bundle.query_str]
        embedding = query_bundle.embedding or self._embed_model.get_agg_embedding_from_queries(
            strings
        )
        query = VectorStoreQuery(query_embedding=embedding, similarity_top_k=self._top_k)
        with self._lock:
            result = self._store.query(query)
        nodes = result.nodes or []
        scores = result.similarities or [0.0] * len(nodes)
        return [
            NodeWithScore(node=node, score=score) for node, score in zip(nodes, scores, strict=True)
        ]

    @override
    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._retrieve, query_bundle)
