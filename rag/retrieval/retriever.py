"""Retrieval over the Qdrant index: dense (MiniLM cosine), optionally fused with keywords."""

from __future__ import annotations

import asyncio
import copy
from typing import Literal, cast

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import QdrantClient, models
from typing_extensions import override

from rag.retrieval.book_index import BookIndex
from rag.retrieval.embeddings import LocalEmbedding
from rag.retrieval.sparse import encode_query
from rag.retrieval.vector_cache import VectorCache
from rag.retrieval.vector_store import DENSE_VECTOR, SPARSE_VECTOR

RetrievalMode = Literal["dense", "hybrid"]
KEYWORD_WEIGHT = 0.15
SEARCH_DEPTH = 50
MAX_CHUNKS_PER_PAGE = 2


class QdrantRetriever(BaseRetriever):
    """Nearest chunks by MiniLM cosine, fused by score with BM25 keyword matches.

    In ``hybrid`` mode the dense and keyword searches each return ``depth`` chunks (at least
    ``top_k``). Every chunk of either list is ranked by its cosine similarity to the query plus
    ``keyword_weight`` times its BM25 score relative to the best keyword match (0 when the keyword
    search did not find it), and the first ``top_k`` are kept.

    Unlike reciprocal rank fusion, this keeps how far apart the candidates are: a chunk a little
    below the dense top hit but with the best keyword match moves up, while a keyword hit that
    means something else (low cosine) stays down. Each node's ``score`` is its cosine similarity
    to the query (computed from its vector for keyword-only hits), so a relevance cut-off means
    the same thing in both modes. Only the keyword search returns vectors; the dense search's
    scores are the cosines already.

    Diversity: at most ``max_per_page`` chunks of one page keep their place; the page's further
    chunks move behind every other candidate (in their order). A question whose answer spans
    pages ("multi-hop") then gets its second page into the top k, and a question whose best
    page was missed gets more pages to be right with.

    The keyword query is built from the same strings as the embedding (``embedding_strs``): for
    a question about a selected passage they carry the selection, whose exact words find the
    chunk it was copied from.

    ``query_filter`` (a reader's doc version and locale) restricts both searches;
    ``scoped`` makes a per-request copy with one, sharing everything else.

    The sync Qdrant client serves both paths: async retrieval runs in one worker thread (the query
    embedding and both searches); the index's lock serialises the client calls in local mode only.
    """

    def __init__(
        self,
        *,
        vector_store: QdrantVectorStore,
        embed_model: LocalEmbedding,
        top_k: int,
        mode: RetrievalMode = "hybrid",
        keyword_weight: float = KEYWORD_WEIGHT,
        depth: int = SEARCH_DEPTH,
        max_per_page: int | None = MAX_CHUNKS_PER_PAGE,
        query_filter: models.Filter | None = None,
        vectors: VectorCache | None = None,
        index: BookIndex | None = None,
        client: QdrantClient | None = None,
    ) -> None:
        super().__init__()
        if index is None:  # a bare client: serialised, as local mode needs
            if client is None:
                raise ValueError("QdrantRetriever needs an index or a client")
            index = BookIndex(client, vector_store.collection_name, local=True)
        self._index = index
        self._store = vector_store
        self._embed_model = embed_model
        self._vectors = vectors or VectorCache(embed_model)
        self._top_k = top_k
        self._mode = mode
        self._keyword_weight = keyword_weight
        self._depth = max(depth, top_k)
        self._max_per_page = max_per_page
        self._filter = query_filter

    def scoped(self, query_filter: models.Filter | None) -> QdrantRetriever:
        """The same retriever searching only the points ``query_filter`` matches.

        A shallow copy: the index, store, model, vector cache and every setting are shared.
        """
        view = copy.copy(self)
        view._filter = query_filter
        return view

    def _search(
        self,
        query: list[float] | models.SparseVector,
        using: str,
        limit: int,
        *,
        with_vectors: bool = False,
    ) -> list[models.ScoredPoint]:
        return self._index.call(
            self._index.client.query_points,
            self._store.collection_name,
            query=query,
            using=using,
            query_filter=self._filter,
            limit=limit,
            with_payload=True,
            with_vectors=[DENSE_VECTOR] if with_vectors else False,
        ).points

    def embed(self, strings: list[str]) -> list[float]:
        """The query vector of ``strings`` (their mean when several; one string is cached)."""
        if len(strings) == 1:
            return self._vectors.query(strings[0])
        return self._embed_model.get_agg_embedding_from_queries(strings)

    @override
    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        strings = list(query_bundle.embedding_strs or [query_bundle.query_str])
        embedding = query_bundle.embedding or self.embed(strings)
        if self._mode == "dense":
            dense = self._search(embedding, DENSE_VECTOR, self._depth)
            cosine = {str(p.id): p.score for p in dense}
            return self._to_nodes(self._diverse(dense[: self._top_k]), cosine)
        dense = self._search(embedding, DENSE_VECTOR, self._depth)
        indices, values = encode_query(" ".join(strings))
        keyword = self._search(
            models.SparseVector(indices=indices, values=values),
            SPARSE_VECTOR,
            self._depth,
            with_vectors=True,
        )
        best = max((point.score for point in keyword), default=0.0) or 1.0
        bonus = {str(p.id): self._keyword_weight * p.score / best for p in keyword}
        points = {str(p.id): p for p in [*keyword, *dense]}  # a dense hit's score is its cosine
        cosine = {str(p.id): p.score for p in dense}
        for key, point in points.items():
            if key not in cosine:
                cosine[key] = _cosine(point, embedding)
        order = sorted(points, key=lambda key: cosine[key] + bonus.get(key, 0.0), reverse=True)
        # diversity reorders the best candidates; it never swaps one out for a weaker one
        ranked = self._diverse([points[key] for key in order][: self._top_k])
        return self._to_nodes(ranked, cosine)

    def _diverse(self, points: list[models.ScoredPoint]) -> list[models.ScoredPoint]:
        """``points`` with each page's chunks past ``max_per_page`` moved behind the others."""
        if not self._max_per_page:
            return points
        kept: list[models.ScoredPoint] = []
        deferred: list[models.ScoredPoint] = []
        seen: dict[str, int] = {}
        for point in points:
            page = str((point.payload or {}).get("source_path", point.id))
            seen[page] = seen.get(page, 0) + 1
            (kept if seen[page] <= self._max_per_page else deferred).append(point)
        return kept + deferred

    def _to_nodes(
        self, points: list[models.ScoredPoint], cosine: dict[str, float]
    ) -> list[NodeWithScore]:
        result = self._store.parse_to_query_result(points)
        nodes = []
        for point, node in zip(points, result.nodes or [], strict=True):
            node.embedding = None  # not needed past this point, and large
            nodes.append(NodeWithScore(node=node, score=cosine[str(point.id)]))
        return nodes

    @override
    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._retrieve, query_bundle)


def _cosine(point: models.ScoredPoint, embedding: list[float]) -> float:
    """Cosine of a point's (normalised) dense vector with the (normalised) query embedding."""
    vectors = point.vector if isinstance(point.vector, dict) else {}
    vector = vectors.get(DENSE_VECTOR)
    if not isinstance(vector, list):
        return 0.0
    dense = cast("list[float]", vector)  # the dense vector is one list of floats, not a multivector
    return sum(a * b for a, b in zip(dense, embedding, strict=False))
