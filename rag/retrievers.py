"""Retrieval over the Qdrant index: dense (MiniLM cosine), optionally fused with keywords."""

from __future__ import annotations

import asyncio
import threading
from typing import Literal

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import QdrantClient, models
from typing_extensions import override

from rag.embeddings import LocalEmbedding
from rag.sparse import encode_query
from rag.vector_store import DENSE_VECTOR, SPARSE_VECTOR

RetrievalMode = Literal["dense", "hybrid"]
RRF_K = 60


class QdrantRetriever(BaseRetriever):
    """Nearest chunks by MiniLM cosine, fused by reciprocal rank with BM25 keyword matches.

    In ``hybrid`` mode the dense and keyword searches each return ``top_k`` chunks; the lists are
    fused with reciprocal rank fusion (k=60) and the fused order is kept. Each node's ``score`` is
    its cosine similarity to the query (computed from its vector for keyword-only hits), so a
    relevance cut-off means the same thing in both modes.

    The sync Qdrant client serves both paths: in local mode a data folder admits one client per
    process, so async retrieval runs the sync call in a worker thread, serialised by ``lock``.
    """

    def __init__(
        self,
        *,
        client: QdrantClient,
        vector_store: QdrantVectorStore,
        embed_model: LocalEmbedding,
        top_k: int,
        mode: RetrievalMode = "hybrid",
        lock: threading.Lock | None = None,
    ) -> None:
        super().__init__()
        self._client = client
        self._store = vector_store
        self._embed_model = embed_model
        self._top_k = top_k
        self._mode = mode
        self._lock = lock or threading.Lock()

    def _search(
        self, query: list[float] | models.SparseVector, using: str
    ) -> list[models.ScoredPoint]:
        with self._lock:
            return self._client.query_points(
                self._store.collection_name,
                query=query,
                using=using,
                limit=self._top_k,
                with_payload=True,
                with_vectors=[DENSE_VECTOR],
            ).points

    @override
    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        strings = query_bundle.embedding_strs or [query_bundle.query_str]
        embedding = query_bundle.embedding or self._embed_model.get_agg_embedding_from_queries(
            strings
        )
        dense = self._search(embedding, DENSE_VECTOR)
        if self._mode == "dense":
            return self._to_nodes(dense, embedding)
        indices, values = encode_query(query_bundle.query_str)
        keyword = self._search(models.SparseVector(indices=indices, values=values), SPARSE_VECTOR)
        fused: dict[str, float] = {}
        points: dict[str, models.ScoredPoint] = {}
        for ranking in (dense, keyword):
            for rank, point in enumerate(ranking, start=1):
                key = str(point.id)
                fused[key] = fused.get(key, 0.0) + 1.0 / (RRF_K + rank)
                points.setdefault(key, point)
        order = sorted(fused, key=lambda key: fused[key], reverse=True)[: self._top_k]
        return self._to_nodes([points[key] for key in order], embedding)

    def _to_nodes(
        self, points: list[models.ScoredPoint], embedding: list[float]
    ) -> list[NodeWithScore]:
        result = self._store.parse_to_query_result(points)
        nodes = []
        for node in result.nodes or []:
            vector = node.embedding or []
            cosine = sum(a * b for a, b in zip(vector, embedding, strict=False))
            node.embedding = None  # not needed past this point, and large
            nodes.append(NodeWithScore(node=node, score=cosine))
        return nodes

    @override
    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._retrieve, query_bundle)
